//! The physical frame allocator over the bootloader's memory map.
//!
//! Only regions the map marks `Usable` are handed out, and never a frame below
//! [`LOW_MEMORY_LIMIT`] (firmware data, real-mode structures). Fresh frames are
//! taken in address order from each region; freed frames go on a free list
//! threaded through the frames themselves (each free frame stores the address of
//! the next one in its first eight bytes), so the allocator needs no heap.

use bootloader_api::info::{MemoryRegion, MemoryRegionKind};
use spin::Mutex;
use x86_64::{
    PhysAddr,
    structures::paging::{FrameAllocator, FrameDeallocator, PhysFrame, Size4KiB},
};

use crate::arch::cpu::without_interrupts;

/// Size of one frame.
pub const FRAME_SIZE: u64 = 4096;
/// Frames below this physical address are never handed out.
pub const LOW_MEMORY_LIMIT: u64 = 0x10_0000;
/// Most usable regions tracked; a larger map is truncated (and logged).
const MAX_REGIONS: usize = 256;
/// Marks the end of the free list.
const FREE_LIST_END: u64 = u64::MAX;

#[derive(Debug, Clone, Copy, Default)]
struct Region {
    /// First frame address, aligned up.
    start: u64,
    /// End address (exclusive), aligned down.
    end: u64,
}

/// Counters describing the allocator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Usable regions tracked.
    pub regions: usize,
    /// Bytes in usable frames.
    pub usable_bytes: u64,
    /// Frames that can still be allocated.
    pub free_frames: u64,
    /// Frames currently allocated.
    pub allocated_frames: u64,
}

struct Allocator {
    regions: [Region; MAX_REGIONS],
    region_count: usize,
    /// Index of the region fresh frames come from.
    current_region: usize,
    /// Next fresh frame in the current region.
    next_fresh: u64,
    free_list_head: u64,
    free_list_len: u64,
    total_frames: u64,
    allocated: u64,
}

static ALLOCATOR: Mutex<Allocator> = Mutex::new(Allocator {
    regions: [Region { start: 0, end: 0 }; MAX_REGIONS],
    region_count: 0,
    current_region: 0,
    next_fresh: 0,
    free_list_head: FREE_LIST_END,
    free_list_len: 0,
    total_frames: 0,
    allocated: 0,
});

/// Takes the usable regions of `memory_map`.
pub fn init(memory_map: &[MemoryRegion]) {
    without_interrupts(|| {
        let mut allocator = ALLOCATOR.lock();
        let mut dropped = 0;
        for region in memory_map.iter() {
            if region.kind != MemoryRegionKind::Usable {
                continue;
            }
            let start = align_up(region.start.max(LOW_MEMORY_LIMIT));
            let end = region.end & !(FRAME_SIZE - 1);
            if start >= end {
                continue;
            }
            if allocator.region_count == MAX_REGIONS {
                dropped += 1;
                continue;
            }
            let index = allocator.region_count;
            allocator.regions[index] = Region { start, end };
            allocator.region_count += 1;
            allocator.total_frames += (end - start) / FRAME_SIZE;
        }
        allocator.next_fresh = allocator.regions[0].start;
        if dropped > 0 {
            log::warn!("frame allocator: {dropped} usable regions beyond {MAX_REGIONS} ignored");
        }
    });
}

fn align_up(address: u64) -> u64 {
    (address + FRAME_SIZE - 1) & !(FRAME_SIZE - 1)
}

impl Allocator {
    fn allocate(&mut self) -> Option<PhysFrame> {
        let address = if self.free_list_head != FREE_LIST_END {
            let address = self.free_list_head;
            let link = super::physical_to_virtual(PhysAddr::new(address)).as_ptr::<u64>();
            // SAFETY: `address` is a free frame owned by the allocator, mapped
            // in the physical-memory window; its first word holds the next
            // link, written by `deallocate`.
            self.free_list_head = unsafe { link.read() };
            self.free_list_len -= 1;
            address
        } else {
            self.next_fresh_frame()?
        };
        self.allocated += 1;
        Some(PhysFrame::containing_address(PhysAddr::new(address)))
    }

