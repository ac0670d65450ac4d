//! A well-behaved agent with checkable work: exits 0 only if its result is right.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::println;
use agent_programs::{checked_work, expected_work};

agent_lib::agent_main!(main);

/// Steps of work.
const STEPS: u64 = 2_000_000;

fn main() -> i64 {
    let result = checked_work(STEPS, 10_000);
    if result == expected_work(STEPS) {
        println!("worker: result {result:#x} correct");
        0
    } else {
        println!("worker: result {result:#x} WRONG");
        1
    }
}
