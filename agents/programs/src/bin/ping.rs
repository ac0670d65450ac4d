//! IPC ping: 1000 calls to `pong` on endpoint 1, each carrying a sequence
//! number; every reply must be that number plus one, in order. Then 1000
//! one-way sends that `pong` checks for order. Exits 0 on success.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::println;

agent_lib::agent_main!(main);

/// Endpoint `pong` serves.
const ENDPOINT: u64 = 1;
/// Round trips.
pub const ROUNDS: u64 = 1000;

fn main() -> i64 {
    let mut reply = [0u8; 64];
    for sequence in 0..ROUNDS {
        match agent_lib::call(ENDPOINT, &sequence.to_le_bytes(), &mut reply) {
            Ok(8) => {
                let answer = u64::from_le_bytes(reply[..8].try_into().unwrap_or([0; 8]));
                if answer != sequence + 1 {
                    println!("ping: call {sequence} answered {answer}");
                    return 1;
                }
            }
            other => {
                println!("ping: call {sequence} failed: {other:?}");
                return 2;
            }
        }
    }
    for sequence in 0..ROUNDS {
        if agent_lib::send(ENDPOINT, &(ROUNDS + sequence).to_le_bytes()).is_err() {
            return 3;
        }
    }
    println!("ping: {ROUNDS} calls and {ROUNDS} sends delivered in order");
    0
}
