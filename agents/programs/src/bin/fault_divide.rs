//! Faults on purpose: an integer division by zero (divide error).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_lib::raw::fault::divide_by_zero();
    // Still running: the instruction did not fault, a kernel bug.
    1
}
