//! Bookkeeping of the user ranges the `map` syscall gives out: placement, quota, unmapping.
//!
//! An agent's anonymous mappings live inside the map window
//! ([`MAP_WINDOW_START`]..[`MAP_WINDOW_END`], well below its stack) and count
//! against a quota of [`MAP_QUOTA_PAGES`]. [`MapWindows`] remembers each range
//! `map` gave out as a [`Window`] and decides, without touching a page table:
//! - where a new mapping goes ([`MapWindows::reserve`]): at the address the
//!   agent asked for, or when it passed 0 just above the highest existing
//!   mapping, falling back to the lowest gap that fits ([`MapWindows::find_free`]);
//! - whether a range may be unmapped ([`MapWindows::release`]): only exactly a
//!   range `map` gave out, never a part of one or a page of the program image.
//!
//! The kernel maps the pages of a reserved window and releases it again if
//! that fails, so a refused or failed `map` leaves no trace.

use alloc::vec::Vec;

use crate::user_range::PAGE_SIZE;

/// Lowest address `map` hands out or accepts.
pub const MAP_WINDOW_START: u64 = 0x0000_2000_0000_0000;
/// End of the `map` window (well below the user stack).
pub const MAP_WINDOW_END: u64 = 0x0000_7000_0000_0000;
/// Most user pages one agent may have mapped through `map` (its quota).
pub const MAP_QUOTA_PAGES: u64 = 4096;
/// The requested address that lets the kernel choose where a mapping goes.
pub const ANY_ADDRESS: u64 = 0;
/// Heap bytes one window's bookkeeping may take: its entry, twice over
/// (the list doubles its capacity as it grows). What the kernel charges
/// the agent's memory budget per mapping.
pub const BYTES_PER_WINDOW: u64 = 2 * size_of::<Window>() as u64;

/// Returns how many pages `length` bytes need.
pub const fn pages_for_bytes(length: u64) -> u64 {
    length.div_ceil(PAGE_SIZE)
}

/// Why a mapping could not be reserved or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapWindowError {
    /// A mapping of no pages was asked for.
    Empty,
    /// The pages would take the agent over its quota.
    QuotaExceeded,
    /// Start plus length overflows.
    Overflow,
    /// The requested start is not page-aligned.
    Misaligned,
    /// The range does not lie inside the map window.
    OutsideWindow,
    /// The range overlaps one given out before.
    Overlaps,
    /// The kernel was to choose, and no gap in the window is large enough.
    NoFreeWindow,
    /// `unmap` named a range that is not exactly one `map` gave out.
    NotMapped,
}

/// One range given out by `map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First address (page-aligned).
    pub start: u64,
    /// Length in pages (at least one).
    pub pages: u64,
}

impl Window {
    /// Returns the address just past the window.
    pub const fn end(&self) -> u64 {
        self.start + self.pages * PAGE_SIZE
    }

    /// Returns the page-aligned address of each page of the window, in order.
    pub fn page_addresses(&self) -> impl Iterator<Item = u64> + use<> {
        let start = self.start;
        (0..self.pages).map(move |index| start + index * PAGE_SIZE)
    }

    /// Returns whether the window shares a byte with `start..end`.
    const fn overlaps(&self, start: u64, end: u64) -> bool {
        start < self.end() && self.start < end
    }
}

/// The mappings one agent holds, with the limits they must stay inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapWindows {
    /// Windows given out, sorted by start, never overlapping.
    windows: Vec<Window>,
    /// Sum of the windows' pages.
    mapped_pages: u64,
    /// Lowest address a window may start at (page-aligned).
    window_start: u64,
    /// Address no window may reach past (page-aligned).
    window_end: u64,
    /// Most pages the windows may hold together.
    quota_pages: u64,
}

impl Default for MapWindows {
    fn default() -> Self {
        Self::new()
    }
}

