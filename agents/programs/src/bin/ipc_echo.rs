//! Receives one message and one call on endpoint 2; replies to the call
//! with its payload in upper case. Exits 0 on success.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

/// Endpoint served.
const ENDPOINT: u64 = 2;

fn main() -> i64 {
    let mut buffer = [0u8; 64];
    match agent_lib::receive(ENDPOINT, &mut buffer) {
        Ok((_, 4)) if &buffer[..4] == b"ping" => {}
        _ => return 1,
    }
    let Ok((caller, length)) = agent_lib::receive(ENDPOINT, &mut buffer) else {
        return 2;
    };
    let upper = &mut buffer[..length];
    upper.make_ascii_uppercase();
    if agent_lib::reply(caller, upper).is_err() {
        return 3;
    }
    0
}
