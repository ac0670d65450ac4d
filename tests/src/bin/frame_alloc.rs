//! Frame allocator: every frame it hands out lies inside a usable region of
//! the memory map (never in a reserved or bootloader-used one, never below
//! 1 MiB), no frame is handed out twice, and freeing returns every frame.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::{vec, vec::Vec};

use bootloader_api::{
    BootInfo, entry_point,
    info::{MemoryRegion, MemoryRegionKind},
};
use kernel::{
    memory,
    memory::frame::{self, Frame},
    testing,
};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn inside_usable(regions: &[MemoryRegion], start: u64) -> bool {
    let end = start + frame::FRAME_SIZE;
    let usable = regions.iter().any(|region| {
        region.kind == MemoryRegionKind::Usable && region.start <= start && end <= region.end
    });
    let overlaps_other = regions.iter().any(|region| {
        region.kind != MemoryRegionKind::Usable && region.start < end && start < region.end
    });
    usable && !overlaps_other
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "frame_alloc");
    let regions = memory::memory_map();
    let reserved = regions
        .iter()
        .filter(|r| r.kind != MemoryRegionKind::Usable)
        .count();
    log::info!(
        "memory map: {} regions, {reserved} not usable",
        regions.len()
    );
    if reserved == 0 {
        testing::fail("memory map has no reserved region to check against");
    }
    let highest = regions
        .iter()
        .filter(|region| region.kind == MemoryRegionKind::Usable)
        .map(|region| region.end)
        .max()
        .unwrap_or(0);
    let frame_count = (highest / frame::FRAME_SIZE) as usize;
    let mut seen = vec![0u64; frame_count.div_ceil(64)];
    let before = frame::stats();

    let mut handed_out: u64 = 0;
    let mut held = Vec::with_capacity(before.free_frames as usize);
    while let Some(frame) = Frame::allocate() {
        let start = frame.start_address().as_u64();
        if start < frame::LOW_MEMORY_LIMIT {
            kernel::println!("frame {start:#x} below 1 MiB");
            testing::fail("frame below the low-memory limit");
        }
        if !inside_usable(regions, start) {
            kernel::println!("frame {start:#x} outside usable memory");
            testing::fail("frame inside a reserved region");
        }
        let index = (start / frame::FRAME_SIZE) as usize;
        let (word, bit) = (index / 64, index % 64);
        if seen[word] & (1 << bit) != 0 {
            kernel::println!("frame {start:#x} handed out twice");
            testing::fail("duplicate frame");
        }
        seen[word] |= 1 << bit;
        handed_out += 1;
        held.push(frame);
    }
    log::info!("allocated {handed_out} frames until exhaustion");
    if handed_out != before.free_frames {
        testing::fail("allocator handed out a different count than it claimed free");
    }
    if frame::stats().free_frames != 0 {
        testing::fail("exhausted allocator still claims free frames");
    }

    // Dropping the owned frames gives every one of them back.
    drop(held);
    let after = frame::stats();
    if after.free_frames != before.free_frames || after.allocated_frames != before.allocated_frames
    {
        kernel::println!("before {before:?}\nafter {after:?}");
        testing::fail("freeing did not restore the counters");
    }
    testing::pass()
}
