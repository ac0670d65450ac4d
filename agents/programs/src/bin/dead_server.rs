//! Dead-server attack: lets clients queue on endpoint 5, receives one
//! message (never answering it), waits so the others stay blocked, and exits.
//! Exits 0, or 1 when the receive failed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    let _ = agent_lib::sleep_us(50_000);
    let mut buffer = [0u8; 64];
    if agent_lib::receive(5, &mut buffer).is_err() {
        return 1;
    }
    let _ = agent_lib::sleep_us(50_000);
    0
}
