//! Hostile: memory via many children. Every copy maps as much as it can,
//! spawns copies of itself until refused, reports, and sleeps forever.
//!
//! Mapping goes 1 MiB at a time, then in halving sizes down to one page, so
//! a copy takes everything its tree's memory budget (and its own `map`
//! quota) still allows. The expected refusal is `OutOfMemory` for `map`,
//! and `OutOfMemory` (the budget) or `Exhausted` (the children and tree
//! slot budgets) for `spawn`. Each copy then sends one report to endpoint
//! [`REPORT_ENDPOINT`] (little-endian words: bytes mapped, the error code
//! that stopped `map`, the one that stopped `spawn`, children started) and
//! sleeps until it is killed. If the report is refused for lack of budget,
//! the copy unmaps its smallest mapping and tries again; while its tree's
//! share of the endpoint's queue is full (`Exhausted`) it retries every
//! millisecond. Exits 1 only when it cannot report at all.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Error, Syscall, abi, check, raw};

agent_lib::agent_main!(main);

/// Where the copies report (the test kernel receives there).
pub const REPORT_ENDPOINT: u64 = 9;
/// The first mappings' size.
const CHUNK_BYTES: u64 = 1024 * 1024;
/// The smallest mapping tried.
const PAGE_BYTES: u64 = 4096;
/// How long each sleep is (µs).
const NAP_US: u64 = 100_000;
/// How long a copy waits before it sends its report again (µs).
const RETRY_US: u64 = 1_000;
/// Sends of the report tried at most.
const MAX_SEND_ATTEMPTS: u32 = 1_000;

fn main() -> i64 {
    // Only the newest mapping is remembered (the one given back to make
    // room for the report): other copies' charges come and go, so a small
    // size may succeed many times; the agent's `map` quota ends the loop.
    let mut newest: Option<(u64, u64)> = None;
    let mut mapped = 0u64;
    let mut size = CHUNK_BYTES;
    let map_error = loop {
        match check(raw::syscall3(Syscall::Map, 0, size, abi::MAP_WRITE)) {
            Ok(address) => {
                newest = Some((address, size));
                mapped += size;
            }
            Err(Error::OutOfMemory) if size > PAGE_BYTES => size /= 2,
            Err(error) => break error,
        }
    };
    let mut children = 0u64;
    let spawn_error = loop {
        match agent_lib::spawn("hostile_children", None) {
            Ok(_) => children += 1,
            Err(error) => break error,
        }
    };
    let words = [
        mapped,
        map_error as i64 as u64,
        spawn_error as i64 as u64,
        children,
    ];
    let mut message = [0u8; 32];
    for (bytes, word) in message.as_chunks_mut::<8>().0.iter_mut().zip(words) {
        *bytes = word.to_le_bytes();
    }
    let mut made_room = false;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match agent_lib::send(REPORT_ENDPOINT, &message) {
            Ok(()) => break,
            // The tree's share of the endpoint's queue is full: wait a turn.
            Err(Error::Exhausted) if attempts < MAX_SEND_ATTEMPTS => {
                let _ = agent_lib::sleep_us(RETRY_US);
            }
            // The budget is full to the last page: make room for the report.
            Err(Error::OutOfMemory) if !made_room && newest.is_some() => {
                if let Some((address, length)) = newest {
                    let _ = check(raw::syscall2(Syscall::Unmap, address, length));
                }
                made_room = true;
            }
            Err(_) => return 1,
        }
    }
    loop {
        let _ = agent_lib::sleep_us(NAP_US);
    }
}
