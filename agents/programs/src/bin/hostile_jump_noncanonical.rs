//! Hostile: jumps to a non-canonical address, which faults in ring 3
//! (general protection): only this agent ends (status FAULT_STATUS_BASE -
//! 13). Exits 1 if the jump comes back.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_lib::raw::fault::jump_to(0x0000_8000_0000_0000);
    1
}
