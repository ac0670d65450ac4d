//! Memory management: physical frames, page tables and the kernel heap.
//!
//! The bootloader maps all physical memory at a dynamic offset; the kernel
//! reaches any frame through that window ([`physical_to_virtual`]).

pub mod acpi;
pub mod address_space;
pub mod dma;
pub mod frame;
pub mod heap;
pub mod layout;
pub mod mmio;
pub mod paging;
pub mod selftest;
pub mod stack;
pub mod user;
pub mod virtio_hal;

use core::sync::atomic::{AtomicU64, Ordering};

use bootloader_api::info::MemoryRegion;
use spin::Once;
use x86_64::{PhysAddr, VirtAddr};

static MEMORY_MAP: Once<&'static [MemoryRegion]> = Once::new();
static PHYSICAL_MEMORY_OFFSET: AtomicU64 = AtomicU64::new(0);

/// Sets up frames, paging and the heap from the bootloader's hand-over.
///
/// # Panics
/// Panics when the bootloader did not map physical memory (the
/// [`crate::BOOTLOADER_CONFIG`] asks it to) or the heap cannot be mapped.
pub fn init(physical_memory_offset: Option<u64>, memory_map: &'static [MemoryRegion]) {
    let offset = physical_memory_offset.expect("bootloader did not map physical memory");
    PHYSICAL_MEMORY_OFFSET.store(offset, Ordering::Relaxed);
    MEMORY_MAP.call_once(|| memory_map);
    frame::init(memory_map);
    paging::init(VirtAddr::new(offset));
    heap::init().expect("kernel heap could not be mapped");
    stack::init();
    let frames = frame::stats();
    log::info!(
        "memory: {} MiB usable in {} regions, {} frames free, heap {} KiB at {:#x}",
        frames.usable_bytes / (1024 * 1024),
        frames.regions,
        frames.free_frames,
        heap::HEAP_SIZE / 1024,
        heap::HEAP_START
    );
}

/// Returns the virtual address at which `physical` is reachable.
pub fn physical_to_virtual(physical: PhysAddr) -> VirtAddr {
    VirtAddr::new(PHYSICAL_MEMORY_OFFSET.load(Ordering::Relaxed) + physical.as_u64())
}

static RAMDISK: Once<&'static [u8]> = Once::new();

/// Takes the ramdisk the bootloader loaded at virtual `address` (`len` bytes).
pub fn set_ramdisk(address: Option<u64>, length: u64) {
    let Some(address) = address.filter(|_| length > 0) else {
        return;
    };
    let Ok(length) = usize::try_from(length) else {
        return;
    };
    RAMDISK.call_once(|| {
        // SAFETY: (1) the bootloader maps the ramdisk at `address` for
        // `length` bytes, readable, for the kernel's whole run (it is never
        // unmapped or reused); (2) nothing writes to it, so a shared slice
        // is sound.
        unsafe { core::slice::from_raw_parts(address as *const u8, length) }
    });
}

/// Returns the boot ramdisk's bytes (empty when there is none).
pub fn ramdisk() -> &'static [u8] {
    RAMDISK.get().copied().unwrap_or(&[])
}

/// Returns the bootloader's memory map (empty before [`init`]).
pub fn memory_map() -> &'static [MemoryRegion] {
    MEMORY_MAP.get().copied().unwrap_or(&[])
}
