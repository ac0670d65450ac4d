//! The syscall fuzzer: issues random syscalls (random numbers, random
//! registers, random and half-valid pointers) from a fixed seed and counts
//! how each was answered. It never calls `exit` with a random status (that
//! would end the run early); everything else is fair game. Its capability
//! set (given by the kernel) leaves out `spawn`, `wait` and the IPC calls,
//! which could block forever; those numbers are still issued and must be
//! refused. "Valid" pointers point into a scratch area, since the kernel
//! really writes through them. Exits 0 after reporting the counts.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Error, abi, println, raw};
use agent_programs::Random;

agent_lib::agent_main!(main);

/// Syscalls issued.
const CALLS: u64 = 1_000_000;
/// The fixed seed.
const SEED: u64 = 0xF022_5EED;

/// Bytes of the scratch area that "valid" pointers point into. The kernel
/// really writes there (stats, wait, receive), so it must not be memory the
/// fuzzer itself relies on, such as its stack.
const SCRATCH_BYTES: usize = 16 * 1024;

/// Writable memory for the kernel to scribble on.
static mut SCRATCH: [u8; SCRATCH_BYTES] = [0; SCRATCH_BYTES];

/// Returns a pointer-ish argument: null, kernel, non-canonical, into the
/// scratch area or this agent's code, or plain random.
fn pointer(random: &mut Random, scratch: u64, code: u64) -> u64 {
    match random.next_u64() % 8 {
        0 => 0,
        1 => 0xFFFF_8000_0000_0000 | random.next_u64(),
        2 => 0x0000_8000_0000_0000 | (random.next_u64() >> 17),
        3 => scratch + random.next_u64() % SCRATCH_BYTES as u64,
        4 => code.wrapping_add(random.next_u64() % 4096),
        5 => random.next_u64() & 0x0000_7FFF_FFFF_FFFF,
        _ => random.next_u64(),
    }
}

fn main() -> i64 {
    let mut random = Random::new(SEED);
    let mut counts = [0u64; 2 + abi::Error::ALL.len()];
    let mut first_unknown: Option<(u64, i64)> = None;
    let scratch = (&raw mut SCRATCH) as u64;
    let code = main as *const () as u64;
    for _ in 0..CALLS {
        let number = match random.next_u64() % 4 {
            0 => random.next_u64(),
            _ => 1 + random.next_u64() % (abi::SYSCALL_COUNT + 2),
        };
        let number = if number == abi::Syscall::Exit as u64 {
            999
        } else {
            number
        };
        let mut arguments = [0u64; 6];
        for argument in &mut arguments {
            *argument = match random.next_u64() % 3 {
                0 => pointer(&mut random, scratch, code),
                1 => random.next_u64() % 256,
                _ => random.next_u64(),
            };
        }
        // A valid random sleep would stall the run (sleepers wake on timer
        // ticks): valid sleeps are zero-length, invalid ones stay random.
        if number == abi::Syscall::Sleep as u64 && arguments[0] <= abi::MAX_SLEEP_US {
            arguments[0] = 0;
        }
        let result = raw::raw6(
            number,
            arguments[0],
            arguments[1],
            arguments[2],
            arguments[3],
            arguments[4],
            arguments[5],
        );
        let slot = if result >= 0 {
            0
        } else {
            Error::from_code(result)
                .and_then(|error| abi::Error::ALL.iter().position(|known| *known == error))
                .map_or(1, |index| index + 2)
        };
        if slot == 1 && first_unknown.is_none() {
            first_unknown = Some((number, result));
        }
        counts[slot] += 1;
    }
    // Let the kernel's log rate limit refill before reporting.
    let _ = agent_lib::sleep_us(1_100_000);
    println!("fuzzer: {CALLS} syscalls, seed {SEED:#x}");
    println!("fuzzer: ok {}, unknown-code {}", counts[0], counts[1]);
    for (index, error) in abi::Error::ALL.iter().enumerate() {
        if counts[index + 2] > 0 {
            println!("fuzzer: {} {}", error.name(), counts[index + 2]);
        }
    }
    if let Some((number, result)) = first_unknown {
        println!("fuzzer: syscall {number} answered {result}, which is no documented code");
        return 1;
    }
    0
}
