//! Heap: many small allocations and frees, one large allocation, and
//! exhaustion that comes back as an error instead of a crash.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::{boxed::Box, collections::BTreeMap, vec::Vec};

use bootloader_api::{BootInfo, entry_point};
use kernel::{memory::heap, testing};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// Rounds of allocate-then-free; more than the heap could hold without reuse.
const ROUNDS: usize = 20_000;
/// Size of the single large allocation.
const LARGE_BYTES: usize = 4 * 1024 * 1024;

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "heap");
    let start = heap::stats();

    for round in 0..ROUNDS {
        let boxed = Box::new(round);
        assert_eq!(*boxed, round);
        let vector: Vec<usize> = (0..round % 64).collect();
        assert_eq!(vector.len(), round % 64);
    }
    let mut map = BTreeMap::new();
    for key in 0..1000u32 {
        map.insert(key, key * 2);
    }
    assert_eq!(map.get(&500), Some(&1000));
    drop(map);

    let mut large = Vec::<u8>::new();
    large.resize(LARGE_BYTES, 0xA5);
    assert!(large.iter().all(|byte| *byte == 0xA5));
    drop(large);
    assert_eq!(heap::stats().used, start.used, "heap usage did not return");

    // Exhaustion: a request larger than the heap must fail cleanly.
    let mut too_big = Vec::<u8>::new();
    if too_big
        .try_reserve_exact(heap::HEAP_SIZE as usize * 2)
        .is_ok()
    {
        testing::fail("a reservation larger than the heap succeeded");
    }
    // Fill the heap in chunks until it refuses, then give everything back.
    let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(4096);
    loop {
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(256 * 1024).is_err() {
            break;
        }
        chunks.push(chunk);
    }
    let failures = heap::stats().failed_allocations;
    log::info!("heap filled with {} chunks before refusing", chunks.len());
    if chunks.len() < 32 || failures < 2 {
        testing::fail("heap exhaustion was not reached or not counted");
    }
    drop(chunks);
    assert_eq!(
        heap::stats().used,
        start.used,
        "heap usage did not return after exhaustion"
    );
    let after = Box::new([7u8; 1024]);
    assert_eq!(after[1023], 7);
    testing::pass()
}
