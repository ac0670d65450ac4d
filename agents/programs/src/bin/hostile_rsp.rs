//! Hostile: syscalls with a bad RSP. RSP 0 is a canonical user value, so the
//! kernel answers and the agent goes on; a kernel-half or non-canonical RSP
//! is no stack to `sysretq` to, so the kernel ends the agent (status
//! FAULT_STATUS_BASE - 13). This program makes the RSP-0 call, checks its
//! answer, then the kernel-half call: it must not come back (exit 1 if it
//! does, 2 if the first answer was wrong).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Syscall, raw};

agent_lib::agent_main!(main);

fn main() -> i64 {
    let before = agent_lib::clock_us();
    let answer = raw::syscall_with_stack(Syscall::Clock as u64, 0, 0, 0, 0);
    if answer < before as i64 {
        return 2;
    }
    raw::syscall_with_stack(Syscall::Clock as u64, 0, 0, 0, raw::fault::KERNEL_ADDRESS);
    1
}
