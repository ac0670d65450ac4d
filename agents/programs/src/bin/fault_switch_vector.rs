//! Faults on purpose: tries the kernel's internal switch interrupt
//! (`int 0x81`), which ring 3 may not raise (general protection).
#![no_std]
#![no_main]

agent_lib::agent_main!(main);

fn main() -> i64 {
    // SAFETY: none; the gate's privilege level is 0, so this raises #GP.
    unsafe { core::arch::asm!("int 0x81") };
    1
}
