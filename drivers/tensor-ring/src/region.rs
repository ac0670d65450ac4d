//! Access to the shared region: the [`Region`] trait and its two implementations.
//!
//! Both sides reach the shared memory only through [`Region`], so the protocol code
//! is the same over the kernel's MMIO window, the backend's file mapping and a test's
//! byte vector. Every access is checked against the region's length and alignment and
//! returns a [`RegionError`] instead of panicking.
//!
//! # Access rules (every implementation)
//! - A `u32` is little-endian, at an offset that is a multiple of [`WORD_BYTES`].
//! - [`Region::read_u32`] is an *acquire* load and [`Region::write_u32`] a *release*
//!   store: every write made before a `write_u32` is visible to a peer whose
//!   `read_u32` sees its value. The ring indices are published this way.
//! - [`Region::read_bytes`] and [`Region::write_bytes`] carry no ordering of their
//!   own. They start at a multiple of [`WORD_BYTES`]; a write covers whole words
//!   (so a side never rewrites bytes of a word it does not own), a read may end
//!   anywhere.

use core::sync::atomic::{AtomicU32, Ordering};

/// Bytes in one word, the unit of every shared access.
pub const WORD_BYTES: usize = 4;

/// Why an access to the region was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    /// `offset..offset + len` does not lie inside the region.
    OutOfRange {
        /// First byte asked for.
        offset: usize,
        /// Bytes asked for.
        len: usize,
    },
    /// The offset (or, for a write, the length) is not a multiple of [`WORD_BYTES`].
    Misaligned {
        /// First byte asked for.
        offset: usize,
        /// Bytes asked for.
        len: usize,
    },
}

/// A shared memory region addressed by byte offsets from its start.
///
/// See the [module documentation](self) for the alignment and ordering rules every
/// implementation follows.
pub trait Region {
    /// Returns the region's length in bytes.
    fn len(&self) -> usize;

    /// Returns whether the region has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the little-endian word at `offset` (an acquire load).
    fn read_u32(&self, offset: usize) -> Result<u32, RegionError>;

    /// Stores `value` little-endian at `offset` (a release store).
    fn write_u32(&mut self, offset: usize, value: u32) -> Result<(), RegionError>;

    /// Copies `buffer.len()` bytes starting at `offset` into `buffer`.
    fn read_bytes(&self, offset: usize, buffer: &mut [u8]) -> Result<(), RegionError>;

    /// Copies `bytes` to the region starting at `offset`; `bytes.len()` must be a
    /// multiple of [`WORD_BYTES`].
    fn write_bytes(&mut self, offset: usize, bytes: &[u8]) -> Result<(), RegionError>;

    /// Returns the little-endian `u64` at `offset` as two words, low word first.
    ///
    /// The two loads are not one atomic access: use it only for fields that do not
    /// change while the peer may read them (the header's sizes and limits).
    fn read_u64(&self, offset: usize) -> Result<u64, RegionError> {
        let low = self.read_u32(offset)?;
        let high = self.read_u32(offset.checked_add(WORD_BYTES).ok_or(
            RegionError::OutOfRange {
                offset,
                len: 2 * WORD_BYTES,
            },
        )?)?;
        Ok(u64::from(low) | (u64::from(high) << 32))
    }

    /// Stores `value` at `offset` as two words, low word first (see [`Region::read_u64`]).
    fn write_u64(&mut self, offset: usize, value: u64) -> Result<(), RegionError> {
        let high_offset = offset
            .checked_add(WORD_BYTES)
            .ok_or(RegionError::OutOfRange {
                offset,
                len: 2 * WORD_BYTES,
            })?;
        // Truncation intended: the low and the high half.
        self.write_u32(offset, value as u32)?;
        self.write_u32(high_offset, (value >> 32) as u32)
    }
}

/// A unique borrow of a region is a region (so an owner can lend one out).
impl<R: Region + ?Sized> Region for &mut R {
    fn len(&self) -> usize {
        (**self).len()
    }

