//! Faults on purpose: an SSE instruction (the kernel keeps SSE off, so no
//! agent can see another's vector registers).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_lib::raw::fault::vector_instruction();
    // Still running: the instruction did not fault, a kernel bug.
    1
}
