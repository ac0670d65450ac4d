//! Receive-right probe (spawned by `denied`): receives on endpoint 4 with a
//! 1 ms timeout. Exits 1 on `PermissionDenied` (no right, or another agent
//! owns the endpoint), 2 on `TimedOut` (it held the right and took the
//! endpoint), 3 when a message came, 4 on another error.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::Error;

agent_lib::agent_main!(main);

/// The endpoint probed.
const ENDPOINT: u64 = 4;
/// How long the probe waits (µs).
const TIMEOUT_US: u64 = 1_000;

fn main() -> i64 {
    let mut buffer = [0u8; 64];
    match agent_lib::receive_timeout(ENDPOINT, &mut buffer, TIMEOUT_US) {
        Err(Error::PermissionDenied) => 1,
        Err(Error::TimedOut) => 2,
        Ok(_) => 3,
        Err(_) => 4,
    }
}
