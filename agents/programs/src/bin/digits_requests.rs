//! Request generator of the default demo: sends the digits test split to
//! `digits_infer` over and over, one request every [`PERIOD_US`], and after
//! every pass logs the accuracy and the round-trip latency (p50/p99) of
//! that pass. Runs until the server goes away.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use agent_lib::{
    ai::{
        self,
        digits::{ENDPOINT, REPLY_BYTES, STARTUP_US, TEST_FILE as TEST},
    },
    println,
    raw::read_timestamp_counter,
};

agent_lib::agent_main!(main);

/// Time between requests, µs.
pub const PERIOD_US: u64 = 10_000;

fn main() -> i64 {
    let bytes = match ai::read(TEST) {
        Ok(bytes) => bytes,
        Err(error) => {
            println!("digits_requests: {TEST}: {error}");
            return 10;
        }
    };
    let test = match ai::dataset(&bytes) {
        Ok(test) => test,
        Err(error) => {
            println!("digits_requests: {TEST} refused: {error}");
            return 10;
        }
    };
    let mut reply = [0u8; 64];
    let mut trips = Vec::with_capacity(test.len());
    for pass in 1.. {
        trips.clear();
        let mut correct = 0;
        let started_us = agent_lib::clock_us();
        let started_cycles = read_timestamp_counter();
        for sample in 0..test.len() {
            let start = read_timestamp_counter();
            match agent_lib::call_once_served(
                ENDPOINT,
                test.features(sample),
                &mut reply,
                STARTUP_US,
            ) {
                Ok(REPLY_BYTES) => {}
                other => {
                    println!("digits_requests: the server answered {other:?}; stopping");
                    return 1;
                }
            }
            trips.push(read_timestamp_counter().wrapping_sub(start));
            if reply[0] == test.label(sample) {
                correct += 1;
            }
            // This pass's accuracy so far, for the dashboard.
            let _ = agent_lib::report_accuracy(correct, sample as u64 + 1);
            let _ = agent_lib::sleep_us(PERIOD_US);
        }
        let elapsed_us = agent_lib::clock_us().saturating_sub(started_us).max(1);
        let cycles_per_us =
            (read_timestamp_counter().wrapping_sub(started_cycles) / elapsed_us).max(1);
        trips.sort_unstable();
        let at =
            |percent: usize| trips[(trips.len() * percent).div_ceil(100).clamp(1, trips.len()) - 1];
        println!(
            "digits_requests: pass {pass}: {correct}/{} right, round trip p50 {} us p99 {} us",
            test.len(),
            at(50) / cycles_per_us,
            at(99) / cycles_per_us
        );
    }
    0
}
