//! DMA buffers: single frames below a device's address limit.
//!
//! A device that masters the bus sees RAM by physical (bus) address and may
//! accept only addresses below a limit (QEMU's `edu` takes 28 bits). A
//! [`DmaBuffer`] owns one frame below the limit asked for, reachable by the
//! CPU through the physical-memory window; it is freed on drop.

use x86_64::{PhysAddr, structures::paging::PhysFrame};

use super::frame::{self, FRAME_SIZE};

/// One frame of RAM a device may read and write by DMA.
#[derive(Debug)]
pub struct DmaBuffer {
    frame: PhysFrame,
}

impl DmaBuffer {
    /// Returns a zeroed buffer whose bus addresses lie below `limit`, or
    /// `None` when no such frame is free.
    pub fn below(limit: u64) -> Option<Self> {
        let frame = frame::allocate_below(limit)?;
        let mut buffer = Self { frame };
        buffer.bytes_mut().fill(0);
        Some(buffer)
    }

    /// Returns the bus address of the first byte.
    pub fn bus_address(&self) -> u64 {
        self.frame.start_address().as_u64()
    }

    /// Returns the size in bytes.
    pub const fn len(&self) -> usize {
        FRAME_SIZE as usize
    }

    /// Returns false: a buffer is never empty.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Returns the buffer's bytes.
    ///
    /// Read them only while no device writes the buffer (after the
    /// transfer completed); the device's writes are ordinary memory writes
    /// the CPU sees once the transfer is reported done.
    pub fn bytes(&self) -> &[u8] {
        let pointer = super::physical_to_virtual(self.frame.start_address()).as_ptr::<u8>();
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        // SAFETY: the frame is owned by this buffer (allocated, not freed),
        // mapped in the physical-memory window for FRAME_SIZE bytes; the
        // borrow of `self` keeps it alive and `bytes_mut` from aliasing.
        unsafe { core::slice::from_raw_parts(pointer, self.len()) }
    }

    /// Returns the buffer's bytes for writing (before a transfer starts).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let pointer = super::physical_to_virtual(self.frame.start_address()).as_mut_ptr::<u8>();
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        // SAFETY: as in `bytes`; the exclusive borrow of `self` makes this
        // the only reference.
        unsafe { core::slice::from_raw_parts_mut(pointer, self.len()) }
    }

    /// Returns the physical address (same as the bus address here: no IOMMU).
    pub fn physical_address(&self) -> PhysAddr {
        self.frame.start_address()
    }
}

impl Drop for DmaBuffer {
    fn drop(&mut self) {
        // SAFETY: the frame came from `allocate_below` and the buffer is its
        // only owner; its owner must not drop it while a device transfer to
        // it runs (the accelerator pool keeps buffers for good).
        unsafe { frame::deallocate(self.frame) };
    }
}

/// Physically contiguous frames a device reads by DMA (a display's backing
/// memory): zeroed at creation, freed on drop.
#[derive(Debug)]
pub struct DmaRegion {
    first: PhysFrame,
    frames: u64,
}

impl DmaRegion {
    /// Returns a zeroed region of at least `bytes` bytes, or `None` when no
    /// contiguous run that long is free.
    pub fn new(bytes: usize) -> Option<Self> {
        let frames = (bytes as u64).div_ceil(FRAME_SIZE).max(1);
        let first = frame::allocate_contiguous(frames)?;
        let mut region = Self { first, frames };
        region.bytes_mut().fill(0);
        Some(region)
    }

    /// Returns the bus (physical) address of the first byte.
    pub fn bus_address(&self) -> u64 {
        self.first.start_address().as_u64()
    }

    /// Returns the size in bytes.
    pub fn len(&self) -> usize {
        (self.frames * FRAME_SIZE) as usize
    }

    /// Returns false: a region is never empty.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Returns the region's bytes for writing.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let pointer = super::physical_to_virtual(self.first.start_address()).as_mut_ptr::<u8>();
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        // SAFETY: the run of frames is owned by this region (allocated as
        // one contiguous run, not freed), mapped in the physical-memory
        // window for `len` bytes; the exclusive borrow makes this the only
        // reference.
        unsafe { core::slice::from_raw_parts_mut(pointer, self.len()) }
    }
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        for index in 0..self.frames {
            let address = self.first.start_address() + index * FRAME_SIZE;
            // SAFETY: every frame of the run came from `allocate_contiguous`
            // and the region is its only owner; its owner drops it only
            // after the device stopped reading it.
            unsafe { frame::deallocate(PhysFrame::containing_address(address)) };
        }
    }
}
