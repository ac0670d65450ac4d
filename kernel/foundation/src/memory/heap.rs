//! The kernel heap: `linked_list_allocator` behind interrupt-safe locking.
//!
//! The heap lock is taken with interrupts disabled, so an interrupt handler
//! that allocates can never deadlock against the code it interrupted. A failed
//! allocation is counted and reported through [`stats`]; Rust's allocation
//! error path then panics with the size (for `Box::new`), while fallible APIs
//! such as `Vec::try_reserve` get an error value.

use core::{
    alloc::{GlobalAlloc, Layout},
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

use linked_list_allocator::Heap;
use spin::Mutex;
use x86_64::{
    VirtAddr,
    structures::paging::{Page, PageTableFlags, Size4KiB, mapper::MapToError},
};

use crate::arch::cpu::without_interrupts;

/// Virtual address where the heap starts.
pub const HEAP_START: u64 = super::layout::HEAP_START;
/// Size of the heap.
pub const HEAP_SIZE: u64 = 16 * 1024 * 1024;

/// Heap usage counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Heap size in bytes.
    pub size: usize,
    /// Bytes in use.
    pub used: usize,
    /// Allocation requests that could not be served.
    pub failed_allocations: u64,
}

struct KernelHeap {
    heap: Mutex<Heap>,
    failures: AtomicU64,
}

#[global_allocator]
static KERNEL_HEAP: KernelHeap = KernelHeap {
    heap: Mutex::new(Heap::empty()),
    failures: AtomicU64::new(0),
};

// SAFETY: `linked_list_allocator::Heap` returns blocks that fit the layout and
// do not overlap live blocks; the lock serialises all access.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let result = without_interrupts(|| self.heap.lock().allocate_first_fit(layout));
        match result {
            Ok(pointer) => pointer.as_ptr(),
            Err(()) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                core::ptr::null_mut()
            }
        }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        if let Some(pointer) = NonNull::new(pointer) {
            // SAFETY: the caller passes a block from `alloc` with its layout.
            without_interrupts(|| unsafe { self.heap.lock().deallocate(pointer, layout) });
        }
    }
}

/// Maps the heap's pages and hands them to the allocator.
pub fn init() -> Result<(), MapToError<Size4KiB>> {
    let start = VirtAddr::new(HEAP_START);
    let pages = Page::range_inclusive(
        Page::containing_address(start),
        Page::containing_address(start + HEAP_SIZE - 1),
    );
    let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
    for page in pages {
        super::paging::map_fresh(page, flags)?;
    }
    without_interrupts(|| {
        // SAFETY: (1) the range was just mapped writable and is used by
        // nothing else; (2) `init` runs once, from `memory::init`.
        unsafe {
            KERNEL_HEAP
                .heap
                .lock()
                .init(start.as_mut_ptr(), HEAP_SIZE as usize)
        }
    });
    Ok(())
}

/// Returns the heap's usage counters.
pub fn stats() -> HeapStats {
    let (size, used) = without_interrupts(|| {
        let heap = KERNEL_HEAP.heap.lock();
        (heap.size(), heap.used())
    });
    HeapStats {
        size,
        used,
        failed_allocations: KERNEL_HEAP.failures.load(Ordering::Relaxed),
    }
}
