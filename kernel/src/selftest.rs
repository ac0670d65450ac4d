//! In-kernel unit tests, run inside QEMU by the `kernel_unit` test kernel.
//!
//! These check kernel pieces that need the real machine (frames, page tables,
//! the heap, the timer) and so cannot run as host `cargo test`s.

use alloc::{format, string::String};

use crate::memory;

/// One in-kernel unit test.
pub struct SelfTest {
    /// Name printed by the runner.
    pub name: &'static str,
    /// Returns `Err` with a reason when the test fails.
    pub run: fn() -> Result<(), String>,
}

/// Every in-kernel unit test.
pub const TESTS: &[SelfTest] = &[
    SelfTest {
        name: "frame_free_is_reused",
        run: memory::selftest::frame_free_is_reused,
    },
    SelfTest {
        name: "paging_map_write_unmap",
        run: memory::selftest::paging_map_write_unmap,
    },
    SelfTest {
        name: "heap_usage_returns_after_free",
        run: memory::selftest::heap_usage_returns_after_free,
    },
    SelfTest {
        name: "ticks_are_monotonic",
        run: ticks_are_monotonic,
    },
    SelfTest {
        name: "pit_divisor_rounds_and_clamps",
        run: pit_divisor_rounds_and_clamps,
    },
];

/// Returns `Ok` when `condition` holds, else `Err` with the message.
pub fn check(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}

fn ticks_are_monotonic() -> Result<(), String> {
    let mut last = crate::time::ticks();
    for _ in 0..1000 {
        let now = crate::time::ticks();
        check(now >= last, || {
            format!("ticks went back from {last} to {now}")
        })?;
        last = now;
    }
    Ok(())
}

fn pit_divisor_rounds_and_clamps() -> Result<(), String> {
    use foundation::arch::pit::divisor_for;
    check(divisor_for(1000) == 1193, || {
        format!("1000 Hz -> {}", divisor_for(1000))
    })?;
    check(divisor_for(0) == 0xFFFF, || {
        String::from("0 Hz not clamped")
    })?;
    check(divisor_for(10) == 0xFFFF, || {
        String::from("10 Hz not clamped")
    })?;
    check(divisor_for(10_000_000) == 2, || {
        String::from("10 MHz not clamped")
    })
}
