//! Faults on purpose: `movaps` from an address that is not 16-byte aligned
//! (#GP). Only this agent may end.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_lib::raw::fault::misaligned_vector_load();
    // Still running: the load did not fault.
    1
}
