//! First-fit allocation of byte ranges in a fixed window (device memory the kernel manages).
//!
//! The tensor accelerator's data area is guest-owned memory on the device:
//! the kernel keeps resident tensors (model weights) there between calls. A
//! [`RangeAllocator`] hands out aligned ranges of a window `[start, end)` and
//! takes them back, merging free neighbours. It never touches the memory
//! itself and never panics on any input: a bad free is refused.

use alloc::vec::Vec;

/// Why a range could not be freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeError {
    /// The range was not handed out by this allocator (or was freed already).
    NotAllocated,
}

/// Aligned ranges of a window, first fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeAllocator {
    start: u64,
    end: u64,
    align: u64,
    /// Free ranges `(start, end)`, sorted, disjoint, never adjacent.
    free: Vec<(u64, u64)>,
    /// Handed-out ranges `(start, end)`, sorted.
    used: Vec<(u64, u64)>,
}

impl RangeAllocator {
    /// An allocator of `[start, end)` handing out ranges that start at
    /// multiples of `align` (a power of two; anything else counts as 1).
    pub fn new(start: u64, end: u64, align: u64) -> Self {
        let align = if align.is_power_of_two() { align } else { 1 };
        let first = start.checked_next_multiple_of(align).unwrap_or(end);
        let free = if first < end {
            alloc::vec![(first, end)]
        } else {
            Vec::new()
        };
        Self {
            start,
            end,
            align,
            free,
            used: Vec::new(),
        }
    }

    /// Takes `bytes` (rounded up to the alignment); returns the range's start,
    /// or `None` when no free range is long enough (or `bytes` is 0).
    pub fn allocate(&mut self, bytes: u64) -> Option<u64> {
        let bytes = bytes.checked_next_multiple_of(self.align)?;
        if bytes == 0 {
            return None;
        }
        let index = self
            .free
            .iter()
            .position(|(start, end)| end - start >= bytes)?;
        let (start, end) = self.free[index];
        if end - start == bytes {
            self.free.remove(index);
        } else {
            self.free[index].0 = start + bytes;
        }
        let at = self.used.partition_point(|(used, _)| *used < start);
        self.used.insert(at, (start, start + bytes));
        Some(start)
    }

    /// Gives back the range that starts at `start`.
    pub fn free(&mut self, start: u64) -> Result<(), FreeError> {
        let index = self
            .used
            .binary_search_by_key(&start, |(used, _)| *used)
            .map_err(|_| FreeError::NotAllocated)?;
        let (start, end) = self.used.remove(index);
        let at = self.free.partition_point(|(free, _)| *free < start);
        self.free.insert(at, (start, end));
        // Merge with the next, then with the previous neighbour.
        if at + 1 < self.free.len() && self.free[at].1 == self.free[at + 1].0 {
            self.free[at].1 = self.free[at + 1].1;
            self.free.remove(at + 1);
        }
        if at > 0 && self.free[at - 1].1 == self.free[at].0 {
            self.free[at - 1].1 = self.free[at].1;
            self.free.remove(at);
        }
        Ok(())
    }

    /// Forgets every allocation (the device's memory was reset).
    pub fn reset(&mut self) {
        *self = Self::new(self.start, self.end, self.align);
    }

    /// Returns the bytes handed out.
    pub fn used_bytes(&self) -> u64 {
        self.used.iter().map(|(start, end)| end - start).sum()
    }

    /// Returns the bytes free (in all free ranges together).
    pub fn free_bytes(&self) -> u64 {
        self.free.iter().map(|(start, end)| end - start).sum()
    }

    /// Returns the number of ranges handed out.
    pub fn allocations(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_aligned_disjoint_and_inside_the_window() {
        let mut ranges = RangeAllocator::new(100, 1000, 64);
        let a = ranges.allocate(10).unwrap();
        let b = ranges.allocate(64).unwrap();
        let c = ranges.allocate(65).unwrap();
        assert_eq!((a, b, c), (128, 192, 256));
        assert_eq!(ranges.used_bytes(), 64 + 64 + 128);
        assert_eq!(ranges.allocate(1000), None);
        assert_eq!(ranges.allocate(0), None);
        assert_eq!(ranges.allocate(u64::MAX), None);
        // The rest of the window, and nothing more.
        let rest = ranges.free_bytes();
        assert_eq!(rest, 1000 - 384);
        assert!(ranges.allocate(rest - rest % 64).is_some());
        assert_eq!(ranges.allocate(64), None);
    }

    #[test]
    fn freed_ranges_merge_and_are_reused_first_fit() {
        let mut ranges = RangeAllocator::new(0, 4096, 64);
        let blocks: Vec<u64> = (0..8).map(|_| ranges.allocate(512).unwrap()).collect();
        assert_eq!(ranges.free_bytes(), 0);
        for index in [1, 3, 2] {
            ranges.free(blocks[index]).unwrap();
        }
        // 1..=3 merged into one 1536-byte hole.
        assert_eq!(ranges.allocate(1536), Some(512));
        for block in [blocks[0], blocks[4], blocks[5], blocks[6], blocks[7], 512] {
            ranges.free(block).unwrap();
        }
        assert_eq!(ranges.free_bytes(), 4096);
        assert_eq!(ranges.allocations(), 0);
        assert_eq!(ranges.allocate(4096), Some(0));
    }

    #[test]
    fn bad_frees_are_refused_and_reset_forgets_everything() {
        let mut ranges = RangeAllocator::new(0, 1 << 20, 4096);
        let a = ranges.allocate(1).unwrap();
        assert_eq!(ranges.free(a + 1), Err(FreeError::NotAllocated));
        assert_eq!(ranges.free(a), Ok(()));
        assert_eq!(ranges.free(a), Err(FreeError::NotAllocated));
        ranges.allocate(8192).unwrap();
        ranges.reset();
        assert_eq!((ranges.used_bytes(), ranges.free_bytes()), (0, 1 << 20));
        // An empty or inverted window hands out nothing.
        assert_eq!(RangeAllocator::new(10, 5, 1).allocate(1), None);
        assert_eq!(RangeAllocator::new(1, 64, 64).allocate(1), None);
    }

    #[test]
    fn random_operations_keep_the_books_straight() {
        let mut state = 0x1234_5678_9ABC_DEF0u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut ranges = RangeAllocator::new(0, 1 << 16, 64);
        let mut held: Vec<(u64, u64)> = Vec::new();
        for _ in 0..5000 {
            if next() % 3 != 0 || held.is_empty() {
                let bytes = next() % 4096 + 1;
                if let Some(start) = ranges.allocate(bytes) {
                    let end = start + bytes.next_multiple_of(64);
                    assert!(end <= 1 << 16 && start % 64 == 0);
                    assert!(held.iter().all(|(s, e)| end <= *s || start >= *e));
                    held.push((start, end));
                }
            } else {
                let index = (next() % held.len() as u64) as usize;
                let (start, _) = held.swap_remove(index);
                ranges.free(start).unwrap();
            }
            let used: u64 = held.iter().map(|(s, e)| e - s).sum();
            assert_eq!(ranges.used_bytes(), used);
            assert_eq!(ranges.used_bytes() + ranges.free_bytes(), 1 << 16);
        }
    }
}
