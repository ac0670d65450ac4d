//! Faults on purpose: reads an unmapped address (page fault).
#![no_std]
#![no_main]

agent_lib::agent_main!(main);

fn main() -> i64 {
    let address = 0x0000_4444_0000_0000 as *const u64;
    // SAFETY: none; the read is meant to fault and end this agent.
    let value = unsafe { address.read_volatile() };
    value as i64
}