    fn read_u32(&self, offset: usize) -> Result<u32, RegionError> {
        (**self).read_u32(offset)
    }

    fn write_u32(&mut self, offset: usize, value: u32) -> Result<(), RegionError> {
        (**self).write_u32(offset, value)
    }

    fn read_bytes(&self, offset: usize, buffer: &mut [u8]) -> Result<(), RegionError> {
        (**self).read_bytes(offset, buffer)
    }

    fn write_bytes(&mut self, offset: usize, bytes: &[u8]) -> Result<(), RegionError> {
        (**self).write_bytes(offset, bytes)
    }
}

/// Returns `Ok` when `offset..offset + len` lies in a region of `region_len` bytes,
/// starts on a word and, for a write, covers whole words.
fn check(
    offset: usize,
    len: usize,
    region_len: usize,
    whole_words: bool,
) -> Result<(), RegionError> {
    if !offset.is_multiple_of(WORD_BYTES) || (whole_words && !len.is_multiple_of(WORD_BYTES)) {
        return Err(RegionError::Misaligned { offset, len });
    }
    match offset.checked_add(len) {
        Some(end) if end <= region_len => Ok(()),
        _ => Err(RegionError::OutOfRange { offset, len }),
    }
}

/// A plain byte slice (tests, or a private copy): single-threaded, no ordering needed.
impl Region for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn read_u32(&self, offset: usize) -> Result<u32, RegionError> {
        let mut word = [0; WORD_BYTES];
        self.read_bytes(offset, &mut word)?;
        Ok(u32::from_le_bytes(word))
    }

    fn write_u32(&mut self, offset: usize, value: u32) -> Result<(), RegionError> {
        self.write_bytes(offset, &value.to_le_bytes())
    }

    fn read_bytes(&self, offset: usize, buffer: &mut [u8]) -> Result<(), RegionError> {
        check(offset, buffer.len(), <[u8]>::len(self), false)?;
        let source = self
            .get(offset..offset + buffer.len())
            .ok_or(RegionError::OutOfRange {
                offset,
                len: buffer.len(),
            })?;
        buffer.copy_from_slice(source);
        Ok(())
    }

    fn write_bytes(&mut self, offset: usize, bytes: &[u8]) -> Result<(), RegionError> {
        check(offset, bytes.len(), <[u8]>::len(self), true)?;
        let target = self
            .get_mut(offset..offset + bytes.len())
            .ok_or(RegionError::OutOfRange {
                offset,
                len: bytes.len(),
            })?;
        target.copy_from_slice(bytes);
        Ok(())
    }
}

/// Memory shared with another thread or process, seen as atomic words.
///
/// Every access is an atomic load or store of a whole word: indices with
/// acquire/release ordering, data and entries relaxed (ordered by the index that
/// publishes them). Atomics are what makes a peer's concurrent writes to the same
/// memory well-defined; a peer that writes garbage only produces garbage values.
/// Copies are cheap handles onto the same words.
#[derive(Clone, Copy)]
pub struct SharedWords<'a> {
    words: &'a [AtomicU32],
}

/// Shows the length only: the contents are megabytes, and changing.
impl core::fmt::Debug for SharedWords<'_> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("SharedWords")
            .field("bytes", &self.len())
            .finish()
    }
}

impl<'a> SharedWords<'a> {
    /// Returns a region over `words` (region length: `4 * words.len()` bytes).
    pub fn new(words: &'a [AtomicU32]) -> Self {
        Self { words }
    }

    /// Returns the word holding byte `offset` (already checked to be in range).
    fn word(&self, offset: usize) -> Result<&'a AtomicU32, RegionError> {
        self.words
            .get(offset / WORD_BYTES)
            .ok_or(RegionError::OutOfRange {
                offset,
                len: WORD_BYTES,
            })
    }
}

