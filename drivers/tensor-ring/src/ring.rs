//! The two single-producer, single-consumer rings and the four ends that use them.
//!
//! Each ring has a power-of-two number of fixed-size slots and two free-running `u32`
//! indices in the header: the producer's *tail* (next slot it fills) and the
//! consumer's *head* (next slot it takes). `tail - head` (wrapping) is the number of
//! entries waiting; the slot of index `i` is `i & (slots - 1)`.
//!
//! | ring | producer (writes tail) | consumer (writes head) |
//! |---|---|---|
//! | submission | guest: [`SubmissionProducer`] | backend: [`SubmissionConsumer`] |
//! | completion | backend: [`CompletionProducer`] | guest: [`CompletionConsumer`] |
//!
//! Ordering: a producer writes the entry, then publishes the tail (release store);
//! a consumer reads the tail (acquire load), copies the entry out, then publishes the
//! head (release store), after which the producer may reuse the slot. Each end keeps
//! its own index privately and never reads it back from shared memory, so a peer
//! overwriting it changes nothing; the peer's index is checked on every read, and one
//! claiming more than `slots` entries waiting is a [`RingError::Corrupt`], never a
//! read outside the ring.

use crate::{
    descriptor::{COMPLETION_BYTES, Completion, DESCRIPTOR_BYTES, Descriptor},
    layout::{Layout, RingGeometry, field},
    region::{Region, RegionError},
};

/// Why a ring operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The peer's index says more entries are waiting than the ring has slots.
    Corrupt {
        /// The consumer's index (head).
        head: u32,
        /// The producer's index (tail).
        tail: u32,
    },
    /// The region refused an access (the layout did not match the region).
    Region(RegionError),
}

impl From<RegionError> for RingError {
    fn from(error: RegionError) -> Self {
        Self::Region(error)
    }
}

/// Returns the entries waiting between `head` and `tail`, or [`RingError::Corrupt`].
fn waiting(head: u32, tail: u32, slots: u32) -> Result<u32, RingError> {
    let count = tail.wrapping_sub(head);
    if count > slots {
        return Err(RingError::Corrupt { head, tail });
    }
    Ok(count)
}

/// The backend's end of the submission ring.
#[derive(Clone, Copy, Debug)]
pub struct SubmissionConsumer {
    ring: RingGeometry,
    head: u32,
}

impl SubmissionConsumer {
    /// Returns the consumer of `layout`'s submission ring, at index 0.
    pub fn new(layout: &Layout) -> Self {
        Self {
            ring: layout.submission(),
            head: 0,
        }
    }

    /// Returns the next index this end will take.
    pub fn head(&self) -> u32 {
        self.head
    }

    /// Returns the number of descriptors waiting (checking the guest's tail).
    pub fn waiting<R: Region + ?Sized>(&self, region: &R) -> Result<u32, RingError> {
        let tail = region.read_u32(field::SUBMISSION_TAIL)?;
        waiting(self.head, tail, self.ring.slots())
    }

    /// Returns a copy of the next descriptor without taking it, or `None` if the ring
    /// is empty.
    pub fn peek<R: Region + ?Sized>(&self, region: &R) -> Result<Option<Descriptor>, RingError> {
        if self.waiting(region)? == 0 {
            return Ok(None);
        }
        let mut bytes = [0; DESCRIPTOR_BYTES];
        region.read_bytes(self.ring.slot_offset(self.head), &mut bytes)?;
        Ok(Some(Descriptor::from_bytes(&bytes)))
    }

    /// Takes the descriptor [`peek`](Self::peek) returned: publishes the new head, so
    /// the guest may reuse the slot.
    pub fn advance<R: Region + ?Sized>(&mut self, region: &mut R) -> Result<(), RegionError> {
        let head = self.head.wrapping_add(1);
        region.write_u32(field::SUBMISSION_HEAD, head)?;
        self.head = head;
        Ok(())
    }

    /// Resets this end to index 0 and publishes it (the ring reset).
    pub fn reset<R: Region + ?Sized>(&mut self, region: &mut R) -> Result<(), RegionError> {
        region.write_u32(field::SUBMISSION_HEAD, 0)?;
        self.head = 0;
        Ok(())
    }
}

/// The backend's end of the completion ring.
#[derive(Clone, Copy, Debug)]
pub struct CompletionProducer {
    ring: RingGeometry,
    tail: u32,
}

impl CompletionProducer {
    /// Returns the producer of `layout`'s completion ring, at index 0.
    pub fn new(layout: &Layout) -> Self {
        Self {
            ring: layout.completion(),
            tail: 0,
        }
    }