impl MapWindows {
    /// Returns an empty set with the kernel's window and quota.
    pub const fn new() -> Self {
        Self::with_limits(MAP_WINDOW_START, MAP_WINDOW_END, MAP_QUOTA_PAGES)
    }

    /// Returns an empty set for the window `window_start..window_end` and a
    /// quota of `quota_pages`.
    ///
    /// # Panics
    /// When either bound is not page-aligned or the window is inverted: the
    /// limits are configuration, not input.
    pub const fn with_limits(window_start: u64, window_end: u64, quota_pages: u64) -> Self {
        assert!(window_start.is_multiple_of(PAGE_SIZE) && window_end.is_multiple_of(PAGE_SIZE));
        assert!(window_start <= window_end);
        Self {
            windows: Vec::new(),
            mapped_pages: 0,
            window_start,
            window_end,
            quota_pages,
        }
    }

    /// Returns the windows given out, sorted by start.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Returns the pages mapped, counted against the quota.
    pub const fn mapped_pages(&self) -> u64 {
        self.mapped_pages
    }

    /// Returns the pages still allowed by the quota.
    pub const fn remaining_quota(&self) -> u64 {
        self.quota_pages - self.mapped_pages
    }

    /// Returns the window reserved for `pages` pages at `requested`, or where
    /// the kernel chooses when `requested` is [`ANY_ADDRESS`], and records it.
    ///
    /// The checks run in this order, as the `map` syscall always made them:
    /// empty, quota, placement, overflow, alignment and bounds, overlap. A
    /// refused reservation changes nothing.
    pub fn reserve(&mut self, requested: u64, pages: u64) -> Result<Window, MapWindowError> {
        if pages == 0 {
            return Err(MapWindowError::Empty);
        }
        let total = self
            .mapped_pages
            .checked_add(pages)
            .ok_or(MapWindowError::QuotaExceeded)?;
        if total > self.quota_pages {
            return Err(MapWindowError::QuotaExceeded);
        }
        let start = if requested == ANY_ADDRESS {
            self.choose(pages)?
        } else {
            requested
        };
        let end = pages
            .checked_mul(PAGE_SIZE)
            .and_then(|bytes| start.checked_add(bytes))
            .ok_or(MapWindowError::Overflow)?;
        if !start.is_multiple_of(PAGE_SIZE) {
            return Err(MapWindowError::Misaligned);
        }
        if start < self.window_start || end > self.window_end {
            return Err(MapWindowError::OutsideWindow);
        }
        if self
            .windows
            .iter()
            .any(|window| window.overlaps(start, end))
        {
            return Err(MapWindowError::Overlaps);
        }
        let window = Window { start, pages };
        let index = self.windows.partition_point(|other| other.start < start);
        self.windows.insert(index, window);
        self.mapped_pages = total;
        Ok(window)
    }

    /// Forgets the window of exactly `pages` pages at `start` and returns it
    /// (the kernel then unmaps its pages). Anything else is
    /// [`MapWindowError::NotMapped`] and changes nothing.
    pub fn release(&mut self, start: u64, pages: u64) -> Result<Window, MapWindowError> {
        let index = self
            .windows
            .iter()
            .position(|window| window.start == start && window.pages == pages)
            .ok_or(MapWindowError::NotMapped)?;
        let window = self.windows.remove(index);
        self.mapped_pages -= window.pages;
        Ok(window)
    }

    /// Returns the start of the lowest gap in the window that holds `pages`
    /// pages, if there is one.
    pub fn find_free(&self, pages: u64) -> Option<u64> {
        let bytes = pages.checked_mul(PAGE_SIZE)?;
        let mut candidate = self.window_start;
        for window in &self.windows {
            if window.start.checked_sub(candidate)? >= bytes {
                return Some(candidate);
            }
            candidate = candidate.max(window.end());
        }
        (self.window_end.checked_sub(candidate)? >= bytes).then_some(candidate)
    }