impl Region for SharedWords<'_> {
    fn len(&self) -> usize {
        self.words.len() * WORD_BYTES
    }

    fn read_u32(&self, offset: usize) -> Result<u32, RegionError> {
        check(offset, WORD_BYTES, self.len(), true)?;
        Ok(self.word(offset)?.load(Ordering::Acquire))
    }

    fn write_u32(&mut self, offset: usize, value: u32) -> Result<(), RegionError> {
        check(offset, WORD_BYTES, self.len(), true)?;
        self.word(offset)?.store(value, Ordering::Release);
        Ok(())
    }

    fn read_bytes(&self, offset: usize, buffer: &mut [u8]) -> Result<(), RegionError> {
        check(offset, buffer.len(), self.len(), false)?;
        let words = self
            .words
            .get(offset / WORD_BYTES..)
            .ok_or(RegionError::OutOfRange {
                offset,
                len: buffer.len(),
            })?;
        for (chunk, word) in buffer.chunks_mut(WORD_BYTES).zip(words) {
            let bytes = word.load(Ordering::Relaxed).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }

    fn write_bytes(&mut self, offset: usize, bytes: &[u8]) -> Result<(), RegionError> {
        check(offset, bytes.len(), self.len(), true)?;
        let words = self
            .words
            .get(offset / WORD_BYTES..)
            .ok_or(RegionError::OutOfRange {
                offset,
                len: bytes.len(),
            })?;
        let (chunks, _) = bytes.as_chunks::<WORD_BYTES>();
        for (chunk, word) in chunks.iter().zip(words) {
            word.store(u32::from_le_bytes(*chunk), Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn shared(words: usize) -> Vec<AtomicU32> {
        (0..words).map(|_| AtomicU32::new(0)).collect()
    }

    /// Runs the same checks over any region of 16 bytes.
    fn exercise<R: Region + ?Sized>(region: &mut R) {
        assert_eq!(region.len(), 16);
        region.write_u32(4, 0x1122_3344).unwrap();
        assert_eq!(region.read_u32(4), Ok(0x1122_3344));
        let mut three = [0; 3];
        region.read_bytes(4, &mut three).unwrap();
        assert_eq!(three, [0x44, 0x33, 0x22]);
        region.write_u64(8, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(region.read_u64(8), Ok(0x0102_0304_0506_0708));
        region.write_bytes(0, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let mut all = [0; 16];
        region.read_bytes(0, &mut all).unwrap();
        assert_eq!(&all[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);

        // Refusals, never panics.
        assert_eq!(
            region.read_u32(16),
            Err(RegionError::OutOfRange { offset: 16, len: 4 })
        );
        assert_eq!(
            region.read_u32(2),
            Err(RegionError::Misaligned { offset: 2, len: 4 })
        );
        assert_eq!(
            region.write_bytes(0, &[1, 2, 3]),
            Err(RegionError::Misaligned { offset: 0, len: 3 })
        );
        assert!(region.read_bytes(usize::MAX - 3, &mut [0; 8]).is_err());
        assert!(region.read_bytes(12, &mut [0; 5]).is_err());
        assert!(region.write_u64(12, 0).is_err());
        assert!(region.read_u64(usize::MAX - 3).is_err());
        assert!(region.read_bytes(16, &mut []).is_ok());
        assert!(region.read_bytes(20, &mut []).is_err());
    }

    #[test]
    fn byte_slice_region() {
        let mut bytes = [0u8; 16];
        exercise(&mut bytes[..]);
    }

    #[test]
    fn shared_words_region() {
        let words = shared(4);
        exercise(&mut SharedWords::new(&words));
    }

    #[test]
    fn both_regions_agree_on_byte_order() {
        let words = shared(2);
        let mut shared_region = SharedWords::new(&words);
        let mut bytes = [0u8; 8];
        fn check_order<R: Region + ?Sized>(region: &mut R) {
            region.write_bytes(0, &[9, 8, 7, 6, 5, 4, 3, 2]).unwrap();
            assert_eq!(region.read_u32(0), Ok(0x0607_0809));
            assert_eq!(region.read_u32(4), Ok(0x0203_0405));
        }
        check_order(&mut shared_region);
        check_order(&mut bytes[..]);
    }
}
