//! In-kernel unit tests of the memory code (listed in `crate::selftest`).

use alloc::{format, string::String, vec::Vec};

use x86_64::{
    VirtAddr,
    structures::paging::{Page, PageTableFlags},
};

use super::{frame, heap, paging};

/// Returns `Ok` when `condition` holds, else the error `message` builds.
fn check(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}

/// Virtual page used by the paging test; nothing else maps it.
const PAGING_TEST_ADDRESS: u64 = super::layout::SELFTEST_SCRATCH_PAGE;

/// Self test: frame free is reused.
pub fn frame_free_is_reused() -> Result<(), String> {
    let before = frame::stats();
    let first = frame::allocate().ok_or("no frame")?;
    check(
        frame::stats().allocated_frames == before.allocated_frames + 1,
        || String::from("allocation not counted"),
    )?;
    // SAFETY: the frame was just allocated here and never mapped or used.
    unsafe { frame::deallocate(first) };
    let second = frame::allocate().ok_or("no frame after free")?;
    check(first == second, || {
        format!("freed {first:?}, got {second:?}")
    })?;
    // SAFETY: as above, this frame is unused.
    unsafe { frame::deallocate(second) };
    check(frame::stats() == before, || {
        format!("stats {:?} != {before:?}", frame::stats())
    })
}

/// Self test: paging map write unmap.
pub fn paging_map_write_unmap() -> Result<(), String> {
    let page = Page::containing_address(VirtAddr::new(PAGING_TEST_ADDRESS));
    let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
    let frame = paging::map_fresh(page, flags).map_err(|error| format!("{error:?}"))?;
    let translated = paging::translate(page.start_address());
    check(translated == Some(frame.start_address()), || {
        format!("translate gave {translated:?}")
    })?;
    // SAFETY: the test page was mapped above and no reference to it exists.
    unsafe { paging::unmap_and_free(page) }.map_err(|error| format!("{error:?}"))?;
    check(paging::translate(page.start_address()).is_none(), || {
        String::from("still mapped")
    })
}

/// Self test: heap usage returns after free.
pub fn heap_usage_returns_after_free() -> Result<(), String> {
    let before = heap::stats().used;
    let values: Vec<u64> = (0..10_000).collect();
    check(heap::stats().used >= before + 80_000, || {
        String::from("usage did not grow")
    })?;
    check(values.iter().sum::<u64>() == 49_995_000, || {
        String::from("bad sum")
    })?;
    drop(values);
    check(heap::stats().used == before, || {
        format!("used {} != {before}", heap::stats().used)
    })
}