    fn allocate_below(&mut self, limit: u64) -> Option<PhysFrame> {
        let fits = |address: u64| {
            address
                .checked_add(FRAME_SIZE)
                .is_some_and(|end| end <= limit)
        };
        let mut previous: Option<u64> = None;
        let mut current = self.free_list_head;
        while current != FREE_LIST_END {
            let link = super::physical_to_virtual(PhysAddr::new(current)).as_mut_ptr::<u64>();
            // SAFETY: `current` is a free frame on the list, owned by the
            // allocator and mapped in the physical-memory window; its first
            // word is the next link (written by `deallocate`).
            let next = unsafe { link.read() };
            if fits(current) {
                match previous {
                    None => self.free_list_head = next,
                    Some(previous) => {
                        let previous_link =
                            super::physical_to_virtual(PhysAddr::new(previous)).as_mut_ptr::<u64>();
                        // SAFETY: `previous` is the free frame linking to
                        // `current`, owned by the allocator, mapped, aligned.
                        unsafe { previous_link.write(next) };
                    }
                }
                self.free_list_len -= 1;
                self.allocated += 1;
                return Some(PhysFrame::containing_address(PhysAddr::new(current)));
            }
            previous = Some(current);
            current = next;
        }
        let region = *self.regions[..self.region_count].get(self.current_region)?;
        let fresh = self.next_fresh.max(region.start);
        if fresh < region.end && fits(fresh) {
            self.next_fresh = fresh + FRAME_SIZE;
            self.allocated += 1;
            return Some(PhysFrame::containing_address(PhysAddr::new(fresh)));
        }
        None
    }

    fn allocate_contiguous(&mut self, count: u64) -> Option<u64> {
        let bytes = count.checked_mul(FRAME_SIZE).filter(|bytes| *bytes > 0)?;
        while self.current_region < self.region_count {
            let region = self.regions[self.current_region];
            let start = self.next_fresh.max(region.start);
            if start
                .checked_add(bytes)
                .is_some_and(|end| end <= region.end)
            {
                self.next_fresh = start + bytes;
                self.allocated += count;
                return Some(start);
            }
            // The rest of this region is too short: keep its frames on the
            // free list and carve the run from the next region.
            let mut address = start;
            while address < region.end {
                let link = super::physical_to_virtual(PhysAddr::new(address)).as_mut_ptr::<u64>();
                // SAFETY: `address` is a fresh frame of a usable region that
                // was never handed out; the allocator owns it, and the
                // physical-memory window maps it writable and aligned.
                unsafe { link.write(self.free_list_head) };
                self.free_list_head = address;
                self.free_list_len += 1;
                address += FRAME_SIZE;
            }
            self.current_region += 1;
            if let Some(next) = self.regions[..self.region_count].get(self.current_region) {
                self.next_fresh = next.start;
            }
        }
        None
    }

    fn next_fresh_frame(&mut self) -> Option<u64> {
        while self.current_region < self.region_count {
            let region = self.regions[self.current_region];
            if self.next_fresh < region.end {
                let address = self.next_fresh;
                self.next_fresh += FRAME_SIZE;
                return Some(address);
            }
            self.current_region += 1;
            if let Some(next) = self.regions[..self.region_count].get(self.current_region) {
                self.next_fresh = next.start;
            }
        }
        None
    }

    fn owns(&self, address: u64) -> bool {
        self.regions[..self.region_count]
            .iter()
            .any(|region| region.start <= address && address < region.end)
    }

    fn deallocate(&mut self, frame: PhysFrame) {
        let address = frame.start_address().as_u64();
        if !self.owns(address) {
            log::error!("frame allocator: refusing to free foreign frame {address:#x}");
            return;
        }
        let link = super::physical_to_virtual(frame.start_address()).as_mut_ptr::<u64>();
        // SAFETY: the caller gives the frame back (see `deallocate_frame`), so
        // nothing else uses it; it is mapped in the physical-memory window and
        // frame-aligned, so the first word is writable and aligned.
        unsafe { link.write(self.free_list_head) };
        self.free_list_head = address;
        self.free_list_len += 1;
        self.allocated -= 1;
    }

