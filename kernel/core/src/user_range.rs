//! Checking a user pointer and length, and splitting the range into pages.
//!
//! A pointer and length from user space are an allegation until
//! [`UserRange::new`] has checked them: non-null, canonical, in the user half,
//! no overflow, within the caller's size limit. [`UserRange::pages`] then
//! splits the range into [`PageChunk`]s, one per 4 KiB page it touches, which
//! the kernel translates and copies one at a time. Whether a page is mapped,
//! user-accessible and writable is the kernel's question (it owns the page
//! tables); the two variants for it, [`UserMemoryError::NotMapped`] and
//! [`UserMemoryError::ReadOnly`], are defined here so that one enum covers
//! every refusal.

use core::iter::FusedIterator;

/// Size of a user page, in bytes.
pub const PAGE_SIZE: u64 = 4096;
/// First address above the lower (user) half of the canonical address space.
pub const USER_HALF_END: u64 = 0x0000_8000_0000_0000;
/// First canonical address of the upper (kernel) half.
pub const KERNEL_HALF_START: u64 = 0xFFFF_8000_0000_0000;

/// Returns the page-aligned address of the page holding `address`.
pub const fn page_of(address: u64) -> u64 {
    address & !(PAGE_SIZE - 1)
}

/// Why a user pointer was refused. Each maps to a syscall error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserMemoryError {
    /// The pointer is null.
    Null,
    /// The address is not canonical (in the hole between the halves).
    NotCanonical,
    /// The range reaches into the kernel half.
    KernelAddress,
    /// Pointer plus length overflows.
    Overflow,
    /// The length is above the limit the syscall allows.
    TooLarge,
    /// A page in the range is not mapped.
    NotMapped,
    /// A page in the range is read-only and the kernel must write it.
    ReadOnly,
}

/// A checked user range: non-null, inside the user half, no overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRange {
    start: u64,
    length: u64,
}

impl UserRange {
    /// Returns the range of `length` bytes at `address` once checked, at most
    /// `max_length` bytes long.
    ///
    /// The checks run in this order, and the first that fails names the error:
    /// null, too large, not canonical, overflow, kernel address. An empty
    /// range at a valid user address is accepted.
    pub const fn new(address: u64, length: u64, max_length: u64) -> Result<Self, UserMemoryError> {
        if address == 0 {
            return Err(UserMemoryError::Null);
        }
        if length > max_length {
            return Err(UserMemoryError::TooLarge);
        }
        if address >= USER_HALF_END && address < KERNEL_HALF_START {
            return Err(UserMemoryError::NotCanonical);
        }
        let Some(end) = address.checked_add(length) else {
            return Err(UserMemoryError::Overflow);
        };
        if address >= USER_HALF_END || end > USER_HALF_END {
            return Err(UserMemoryError::KernelAddress);
        }
        Ok(Self {
            start: address,
            length,
        })
    }

    /// Returns the first address.
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// Returns the length in bytes.
    pub const fn len(&self) -> u64 {
        self.length
    }

    /// Returns whether the range is empty.
    pub const fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Returns the address just past the range (at most [`USER_HALF_END`]).
    pub const fn end(&self) -> u64 {
        self.start + self.length
    }

    /// Returns the chunks of the range, one per page it touches, in address order.
    pub const fn pages(&self) -> PageChunks {
        PageChunks {
            next: self.start,
            start: self.start,
            end: self.end(),
        }
    }
}

/// The part of a [`UserRange`] inside one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageChunk {
    /// The page-aligned virtual address of the page.
    pub page: u64,
    /// The virtual address of the chunk's first byte: `page` except for a
    /// range that starts inside its first page.
    pub address: u64,
    /// Offset of the chunk's first byte from the start of the range.
    pub offset: usize,
    /// Length of the chunk in bytes (1 to [`PAGE_SIZE`]).
    pub length: usize,
}

impl PageChunk {
    /// Returns the offset of the chunk's first byte inside its page.
    pub const fn offset_in_page(&self) -> u64 {
        self.address - self.page
    }
}

/// The iterator of [`UserRange::pages`].
#[derive(Debug, Clone)]
pub struct PageChunks {
    /// Address of the next chunk's first byte.
    next: u64,
    /// Start of the range.
    start: u64,
    /// End of the range (exclusive).
    end: u64,
}

