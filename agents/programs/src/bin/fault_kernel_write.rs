//! Faults on purpose: writes to a kernel address (page fault, protection).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_lib::raw::fault::write_kernel_memory();
    // Still running: the instruction did not fault, a kernel bug.
    1
}
