//! Faults on purpose: tries the kernel's internal switch interrupt
//! (`int 0x81`), which ring 3 may not raise (general protection).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_lib::raw::fault::kernel_switch_interrupt();
    // Still running: the instruction did not fault, a kernel bug.
    1
}
