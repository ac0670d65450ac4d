//! A guest's side of the protocol on the host: submit jobs through a region, wait for them.
//!
//! [`Client`] is what the kernel driver will do, in host Rust: wait for the backend
//! to be ready, check the header, reset the rings (the epoch handshake), then place
//! operands in the data area, submit descriptors and collect completions by sequence
//! number. It serves the backend's tests now, and later xtask. Every wait has a
//! timeout; while the submission ring is full the client keeps draining completions,
//! so a burst larger than both rings completes without losing any.

use std::{
    collections::HashMap,
    hint, thread,
    time::{Duration, Instant},
};

use tensor_ring::{
    Completion, CompletionConsumer, Descriptor, DeviceStatus, Layout, LayoutError, Limits, Region,
    RegionError, RingError, SubmissionProducer, layout::field, read_header, region::WORD_BYTES,
};

/// Polls spent spinning before a wait starts yielding, then sleeping.
const WAIT_SPINS: u32 = 512;

/// The sleep between polls of a long wait.
const WAIT_SLEEP: Duration = Duration::from_micros(20);

/// Why a client call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The wait named here ran past its timeout.
    Timeout(&'static str),
    /// The header is not a valid one.
    Header(LayoutError),
    /// A ring index from the backend is out of range.
    Ring(RingError),
    /// A region access was refused (a data offset out of range, say).
    Region(RegionError),
    /// The backend declared itself stopped.
    Stopped,
}

impl From<RegionError> for ClientError {
    fn from(error: RegionError) -> Self {
        Self::Region(error)
    }
}

impl From<RingError> for ClientError {
    fn from(error: RingError) -> Self {
        Self::Ring(error)
    }
}

impl From<LayoutError> for ClientError {
    fn from(error: LayoutError) -> Self {
        Self::Header(error)
    }
}

/// Polls `ready` until it returns `Some`, backing off, or until `timeout` passes.
fn wait_for<T>(
    timeout: Duration,
    what: &'static str,
    mut ready: impl FnMut() -> Result<Option<T>, ClientError>,
) -> Result<T, ClientError> {
    let deadline = Instant::now() + timeout;
    let mut polls: u32 = 0;
    loop {
        if let Some(value) = ready()? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(ClientError::Timeout(what));
        }
        polls = polls.saturating_add(1);
        if polls < WAIT_SPINS {
            hint::spin_loop();
        } else if polls < 2 * WAIT_SPINS {
            thread::yield_now();
        } else {
            thread::sleep(WAIT_SLEEP);
        }
    }
}

/// The guest's end of a region.
#[derive(Debug)]
pub struct Client<R: Region> {
    region: R,
    layout: Layout,
    limits: Limits,
    submissions: SubmissionProducer,
    completions: CompletionConsumer,
    next_sequence: u64,
    /// Completions collected but not yet asked for, by sequence number.
    arrived: HashMap<u64, Completion>,
}

impl<R: Region> Client<R> {
    /// Waits (up to `timeout`) for a ready backend behind `region`, checks its
    /// header, and resets the rings so this client starts from index 0.
    pub fn connect(mut region: R, timeout: Duration) -> Result<Self, ClientError> {
        let start = Instant::now();
        let (layout, limits) = wait_for(timeout, "backend ready", || {
            let ready = region.read_u32(field::DEVICE_STATUS)? == DeviceStatus::Ready.code();
            Ok(if ready {
                Some(read_header(&region)?)
            } else {
                None
            })
        })?;
        let mut submissions = SubmissionProducer::new(&layout);
        let mut completions = CompletionConsumer::new(&layout);
        submissions.reset(&mut region)?;
        completions.reset(&mut region)?;
        let epoch = region.read_u32(field::BACKEND_EPOCH)?.wrapping_add(1);
        region.write_u32(field::GUEST_EPOCH, epoch)?;
        let remaining = timeout.saturating_sub(start.elapsed());
        wait_for(remaining, "ring reset", || {
            Ok((region.read_u32(field::BACKEND_EPOCH)? == epoch).then_some(()))
        })?;
        Ok(Self {
            region,
            layout,
            limits,
            submissions,
            completions,
            next_sequence: 1,
            arrived: HashMap::new(),
        })
    }

    /// Returns the region's layout as the header states it.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Returns the backend's limits as the header states them.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Returns the region (to inspect, or to misbehave in tests).
    pub fn region_mut(&mut self) -> &mut R {
        &mut self.region
    }

    /// Returns the backend's heartbeat counter.
    pub fn heartbeat(&self) -> Result<u32, ClientError> {
        Ok(self.region.read_u32(field::HEARTBEAT)?)
    }

    /// Returns the header's `DOORBELL` word: 0 when the backend serves no doorbells,
    /// else its ivshmem peer ID plus 1.
    pub fn doorbell(&self) -> Result<u32, ClientError> {
        Ok(self.region.read_u32(field::DOORBELL)?)
    }

    /// Returns the backend's count of corrupt guest indices seen.
    pub fn ring_faults(&self) -> Result<u32, ClientError> {
        Ok(self.region.read_u32(field::RING_FAULTS)?)
    }

