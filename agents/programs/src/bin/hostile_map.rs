//! Hostile: maps 16 MiB, touches every page, unmaps it, over and over for
//! three seconds: the kernel must do this work in short interrupts-off
//! chunks, so a sleeper beside it still wakes on time. Exits 0, or 1 when
//! the kernel refused or lost a mapping.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{abi, println};

agent_lib::agent_main!(main);

/// How long the attack runs (µs).
const RUN_US: u64 = 3_000_000;
/// Bytes per page.
const PAGE: usize = 4096;

fn main() -> i64 {
    let start = agent_lib::clock_us();
    let mut rounds = 0u64;
    while agent_lib::clock_us() - start < RUN_US {
        let Ok(mut mapping) = agent_lib::map(abi::MAX_MAP_BYTES, abi::MAP_WRITE) else {
            println!("map of 16 MiB refused in round {rounds}");
            return 1;
        };
        let Some(bytes) = mapping.bytes_mut() else {
            return 1;
        };
        for (index, page) in bytes.chunks_mut(PAGE).enumerate() {
            if page[0] != 0 {
                println!("page {index} not zeroed in round {rounds}");
                return 1;
            }
            page[0] = rounds as u8 | 1;
        }
        if mapping.unmap().is_err() {
            return 1;
        }
        rounds += 1;
    }
    println!("{rounds} rounds of 16 MiB map/touch/unmap");
    i64::from(rounds == 0)
}