    fn stats(&self) -> FrameStats {
        let fresh_left: u64 = self.regions[..self.region_count]
            .iter()
            .enumerate()
            .skip(self.current_region)
            .map(|(index, region)| {
                let start = if index == self.current_region {
                    self.next_fresh.max(region.start)
                } else {
                    region.start
                };
                region.end.saturating_sub(start) / FRAME_SIZE
            })
            .sum();
        FrameStats {
            regions: self.region_count,
            usable_bytes: self.total_frames * FRAME_SIZE,
            free_frames: fresh_left + self.free_list_len,
            allocated_frames: self.allocated,
        }
    }
}

/// Returns a free frame, or `None` when physical memory is exhausted.
pub(crate) fn allocate() -> Option<PhysFrame> {
    without_interrupts(|| ALLOCATOR.lock().allocate())
}

/// Returns a free frame whose end lies at or below `limit` (for devices
/// that address only part of RAM), or `None` when none is free.
///
/// Looks at the free list first (unlinking the first fitting frame), then
/// at the next fresh frame. Fresh frames are handed out in address order,
/// so once the fresh pointer passed `limit`, only freed frames can serve.
pub(crate) fn allocate_below(limit: u64) -> Option<PhysFrame> {
    without_interrupts(|| ALLOCATOR.lock().allocate_below(limit))
}

/// Returns the first of `count` physically contiguous free frames (for
/// device buffers larger than a frame), or `None` when no fresh run that
/// long is left. Each frame may later be freed on its own.
pub(crate) fn allocate_contiguous(count: u64) -> Option<PhysFrame> {
    let address = without_interrupts(|| ALLOCATOR.lock().allocate_contiguous(count))?;
    Some(PhysFrame::containing_address(PhysAddr::new(address)))
}

/// Returns a free frame filled with zeros.
pub(crate) fn allocate_zeroed() -> Option<PhysFrame> {
    let frame = allocate()?;
    let pointer = super::physical_to_virtual(frame.start_address()).as_mut_ptr::<u8>();
    // SAFETY: the frame was just allocated, so nothing else references it,
    // and the physical-memory window maps all FRAME_SIZE bytes writable.
    unsafe { pointer.write_bytes(0, FRAME_SIZE as usize) };
    Some(frame)
}

/// Gives `frame` back.
///
/// # Safety
/// 1. `frame` came from [`allocate`] or [`allocate_zeroed`] and was not freed since.
/// 2. Nothing (no mapping, no pointer) uses it any more.
pub(crate) unsafe fn deallocate(frame: PhysFrame) {
    without_interrupts(|| ALLOCATOR.lock().deallocate(frame));
}

/// Returns the allocator's counters.
pub fn stats() -> FrameStats {
    without_interrupts(|| ALLOCATOR.lock().stats())
}

/// The global frame allocator as the `x86_64` crate's allocator traits want it.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalFrameAllocator;

// SAFETY: `allocate` only returns frames from usable regions that it never
// hands out twice until they are deallocated.
unsafe impl FrameAllocator<Size4KiB> for GlobalFrameAllocator {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        allocate_zeroed()
    }
}

impl FrameDeallocator<Size4KiB> for GlobalFrameAllocator {
    unsafe fn deallocate_frame(&mut self, frame: PhysFrame<Size4KiB>) {
        // SAFETY: the caller of `deallocate_frame` upholds the same contract.
        unsafe { deallocate(frame) };
    }
}

/// One physical frame, owned: dropping it gives it back to the allocator.
///
/// The safe way for code above the foundation to hold RAM by the frame
/// (tests, bookkeeping); the memory itself is reached only through the
/// foundation's own types (address spaces, DMA buffers).
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    frame: PhysFrame,
}

impl Frame {
    /// Returns a free frame, or `None` when physical memory is exhausted.
    pub fn allocate() -> Option<Self> {
        allocate().map(|frame| Self { frame })
    }

    /// Returns a free frame filled with zeros.
    pub fn allocate_zeroed() -> Option<Self> {
        allocate_zeroed().map(|frame| Self { frame })
    }

    /// Returns the frame's physical address.
    pub fn start_address(&self) -> PhysAddr {
        self.frame.start_address()
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // SAFETY: the frame came from the allocator when this value was made
        // and this value is its only owner; nothing maps it (the owner only
        // ever saw its address).
        unsafe { deallocate(self.frame) };
    }
}
