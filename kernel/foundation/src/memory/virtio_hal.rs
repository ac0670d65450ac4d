//! The `virtio-drivers` HAL: DMA pages from the frame allocator, device registers through the MMIO region.
//!
//! `virtio-drivers` asks its [`Hal`] for three things: DMA memory for the
//! virtqueues ([`Hal::dma_alloc`]), a virtual address for a device register
//! range ([`Hal::mmio_phys_to_virt`], served by [`super::mmio::map`]) and the
//! bus address of a driver buffer for the time of one request
//! ([`Hal::share`]). Driver buffers live on the heap or a stack, whose pages
//! need not be physically contiguous, so `share` copies each buffer into
//! fresh frames (a bounce buffer) and `unshare` copies the device's answer
//! back. There is no IOMMU: bus addresses are physical addresses.

use core::ptr::NonNull;

use virtio_drivers::{BufferDirection, Hal, PhysAddr as BusAddress};
use x86_64::{PhysAddr, structures::paging::PhysFrame};

use super::{
    frame::{self, FRAME_SIZE},
    mmio, physical_to_virtual,
};

/// The kernel's implementation of the `virtio-drivers` HAL.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelHal;

/// Returns the frames needed for `bytes` (at least one).
fn frames_for(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(FRAME_SIZE).max(1)
}

/// Returns the first of `count` contiguous frames (single frames come from
/// the free list, so short-lived bounce buffers recycle memory).
fn allocate_run(count: u64) -> Option<PhysFrame> {
    if count == 1 {
        frame::allocate()
    } else {
        frame::allocate_contiguous(count)
    }
}

/// Frees `count` frames starting at `physical`.
///
/// # Safety
/// 1. The frames came from [`allocate_run`] and were not freed since.
/// 2. Nothing (no device, no pointer) uses them any more.
unsafe fn free_run(physical: u64, count: u64) {
    for index in 0..count {
        let address = PhysAddr::new(physical + index * FRAME_SIZE);
        // SAFETY: the caller guarantees both conditions for the whole run.
        unsafe { frame::deallocate(PhysFrame::containing_address(address)) };
    }
}

/// Returns the kernel's pointer to physical `address`.
fn window_pointer(address: u64) -> *mut u8 {
    physical_to_virtual(PhysAddr::new(address)).as_mut_ptr::<u8>()
}

// SAFETY: (1) `dma_alloc` returns zeroed, physically contiguous frames that
// are owned by the caller until `dma_dealloc`, with their kernel pointer in
// the physical-memory window; (2) `mmio_phys_to_virt` returns an uncached
// mapping of exactly the asked range; (3) `share` hands the device a bounce
// copy that stays valid until `unshare`, which copies it back and frees it.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (BusAddress, NonNull<u8>) {
        let count = frames_for(pages * FRAME_SIZE as usize);
        let Some(first) = allocate_run(count) else {
            // `virtio-drivers` reports a zero address as `Error::DmaError`.
            return (0, NonNull::dangling());
        };
        let physical = first.start_address().as_u64();
        let pointer = window_pointer(physical);
        // SAFETY: the run was just allocated (no other user) and the
        // physical-memory window maps all of its bytes writable.
        unsafe { pointer.write_bytes(0, (count * FRAME_SIZE) as usize) };
        match NonNull::new(pointer) {
            Some(pointer) => (physical, pointer),
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(paddr: BusAddress, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: `virtio-drivers` frees only what `dma_alloc` gave it, once,
        // after the device stopped using it (its `Dma` drop contract).
        unsafe { free_run(paddr, frames_for(pages * FRAME_SIZE as usize)) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: BusAddress, size: usize) -> NonNull<u8> {
        match mmio::map(PhysAddr::new(paddr), size as u64) {
            Ok(pointer) => pointer,
            // The trait has no error path; a device whose registers cannot
            // be mapped (MMIO region exhausted) cannot be driven at all.
            Err(error) => panic!("virtio: cannot map registers at {paddr:#x}: {error:?}"),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> BusAddress {
        let length = buffer.len();
        let Some(first) = allocate_run(frames_for(length)) else {
            panic!("virtio: no memory for a {length}-byte bounce buffer");
        };
        let physical = first.start_address().as_u64();
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: (1) the caller keeps `buffer` valid for reading until
            // `unshare`; (2) the bounce frames were just allocated and hold
            // at least `length` bytes; the two do not overlap.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    buffer.as_ptr().cast::<u8>(),
                    window_pointer(physical),
                    length,
                );
            }
        }
        physical
    }

    unsafe fn unshare(paddr: BusAddress, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let length = buffer.len();
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: (1) `paddr` is the bounce copy `share` made for this
            // buffer, which the device has finished with; (2) the caller
            // keeps `buffer` valid for writing; they do not overlap.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    window_pointer(paddr),
                    buffer.as_ptr().cast::<u8>(),
                    length,
                );
            }
        }
        // SAFETY: the bounce frames came from `allocate_run` in `share` and
        // the device no longer uses them.
        unsafe { free_run(paddr, frames_for(length)) };
    }
}
