//! Faults on purpose: a privileged instruction in ring 3 (general protection).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_lib::raw::fault::privileged_instruction();
    // Still running: the instruction did not fault, a kernel bug.
    1
}
