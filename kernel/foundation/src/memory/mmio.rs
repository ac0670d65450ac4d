//! Device memory (PCI BARs, ECAM, the local APIC) mapped uncached into the MMIO region.
//!
//! Device registers above RAM are not in the bootloader's physical-memory
//! window, and RAM-style caching would break them anyway. [`map`] maps a
//! physical range into the kernel's MMIO region
//! ([`super::layout::MMIO_START`]) with `PRESENT | WRITABLE | NO_CACHE |
//! WRITE_THROUGH | NO_EXECUTE`, using 2 MiB pages for large aligned ranges
//! (an ECAM window is up to 256 MiB). Mappings are permanent: devices are
//! found once at boot and stay.

use core::ptr::NonNull;

use spin::Mutex;
use x86_64::{
    PhysAddr, VirtAddr,
    structures::paging::{Page, PageTableFlags, PhysFrame, Size2MiB, Size4KiB},
};

use super::{frame::FRAME_SIZE, layout, paging};
use crate::arch::cpu::without_interrupts;
use crate::io::IoMem;

/// Size of a large page.
const LARGE_PAGE_SIZE: u64 = 2 * 1024 * 1024;

/// Next free address of the MMIO region.
static NEXT: Mutex<u64> = Mutex::new(layout::MMIO_START);

/// Why a range could not be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmioError {
    /// The range is empty or wraps.
    BadRange,
    /// The MMIO region is full.
    RegionFull,
    /// A page table could not be allocated or the page was mapped.
    MapFailed,
}

/// Maps `size` bytes of device memory at `physical` uncached; returns the
/// virtual address of `physical` itself (the offset in its page is kept).
pub fn map(physical: PhysAddr, size: u64) -> Result<NonNull<u8>, MmioError> {
    let end = physical
        .as_u64()
        .checked_add(size)
        .filter(|_| size > 0)
        .ok_or(MmioError::BadRange)?;
    let large =
        physical.as_u64().is_multiple_of(LARGE_PAGE_SIZE) && size.is_multiple_of(LARGE_PAGE_SIZE);
    let page_size = if large { LARGE_PAGE_SIZE } else { FRAME_SIZE };
    let first = physical.as_u64() & !(page_size - 1);
    let length = end.next_multiple_of(page_size) - first;
    let virtual_start = reserve(length, page_size)?;
    let flags = PageTableFlags::PRESENT
        | PageTableFlags::WRITABLE
        | PageTableFlags::NO_CACHE
        | PageTableFlags::WRITE_THROUGH
        | PageTableFlags::NO_EXECUTE;
    let mut offset = 0;
    while offset < length {
        let frame_address = PhysAddr::new(first + offset);
        let page_address = VirtAddr::new(virtual_start + offset);
        let result = if large {
            // SAFETY: (1) the caller maps device memory, which the frame
            // allocator never hands out (it serves `Usable` RAM only);
            // (2) the virtual range was just reserved, so nothing aliases it,
            // and device memory is only accessed volatilely by drivers.
            unsafe {
                paging::map_existing(
                    Page::<Size2MiB>::containing_address(page_address),
                    PhysFrame::<Size2MiB>::containing_address(frame_address),
                    flags,
                )
            }
            .map_err(|_| MmioError::MapFailed)
        } else {
            // SAFETY: as above, for a 4 KiB page.
            unsafe {
                paging::map_existing(
                    Page::<Size4KiB>::containing_address(page_address),
                    PhysFrame::<Size4KiB>::containing_address(frame_address),
                    flags,
                )
            }
            .map_err(|_| MmioError::MapFailed)
        };
        result?;
        offset += page_size;
    }
    let address = virtual_start + (physical.as_u64() - first);
    NonNull::new(address as *mut u8).ok_or(MmioError::BadRange)
}

/// Takes `length` bytes (aligned to `alignment`) of the MMIO region.
fn reserve(length: u64, alignment: u64) -> Result<u64, MmioError> {
    without_interrupts(|| {
        let mut next = NEXT.lock();
        let start = next.next_multiple_of(alignment);
        let end = start.checked_add(length).ok_or(MmioError::RegionFull)?;
        if end > layout::MMIO_START + layout::MMIO_SIZE {
            return Err(MmioError::RegionFull);
        }
        *next = end;
        Ok(start)
    })
}

/// Maps `size` bytes of device memory at `physical` (a memory BAR, an ECAM
/// window) uncached for good; returns the window drivers reach it through.
pub fn map_window(physical: PhysAddr, size: u64) -> Result<IoMem, MmioError> {
    let length = usize::try_from(size).map_err(|_| MmioError::BadRange)?;
    let base = map(physical, size)?;
    // SAFETY: (1) `base` starts a permanent uncached mapping of exactly this
    // device range, made just above; (2) MMIO mappings are never used as
    // ordinary memory (the frame allocator never hands out device memory).
    Ok(unsafe { IoMem::new(base, length, physical.as_u64()) })
}