    /// Returns the region offset of data-area offset `offset` for `len` bytes.
    fn data(&self, offset: u64, len: usize) -> Result<usize, ClientError> {
        let refused = ClientError::Region(RegionError::OutOfRange {
            offset: usize::try_from(offset).unwrap_or(usize::MAX),
            len,
        });
        let start = self.layout.data_to_region(offset).ok_or(refused)?;
        let end = start.checked_add(len).ok_or(refused)?;
        if end as u64 > self.layout.region_bytes() {
            return Err(refused);
        }
        Ok(start)
    }

    /// Writes `bytes` at data-area offset `offset` (a multiple of 4), padded with
    /// zeros to a whole word.
    pub fn write_data(&mut self, offset: u64, bytes: &[u8]) -> Result<(), ClientError> {
        let mut padded = bytes.to_vec();
        padded.resize(bytes.len().next_multiple_of(WORD_BYTES), 0);
        let at = self.data(offset, padded.len())?;
        Ok(self.region.write_bytes(at, &padded)?)
    }

    /// Reads `buffer.len()` bytes from data-area offset `offset` (a multiple of 4).
    pub fn read_data(&self, offset: u64, buffer: &mut [u8]) -> Result<(), ClientError> {
        let at = self.data(offset, buffer.len())?;
        Ok(self.region.read_bytes(at, buffer)?)
    }

    /// Writes `values` as little-endian `f32`s at data-area offset `offset`.
    pub fn write_f32s(&mut self, offset: u64, values: &[f32]) -> Result<(), ClientError> {
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|value| value.to_le_bytes())
            .collect();
        self.write_data(offset, &bytes)
    }

    /// Writes `values` as bytes at data-area offset `offset` (zero-padded to a word).
    pub fn write_i8s(&mut self, offset: u64, values: &[i8]) -> Result<(), ClientError> {
        let bytes: Vec<u8> = values.iter().map(|&value| value as u8).collect();
        self.write_data(offset, &bytes)
    }

    /// Returns `count` little-endian `f32`s read from data-area offset `offset`.
    pub fn read_f32s(&self, offset: u64, count: usize) -> Result<Vec<f32>, ClientError> {
        let mut bytes = vec![0; count * 4];
        self.read_data(offset, &mut bytes)?;
        let (words, _) = bytes.as_chunks::<4>();
        Ok(words.iter().map(|word| f32::from_le_bytes(*word)).collect())
    }

    /// Returns `count` little-endian `i32`s read from data-area offset `offset`.
    pub fn read_i32s(&self, offset: u64, count: usize) -> Result<Vec<i32>, ClientError> {
        let mut bytes = vec![0; count * 4];
        self.read_data(offset, &mut bytes)?;
        let (words, _) = bytes.as_chunks::<4>();
        Ok(words.iter().map(|word| i32::from_le_bytes(*word)).collect())
    }

    /// Submits `descriptor` under the next sequence number, which it returns; waits up
    /// to `timeout` for a free slot, collecting completions meanwhile.
    pub fn submit(
        &mut self,
        descriptor: Descriptor,
        timeout: Duration,
    ) -> Result<u64, ClientError> {
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.submit_as_is(
            Descriptor {
                sequence,
                ..descriptor
            },
            timeout,
        )?;
        Ok(sequence)
    }

    /// Submits `descriptor` exactly as given (its own sequence number, any content);
    /// waits like [`submit`](Self::submit).
    pub fn submit_as_is(
        &mut self,
        descriptor: Descriptor,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        wait_for(timeout, "a free submission slot", || {
            if self.submissions.push(&mut self.region, &descriptor)? {
                return Ok(Some(()));
            }
            self.collect()?;
            self.check_running()?;
            Ok(None)
        })
    }

    /// Collects every completion waiting; returns how many.
    pub fn collect(&mut self) -> Result<usize, ClientError> {
        let mut count = 0;
        while let Some(completion) = self.completions.pop(&mut self.region)? {
            self.arrived.insert(completion.sequence, completion);
            count += 1;
        }
        Ok(count)
    }

    /// Returns the completion of `sequence`, waiting up to `timeout` for it.
    pub fn wait(&mut self, sequence: u64, timeout: Duration) -> Result<Completion, ClientError> {
        wait_for(timeout, "a completion", || {
            if let Some(completion) = self.arrived.remove(&sequence) {
                return Ok(Some(completion));
            }
            self.collect()?;
            if let Some(completion) = self.arrived.remove(&sequence) {
                return Ok(Some(completion));
            }
            self.check_running()?;
            Ok(None)
        })
    }

    /// Submits `descriptor` and waits for its completion, each within `timeout`.
    pub fn call(
        &mut self,
        descriptor: Descriptor,
        timeout: Duration,
    ) -> Result<Completion, ClientError> {
        let sequence = self.submit(descriptor, timeout)?;
        self.wait(sequence, timeout)
    }

    /// Returns [`ClientError::Stopped`] if the backend declared itself stopped.
    fn check_running(&self) -> Result<(), ClientError> {
        if self.region.read_u32(field::DEVICE_STATUS)? == DeviceStatus::Stopped.code() {
            return Err(ClientError::Stopped);
        }
        Ok(())
    }
}