impl Iterator for PageChunks {
    type Item = PageChunk;

    fn next(&mut self) -> Option<PageChunk> {
        if self.next >= self.end {
            return None;
        }
        let page = page_of(self.next);
        // `end` is at most USER_HALF_END, so the next page boundary cannot overflow.
        let chunk_end = (page + PAGE_SIZE).min(self.end);
        let chunk = PageChunk {
            page,
            address: self.next,
            // Lossless: the crate requires a 64-bit `usize`.
            offset: (self.next - self.start) as usize,
            length: (chunk_end - self.next) as usize,
        };
        self.next = chunk_end;
        Some(chunk)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = if self.next >= self.end {
            0
        } else {
            // Lossless: the crate requires a 64-bit `usize`.
            ((page_of(self.end - 1) - page_of(self.next)) / PAGE_SIZE + 1) as usize
        };
        (remaining, Some(remaining))
    }
}

impl ExactSizeIterator for PageChunks {}

impl FusedIterator for PageChunks {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A length limit that never refuses.
    const NO_LIMIT: u64 = u64::MAX;

    /// Returns the chunks of the range `address..address + length` (which must be valid).
    fn chunks(address: u64, length: u64) -> Vec<PageChunk> {
        UserRange::new(address, length, NO_LIMIT)
            .expect("a valid range")
            .pages()
            .collect()
    }

