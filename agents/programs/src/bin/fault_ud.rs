//! Faults on purpose: an undefined instruction (invalid opcode).
#![no_std]
#![no_main]

agent_lib::agent_main!(main);

fn main() -> i64 {
    // SAFETY: none; `ud2` raises #UD and ends this agent.
    unsafe { core::arch::asm!("ud2") };
    1
}
