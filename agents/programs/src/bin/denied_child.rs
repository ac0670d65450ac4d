//! Spawned by `denied` asking for every capability: must still lack `sleep`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::Error;

agent_lib::agent_main!(main);

fn main() -> i64 {
    if agent_lib::sleep_us(10) == Err(Error::PermissionDenied) {
        0
    } else {
        1
    }
}
