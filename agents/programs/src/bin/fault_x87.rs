//! Faults on purpose: an x87 divide by zero with the exception unmasked
//! (#MF). Only this agent may end.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_lib::raw::fault::x87_divide_by_zero();
    // Still running: the division did not fault.
    1
}
