//! Faults on purpose: a privileged instruction in ring 3 (general protection).
#![no_std]
#![no_main]

agent_lib::agent_main!(main);

fn main() -> i64 {
    // SAFETY: none; `hlt` in ring 3 raises #GP and ends this agent.
    unsafe { core::arch::asm!("hlt") };
    1
}
