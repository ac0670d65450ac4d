//! Hostile: maps and unmaps one page in a new 1 GiB slot per round, so
//! every round needs fresh level-1 and level-2 tables (and a level-3 table
//! every 512 rounds). Ends with 0 when every round's map succeeded (page
//! tables were freed with their last page), 1 on the first refused map.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Syscall, abi, check, println, raw};

agent_lib::agent_main!(main);

/// Start of the `map` window (see the kernel's map-window bookkeeping).
const WINDOW_START: u64 = 0x0000_2000_0000_0000;
const GIB: u64 = 1 << 30;
/// Rounds: more than a 256 MiB guest's frames would hold as page tables
/// that are never freed (2 per round).
const ROUNDS: u64 = 40_000;
/// Stop earlier after this long (µs) so the test stays short on TCG.
const MAX_RUN_US: u64 = 30_000_000;

fn main() -> i64 {
    let start = agent_lib::clock_us();
    let mut round = 0;
    while round < ROUNDS && agent_lib::clock_us() - start < MAX_RUN_US {
        let address = WINDOW_START + round * GIB;
        let mapped = check(raw::syscall3(Syscall::Map, address, 4096, abi::MAP_WRITE));
        if let Err(error) = mapped {
            println!("round {round}: map at {address:#x} refused: {error:?}");
            return 1;
        }
        if let Err(error) = check(raw::syscall2(Syscall::Unmap, address, 4096)) {
            println!("round {round}: unmap refused: {error:?}");
            return 2;
        }
        round += 1;
    }
    println!("{round} rounds mapped and unmapped");
    0
}