    #[test]
    fn a_valid_range_keeps_its_start_and_length() {
        let range = UserRange::new(0x1000, 10, 64).unwrap();
        assert_eq!(range.start(), 0x1000);
        assert_eq!(range.len(), 10);
        assert_eq!(range.end(), 0x100A);
        assert!(!range.is_empty());
        let empty = UserRange::new(0x1000, 0, 0).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.pages().count(), 0);
    }

    #[test]
    fn null_is_refused_before_anything_else() {
        assert_eq!(UserRange::new(0, 0, 0), Err(UserMemoryError::Null));
        assert_eq!(UserRange::new(0, 100, 10), Err(UserMemoryError::Null));
        assert_eq!(
            UserRange::new(0, u64::MAX, NO_LIMIT),
            Err(UserMemoryError::Null)
        );
    }

    #[test]
    fn a_length_over_the_limit_is_too_large() {
        assert_eq!(
            UserRange::new(0x1000, 65, 64),
            Err(UserMemoryError::TooLarge)
        );
        assert!(UserRange::new(0x1000, 64, 64).is_ok());
        // The limit is checked before the address.
        assert_eq!(
            UserRange::new(USER_HALF_END, 65, 64),
            Err(UserMemoryError::TooLarge)
        );
    }

    #[test]
    fn the_hole_between_the_halves_is_not_canonical() {
        for address in [USER_HALF_END, 0x0000_8000_0000_1000, KERNEL_HALF_START - 1] {
            assert_eq!(
                UserRange::new(address, 1, NO_LIMIT),
                Err(UserMemoryError::NotCanonical),
                "{address:#x}"
            );
        }
    }

    #[test]
    fn the_kernel_half_is_refused() {
        assert_eq!(
            UserRange::new(KERNEL_HALF_START, 1, NO_LIMIT),
            Err(UserMemoryError::KernelAddress)
        );
        assert_eq!(
            UserRange::new(u64::MAX, 0, NO_LIMIT),
            Err(UserMemoryError::KernelAddress)
        );
        // A user start whose end runs past the user half.
        assert_eq!(
            UserRange::new(USER_HALF_END - 1, 2, NO_LIMIT),
            Err(UserMemoryError::KernelAddress)
        );
        assert_eq!(
            UserRange::new(0x1000, USER_HALF_END, NO_LIMIT),
            Err(UserMemoryError::KernelAddress)
        );
    }

    #[test]
    fn wrapping_around_is_an_overflow() {
        assert_eq!(
            UserRange::new(u64::MAX, 1, NO_LIMIT),
            Err(UserMemoryError::Overflow)
        );
        assert_eq!(
            UserRange::new(0x1000, u64::MAX, NO_LIMIT),
            Err(UserMemoryError::Overflow)
        );
        assert_eq!(
            UserRange::new(KERNEL_HALF_START, u64::MAX, NO_LIMIT),
            Err(UserMemoryError::Overflow)
        );
    }

    #[test]
    fn the_range_may_end_exactly_at_the_user_half_end() {
        let range = UserRange::new(USER_HALF_END - 1, 1, NO_LIMIT).unwrap();
        assert_eq!(range.end(), USER_HALF_END);
        let whole = UserRange::new(1, USER_HALF_END - 1, NO_LIMIT).unwrap();
        assert_eq!(whole.end(), USER_HALF_END);
        let last = chunks(USER_HALF_END - PAGE_SIZE, PAGE_SIZE);
        assert_eq!(
            last,
            [PageChunk {
                page: USER_HALF_END - PAGE_SIZE,
                address: USER_HALF_END - PAGE_SIZE,
                offset: 0,
                length: PAGE_SIZE as usize,
            }]
        );
    }

    #[test]
    fn a_range_inside_one_page_is_one_chunk() {
        assert_eq!(
            chunks(0x1010, 0x20),
            [PageChunk {
                page: 0x1000,
                address: 0x1010,
                offset: 0,
                length: 0x20,
            }]
        );
    }

    #[test]
    fn a_range_across_pages_splits_at_each_boundary() {
        let split = chunks(0x1FFE, 0x2004);
        assert_eq!(
            split,
            [
                PageChunk {
                    page: 0x1000,
                    address: 0x1FFE,
                    offset: 0,
                    length: 2,
                },
                PageChunk {
                    page: 0x2000,
                    address: 0x2000,
                    offset: 2,
                    length: 0x1000,
                },
                PageChunk {
                    page: 0x3000,
                    address: 0x3000,
                    offset: 0x1002,
                    length: 0x1000,
                },
                PageChunk {
                    page: 0x4000,
                    address: 0x4000,
                    offset: 0x2002,
                    length: 2,
                },
            ]
        );
        assert_eq!(split[0].offset_in_page(), 0xFFE);
        assert_eq!(split[1].offset_in_page(), 0);
    }

    #[test]
    fn page_aligned_ranges_have_whole_page_chunks() {
        let aligned = chunks(0x4000, 3 * PAGE_SIZE);
        assert_eq!(aligned.len(), 3);
        assert!(
            aligned
                .iter()
                .all(|chunk| chunk.length == PAGE_SIZE as usize && chunk.address == chunk.page)
        );
    }

    #[test]
    fn chunks_cover_the_range_exactly_once() {
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        for _ in 0..2_000 {
            state ^= state << 7;
            state ^= state >> 9;
            let address = 1 + state % (USER_HALF_END - 1);
            let length = (state >> 20) % (5 * PAGE_SIZE);
            let Ok(range) = UserRange::new(address, length, NO_LIMIT) else {
                continue;
            };
            let pages = range.pages();
            let expected_count = pages.len();
            let mut covered = 0_u64;
            let mut count = 0;
            for chunk in pages {
                assert_eq!(chunk.address, address + covered);
                assert_eq!(chunk.offset as u64, covered);
                assert_eq!(chunk.page, page_of(chunk.address));
                assert!(chunk.length >= 1);
                assert!(chunk.offset_in_page() + chunk.length as u64 <= PAGE_SIZE);
                covered += chunk.length as u64;
                count += 1;
            }
            assert_eq!(covered, length);
            assert_eq!(count, expected_count);
        }
    }

    #[test]
    fn the_page_count_of_a_huge_range_needs_no_iteration() {
        let range = UserRange::new(1, USER_HALF_END - 1, NO_LIMIT).unwrap();
        let mut pages = range.pages();
        assert_eq!(pages.len() as u64, USER_HALF_END / PAGE_SIZE);
        let first = pages.next().unwrap();
        assert_eq!((first.page, first.address, first.length), (0, 1, 4095));
        assert_eq!(pages.len() as u64, USER_HALF_END / PAGE_SIZE - 1);
    }

    #[test]
    fn a_finished_iterator_stays_finished() {
        let range = UserRange::new(0x1000, 1, NO_LIMIT).unwrap();
        let mut pages = range.pages();
        assert!(pages.next().is_some());
        assert_eq!(pages.next(), None);
        assert_eq!(pages.next(), None);
        assert_eq!(pages.len(), 0);
    }
}