    /// Returns the next index this end will fill.
    pub fn tail(&self) -> u32 {
        self.tail
    }

    /// Returns the number of free slots (checking the guest's head).
    pub fn free<R: Region + ?Sized>(&self, region: &R) -> Result<u32, RingError> {
        let head = region.read_u32(field::COMPLETION_HEAD)?;
        Ok(self.ring.slots() - waiting(head, self.tail, self.ring.slots())?)
    }

    /// Posts `completion`; returns `false` (and posts nothing) if the ring is full.
    pub fn push<R: Region + ?Sized>(
        &mut self,
        region: &mut R,
        completion: &Completion,
    ) -> Result<bool, RingError> {
        if self.free(region)? == 0 {
            return Ok(false);
        }
        region.write_bytes(self.ring.slot_offset(self.tail), &completion.to_bytes())?;
        let tail = self.tail.wrapping_add(1);
        region.write_u32(field::COMPLETION_TAIL, tail)?;
        self.tail = tail;
        Ok(true)
    }

    /// Resets this end to index 0 and publishes it (the ring reset).
    pub fn reset<R: Region + ?Sized>(&mut self, region: &mut R) -> Result<(), RegionError> {
        region.write_u32(field::COMPLETION_TAIL, 0)?;
        self.tail = 0;
        Ok(())
    }
}

/// The guest's end of the submission ring.
#[derive(Clone, Copy, Debug)]
pub struct SubmissionProducer {
    ring: RingGeometry,
    tail: u32,
}

impl SubmissionProducer {
    /// Returns the producer of `layout`'s submission ring, at index 0.
    pub fn new(layout: &Layout) -> Self {
        Self {
            ring: layout.submission(),
            tail: 0,
        }
    }

    /// Returns the next index this end will fill.
    pub fn tail(&self) -> u32 {
        self.tail
    }

    /// Returns the number of free slots (checking the backend's head).
    pub fn free<R: Region + ?Sized>(&self, region: &R) -> Result<u32, RingError> {
        let head = region.read_u32(field::SUBMISSION_HEAD)?;
        Ok(self.ring.slots() - waiting(head, self.tail, self.ring.slots())?)
    }

    /// Submits `descriptor`; returns `false` (and submits nothing) if the ring is full.
    pub fn push<R: Region + ?Sized>(
        &mut self,
        region: &mut R,
        descriptor: &Descriptor,
    ) -> Result<bool, RingError> {
        if self.free(region)? == 0 {
            return Ok(false);
        }
        region.write_bytes(self.ring.slot_offset(self.tail), &descriptor.to_bytes())?;
        let tail = self.tail.wrapping_add(1);
        region.write_u32(field::SUBMISSION_TAIL, tail)?;
        self.tail = tail;
        Ok(true)
    }

    /// Resets this end to index 0 and publishes it (the guest's half of a reset).
    pub fn reset<R: Region + ?Sized>(&mut self, region: &mut R) -> Result<(), RegionError> {
        region.write_u32(field::SUBMISSION_TAIL, 0)?;
        self.tail = 0;
        Ok(())
    }
}

/// The guest's end of the completion ring.
#[derive(Clone, Copy, Debug)]
pub struct CompletionConsumer {
    ring: RingGeometry,
    head: u32,
}

impl CompletionConsumer {
    /// Returns the consumer of `layout`'s completion ring, at index 0.
    pub fn new(layout: &Layout) -> Self {
        Self {
            ring: layout.completion(),
            head: 0,
        }
    }

    /// Returns the next index this end will take.
    pub fn head(&self) -> u32 {
        self.head
    }

    /// Takes the next completion, or returns `None` if none is waiting.
    pub fn pop<R: Region + ?Sized>(
        &mut self,
        region: &mut R,
    ) -> Result<Option<Completion>, RingError> {
        let tail = region.read_u32(field::COMPLETION_TAIL)?;
        if waiting(self.head, tail, self.ring.slots())? == 0 {
            return Ok(None);
        }
        let mut bytes = [0; COMPLETION_BYTES];
        region.read_bytes(self.ring.slot_offset(self.head), &mut bytes)?;
        let head = self.head.wrapping_add(1);
        region.write_u32(field::COMPLETION_HEAD, head)?;
        self.head = head;
        Ok(Some(Completion::from_bytes(&bytes)))
    }

