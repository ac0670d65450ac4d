//! Faults on purpose: writes to a kernel address (page fault, protection).
#![no_std]
#![no_main]

agent_lib::agent_main!(main);

fn main() -> i64 {
    let address = 0xFFFF_F000_0000_0000 as *mut u64;
    // SAFETY: none; the write is meant to fault (the kernel heap is not
    // user-accessible) and end this agent.
    unsafe { address.write_volatile(0xDEAD) };
    1
}