    /// Returns where a mapping of `pages` pages goes when the agent lets the
    /// kernel choose: just above the highest mapping (the window start when
    /// there is none), or, when that does not fit, the lowest gap that does.
    fn choose(&self, pages: u64) -> Result<u64, MapWindowError> {
        let above_highest = self
            .windows
            .iter()
            .map(Window::end)
            .max()
            .unwrap_or(self.window_start);
        let fits = pages
            .checked_mul(PAGE_SIZE)
            .and_then(|bytes| above_highest.checked_add(bytes))
            .is_some_and(|end| end <= self.window_end);
        if fits {
            return Ok(above_highest);
        }
        self.find_free(pages).ok_or(MapWindowError::NoFreeWindow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small window for the placement tests: pages 16..32.
    const SMALL_START: u64 = 16 * PAGE_SIZE;
    /// End of the small window.
    const SMALL_END: u64 = 32 * PAGE_SIZE;

    /// Returns an empty set over the small window with a quota of `quota` pages.
    fn small(quota: u64) -> MapWindows {
        MapWindows::with_limits(SMALL_START, SMALL_END, quota)
    }

    /// Returns the starts of the windows, in order.
    fn starts(windows: &MapWindows) -> Vec<u64> {
        windows
            .windows()
            .iter()
            .map(|window| window.start)
            .collect()
    }

    #[test]
    fn pages_round_up() {
        assert_eq!(pages_for_bytes(0), 0);
        assert_eq!(pages_for_bytes(1), 1);
        assert_eq!(pages_for_bytes(PAGE_SIZE), 1);
        assert_eq!(pages_for_bytes(PAGE_SIZE + 1), 2);
        assert_eq!(pages_for_bytes(u64::MAX), u64::MAX / PAGE_SIZE + 1);
    }

    #[test]
    fn the_kernel_places_mappings_one_above_the_other() {
        let mut windows = MapWindows::new();
        let first = windows.reserve(ANY_ADDRESS, 2).unwrap();
        assert_eq!(
            first,
            Window {
                start: MAP_WINDOW_START,
                pages: 2
            }
        );
        let second = windows.reserve(ANY_ADDRESS, 1).unwrap();
        assert_eq!(second.start, MAP_WINDOW_START + 2 * PAGE_SIZE);
        assert_eq!(windows.mapped_pages(), 3);
        assert_eq!(windows.remaining_quota(), MAP_QUOTA_PAGES - 3);
    }

    #[test]
    fn an_explicit_address_is_taken_as_asked() {
        let mut windows = MapWindows::new();
        let wanted = MAP_WINDOW_START + 0x10_0000;
        assert_eq!(windows.reserve(wanted, 4).unwrap().start, wanted);
        // The kernel's choice goes above the highest mapping, not into the gap.
        assert_eq!(
            windows.reserve(ANY_ADDRESS, 1).unwrap().start,
            wanted + 4 * PAGE_SIZE
        );
    }

    #[test]
    fn bad_placements_are_refused() {
        let mut windows = MapWindows::new();
        assert_eq!(
            windows.reserve(MAP_WINDOW_START + 1, 1),
            Err(MapWindowError::Misaligned)
        );
        assert_eq!(
            windows.reserve(MAP_WINDOW_START - PAGE_SIZE, 1),
            Err(MapWindowError::OutsideWindow)
        );
        assert_eq!(
            windows.reserve(MAP_WINDOW_END, 1),
            Err(MapWindowError::OutsideWindow)
        );
        assert_eq!(
            windows.reserve(MAP_WINDOW_END - PAGE_SIZE, 2),
            Err(MapWindowError::OutsideWindow)
        );
        assert!(windows.reserve(MAP_WINDOW_END - PAGE_SIZE, 1).is_ok());
        assert_eq!(windows.reserve(0x1000, 0), Err(MapWindowError::Empty));
    }

    #[test]
    fn wrapping_ranges_overflow() {
        let mut windows = MapWindows::with_limits(0, 0, u64::MAX);
        assert_eq!(
            windows.reserve(u64::MAX - PAGE_SIZE + 1, 1),
            Err(MapWindowError::Overflow)
        );
        assert_eq!(
            windows.reserve(PAGE_SIZE, u64::MAX / PAGE_SIZE),
            Err(MapWindowError::Overflow)
        );
        assert_eq!(
            windows.reserve(PAGE_SIZE, u64::MAX),
            Err(MapWindowError::Overflow)
        );
        // An overflowing start is refused before its misalignment is noticed.
        assert_eq!(windows.reserve(u64::MAX, 1), Err(MapWindowError::Overflow));
        assert!(windows.windows().is_empty());
    }

    #[test]
    fn overlaps_are_refused_and_neighbours_allowed() {
        let mut windows = small(64);
        windows.reserve(20 * PAGE_SIZE, 4).unwrap();
        for (start, pages) in [(20, 4), (18, 3), (23, 1), (19, 6), (21, 1)] {
            assert_eq!(
                windows.reserve(start * PAGE_SIZE, pages),
                Err(MapWindowError::Overlaps),
                "pages {start}..{}",
                start + pages
            );
        }
        assert!(windows.reserve(16 * PAGE_SIZE, 4).is_ok());
        assert!(windows.reserve(24 * PAGE_SIZE, 8).is_ok());
        assert_eq!(starts(&windows), [16, 20, 24].map(|page| page * PAGE_SIZE));
    }

    #[test]
    fn the_quota_is_exact() {
        let mut windows = MapWindows::new();
        windows.reserve(ANY_ADDRESS, MAP_QUOTA_PAGES - 1).unwrap();
        assert_eq!(
            windows.reserve(ANY_ADDRESS, 2),
            Err(MapWindowError::QuotaExceeded)
        );
        windows.reserve(ANY_ADDRESS, 1).unwrap();
        assert_eq!(windows.remaining_quota(), 0);
        assert_eq!(
            windows.reserve(ANY_ADDRESS, 1),
            Err(MapWindowError::QuotaExceeded)
        );
        // The quota is checked before anything else about the request.
        assert_eq!(windows.reserve(1, 1), Err(MapWindowError::QuotaExceeded));
        let mut fresh = MapWindows::new();
        assert_eq!(
            fresh.reserve(ANY_ADDRESS, u64::MAX),
            Err(MapWindowError::QuotaExceeded)
        );
        let mut unlimited = MapWindows::with_limits(0, 0, u64::MAX);
        unlimited.mapped_pages = u64::MAX;
        assert_eq!(
            unlimited.reserve(ANY_ADDRESS, 1),
            Err(MapWindowError::QuotaExceeded)
        );
    }

    #[test]
    fn only_exactly_a_given_range_is_released() {
        let mut windows = MapWindows::new();
        let window = windows.reserve(ANY_ADDRESS, 3).unwrap();
        let before = windows.clone();
        for (start, pages) in [
            (window.start, 2),
            (window.start, 4),
            (window.start + PAGE_SIZE, 2),
            (window.start, 0),
            (0x40_0000, 3),
        ] {
            assert_eq!(
                windows.release(start, pages),
                Err(MapWindowError::NotMapped)
            );
            assert_eq!(windows, before, "a refused release changes nothing");
        }
        assert_eq!(windows.release(window.start, 3), Ok(window));
        assert_eq!(windows.mapped_pages(), 0);
        assert_eq!(
            windows.release(window.start, 3),
            Err(MapWindowError::NotMapped),
            "a range is released once"
        );
    }

    #[test]
    fn releasing_returns_quota_and_the_top_is_reused() {
        let mut windows = MapWindows::new();
        let low = windows.reserve(ANY_ADDRESS, 1).unwrap();
        let high = windows.reserve(ANY_ADDRESS, 1).unwrap();
        windows.release(high.start, 1).unwrap();
        assert_eq!(windows.reserve(ANY_ADDRESS, 1).unwrap(), high);
        // A gap below the highest mapping is not reused while the top has room.
        windows.release(low.start, 1).unwrap();
        assert_eq!(
            windows.reserve(ANY_ADDRESS, 1).unwrap().start,
            high.start + PAGE_SIZE
        );
    }

    #[test]
    fn a_full_top_falls_back_to_the_lowest_gap() {
        let mut windows = small(64);
        windows.reserve(SMALL_END - PAGE_SIZE, 1).unwrap();
        assert_eq!(windows.reserve(ANY_ADDRESS, 4).unwrap().start, SMALL_START);
        windows.reserve(22 * PAGE_SIZE, 2).unwrap();
        // Pages 20 and 21 are free, then 24..31.
        assert_eq!(windows.find_free(2), Some(20 * PAGE_SIZE));
        assert_eq!(windows.find_free(3), Some(24 * PAGE_SIZE));
        assert_eq!(
            windows.reserve(ANY_ADDRESS, 7).unwrap().start,
            24 * PAGE_SIZE
        );
        assert_eq!(windows.find_free(3), None);
        assert_eq!(
            windows.reserve(ANY_ADDRESS, 3),
            Err(MapWindowError::NoFreeWindow)
        );
        assert_eq!(
            windows.reserve(ANY_ADDRESS, 2).unwrap().start,
            20 * PAGE_SIZE
        );
        assert_eq!(windows.find_free(1), None);
        assert_eq!(windows.mapped_pages(), 16);
    }

    #[test]
    fn find_free_handles_empty_and_impossible_requests() {
        let windows = small(64);
        assert_eq!(windows.find_free(16), Some(SMALL_START));
        assert_eq!(windows.find_free(17), None);
        assert_eq!(windows.find_free(u64::MAX), None);
        assert_eq!(MapWindows::with_limits(0, 0, 1).find_free(1), None);
    }

    #[test]
    fn page_addresses_walk_the_window() {
        let window = Window {
            start: MAP_WINDOW_START,
            pages: 3,
        };
        assert_eq!(window.end(), MAP_WINDOW_START + 3 * PAGE_SIZE);
        assert_eq!(
            window.page_addresses().collect::<Vec<_>>(),
            [0, 1, 2].map(|page| MAP_WINDOW_START + page * PAGE_SIZE)
        );
    }

    #[test]
    #[should_panic]
    fn misaligned_limits_are_a_configuration_error() {
        let _ = MapWindows::with_limits(1, PAGE_SIZE, 1);
    }

    #[test]
    fn random_operations_keep_the_invariants() {
        let mut windows = small(12);
        let mut state = 0x853C_49E6_748F_EA9B_u64;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let pages = (state >> 33) % 6;
            let page = (state >> 40) % 40;
            let before = windows.clone();
            let result = if state >> 63 == 0 {
                let requested = if page.is_multiple_of(3) {
                    ANY_ADDRESS
                } else {
                    page * PAGE_SIZE
                };
                windows.reserve(requested, pages).map(|_| ())
            } else {
                windows.release(page * PAGE_SIZE, pages).map(|_| ())
            };
            if result.is_err() {
                assert_eq!(windows, before, "a refusal changes nothing");
            }
            let list = windows.windows();
            assert_eq!(
                list.iter().map(|window| window.pages).sum::<u64>(),
                windows.mapped_pages()
            );
            assert!(windows.mapped_pages() <= 12);
            for pair in list.windows(2) {
                assert!(pair[0].end() <= pair[1].start, "sorted, apart: {pair:?}");
            }
            for window in list {
                assert!(window.pages > 0);
                assert_eq!(window.start % PAGE_SIZE, 0);
                assert!(window.start >= SMALL_START && window.end() <= SMALL_END);
            }
        }
    }
}
