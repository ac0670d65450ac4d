//! Hostile: produces thousands of exits of short children it never waits
//! for, trying to evict other parents' exit statuses. Ends with 0.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::println;

agent_lib::agent_main!(main);

const EXITS: u64 = 2_000;
const MAX_RUN_US: u64 = 8_000_000;

fn main() -> i64 {
    let start = agent_lib::clock_us();
    let mut spawned = 0;
    let mut refused = 0;
    while spawned < EXITS && agent_lib::clock_us() - start < MAX_RUN_US {
        match agent_lib::spawn("exit_quick", None) {
            Ok(_) => spawned += 1,
            Err(_) => {
                refused += 1;
                agent_lib::yield_now();
            }
        }
    }
    println!("{spawned} children spawned, {refused} spawns refused");
    0
}
