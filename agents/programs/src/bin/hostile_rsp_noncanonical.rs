//! Hostile: a syscall with a non-canonical RSP; `sysretq` would leave the
//! agent without a stack, so the kernel ends it (status FAULT_STATUS_BASE -
//! 13). Exits 1 if the call comes back.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Syscall, raw};

agent_lib::agent_main!(main);

/// The lowest non-canonical address.
const NON_CANONICAL: u64 = 0x0000_8000_0000_0000;

fn main() -> i64 {
    raw::syscall_with_stack(Syscall::Clock as u64, 0, 0, 0, NON_CANONICAL);
    1
}
