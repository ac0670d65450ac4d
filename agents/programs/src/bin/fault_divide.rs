//! Faults on purpose: an integer division by zero (divide error).
#![no_std]
#![no_main]

agent_lib::agent_main!(main);

fn main() -> i64 {
    // SAFETY: none; dividing by zero raises #DE and ends this agent.
    unsafe {
        core::arch::asm!(
            "xor edx, edx",
            "mov eax, 1",
            "xor ecx, ecx",
            "div ecx",
            out("eax") _, out("ecx") _, out("edx") _,
        );
    }
    1
}