    /// Resets this end to index 0 and publishes it (the guest's half of a reset).
    pub fn reset<R: Region + ?Sized>(&mut self, region: &mut R) -> Result<(), RegionError> {
        region.write_u32(field::COMPLETION_HEAD, 0)?;
        self.head = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::Outcome;
    use std::{vec, vec::Vec};

    const SLOTS: u32 = 4;

    fn setup() -> (Layout, Vec<u8>) {
        let layout = Layout::new(1 << 16, SLOTS, SLOTS).unwrap();
        (layout, vec![0u8; 1 << 16])
    }

    #[test]
    fn entries_pass_in_order_and_indices_wrap() {
        let (layout, mut region) = setup();
        let region = &mut region[..];
        let mut guest_submit = SubmissionProducer::new(&layout);
        let mut backend_take = SubmissionConsumer::new(&layout);
        let mut backend_post = CompletionProducer::new(&layout);
        let mut guest_collect = CompletionConsumer::new(&layout);
        // Start near the u32 wrap on both rings (as if after 2^32 - 2 jobs).
        let start = u32::MAX - 1;
        for field_offset in [
            field::SUBMISSION_TAIL,
            field::SUBMISSION_HEAD,
            field::COMPLETION_TAIL,
            field::COMPLETION_HEAD,
        ] {
            region.write_u32(field_offset, start).unwrap();
        }
        guest_submit.tail = start;
        backend_take.head = start;
        backend_post.tail = start;
        guest_collect.head = start;

        for round in 0..3u64 {
            for i in 0..u64::from(SLOTS) {
                assert!(
                    guest_submit
                        .push(region, &Descriptor::nop(round * 10 + i))
                        .unwrap()
                );
            }
            assert!(
                !guest_submit.push(region, &Descriptor::nop(99)).unwrap(),
                "full"
            );
            assert_eq!(backend_take.waiting(region), Ok(SLOTS));
            for i in 0..u64::from(SLOTS) {
                let descriptor = backend_take.peek(region).unwrap().unwrap();
                assert_eq!(descriptor.sequence, round * 10 + i);
                backend_take.advance(region).unwrap();
                let completion = Completion::new(descriptor.sequence, Outcome::Ok, i);
                assert!(backend_post.push(region, &completion).unwrap());
            }
            assert_eq!(backend_take.peek(region), Ok(None));
            let late = Completion::new(0, Outcome::Ok, 0);
            assert!(!backend_post.push(region, &late).unwrap(), "full");
            for i in 0..u64::from(SLOTS) {
                let completion = guest_collect.pop(region).unwrap().unwrap();
                assert_eq!(
                    (completion.sequence, completion.backend_ns),
                    (round * 10 + i, i)
                );
            }
            assert_eq!(guest_collect.pop(region), Ok(None));
        }
        assert_eq!(guest_submit.tail(), start.wrapping_add(3 * SLOTS));
    }

    #[test]
    fn a_peer_index_beyond_the_ring_is_corrupt() {
        let (layout, mut region) = setup();
        let region = &mut region[..];
        let backend_take = SubmissionConsumer::new(&layout);
        region.write_u32(field::SUBMISSION_TAIL, SLOTS + 1).unwrap();
        assert_eq!(
            backend_take.peek(region),
            Err(RingError::Corrupt {
                head: 0,
                tail: SLOTS + 1
            })
        );
        // A head ahead of the tail is as corrupt.
        let mut backend_post = CompletionProducer::new(&layout);
        region.write_u32(field::COMPLETION_HEAD, 1).unwrap();
        assert!(matches!(
            backend_post.push(region, &Completion::default()),
            Err(RingError::Corrupt { head: 1, tail: 0 })
        ));
        // Exactly `slots` waiting is full, not corrupt.
        region.write_u32(field::SUBMISSION_TAIL, SLOTS).unwrap();
        assert_eq!(backend_take.waiting(region), Ok(SLOTS));
    }

    #[test]
    fn a_peer_rewriting_our_own_index_changes_nothing() {
        let (layout, mut region) = setup();
        let region = &mut region[..];
        let mut guest_submit = SubmissionProducer::new(&layout);
        let mut backend_take = SubmissionConsumer::new(&layout);
        assert!(guest_submit.push(region, &Descriptor::nop(5)).unwrap());
        // The guest scribbles over the backend's head.
        region.write_u32(field::SUBMISSION_HEAD, 1234).unwrap();
        assert_eq!(backend_take.peek(region).unwrap().unwrap().sequence, 5);
        backend_take.advance(region).unwrap();
        assert_eq!(backend_take.head(), 1);
        assert_eq!(region.read_u32(field::SUBMISSION_HEAD), Ok(1));
    }
}
