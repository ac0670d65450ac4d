//! IPC pong: answers `ping`'s calls on endpoint 1 with the number plus one,
//! then checks that the one-way messages arrive in order.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::println;

agent_lib::agent_main!(main);

/// Endpoint served.
const ENDPOINT: u64 = 1;
/// Messages expected of each kind (matches `ping`).
const ROUNDS: u64 = 1000;

fn number(buffer: &[u8]) -> u64 {
    u64::from_le_bytes(buffer[..8].try_into().unwrap_or([0xFF; 8]))
}

fn main() -> i64 {
    let mut buffer = [0u8; 64];
    for expected in 0..ROUNDS {
        let Ok((caller, 8)) = agent_lib::receive(ENDPOINT, &mut buffer) else {
            return 1;
        };
        let value = number(&buffer);
        if value != expected {
            println!("pong: call {expected} carried {value}");
            return 2;
        }
        if agent_lib::reply(caller, &(value + 1).to_le_bytes()).is_err() {
            return 3;
        }
    }
    for expected in ROUNDS..2 * ROUNDS {
        let Ok((_, 8)) = agent_lib::receive(ENDPOINT, &mut buffer) else {
            return 4;
        };
        if number(&buffer) != expected {
            println!("pong: message {expected} out of order");
            return 5;
        }
    }
    0
}
