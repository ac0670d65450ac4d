//! Faults on purpose: an undefined instruction (invalid opcode).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_lib::raw::fault::undefined_instruction();
    // Still running: the instruction did not fault, a kernel bug.
    1
}
