//! Sleep: an agent never wakes before the time it asked for, and wakes within
//! the documented slack (one tick plus the wait for the CPU) while another
//! agent keeps the CPU busy.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing, time};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// Sleep lengths tried, microseconds.
const DURATIONS_US: [u64; 7] = [100, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000];
/// Times each length is tried.
const REPEATS: usize = 5;
/// The documented slack: one tick, plus one tick for the decision that
/// dispatches the woken agent.
const TYPICAL_SLACK_US: u64 = 2 * sched_rl::TICK_US + 500;
/// Hard bound for any single sleep: the slack plus the watchdog's wait bound
/// (host scheduling jitter under emulation can delay a tick).
const WORST_SLACK_US: u64 = TYPICAL_SLACK_US + sched_rl::policy::watchdog::DEFAULT_WAIT_BOUND_US;

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "sched_sleep");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("busy", ClassHint::Batch, || {
        loop {
            core::hint::spin_loop();
        }
    })
    .expect("spawn busy");
    task::spawn("sleeper", ClassHint::Interactive, sleeper).expect("spawn sleeper");
    task::run()
}

fn sleeper() {
    for duration in DURATIONS_US {
        let mut lateness: Vec<u64> = Vec::new();
        for _ in 0..REPEATS {
            let start = time::now_us();
            task::sleep_us(duration);
            let slept = time::now_us() - start;
            if slept < duration {
                kernel::println!("asked {duration} us, slept {slept} us");
                testing::fail("woke before the requested time");
            }
            if slept > duration + WORST_SLACK_US {
                kernel::println!("asked {duration} us, slept {slept} us");
                testing::fail("woke far too late");
            }
            lateness.push(slept - duration);
        }
        lateness.sort_unstable();
        let median = lateness[lateness.len() / 2];
        log::info!(
            "sleep {duration} us: lateness median {median} us, max {} us",
            lateness[lateness.len() - 1]
        );
        if median > TYPICAL_SLACK_US {
            testing::fail("median lateness above the documented slack");
        }
    }
    testing::pass()
}
