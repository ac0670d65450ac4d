//! Faults on purpose: reads an unmapped address (page fault).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    let _ = agent_lib::raw::fault::read_unmapped_memory();
    // Still running: the read did not fault, a kernel bug.
    1
}
