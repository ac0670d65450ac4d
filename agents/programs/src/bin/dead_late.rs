//! Dead-server client: waits 300000 µs, then `call`s endpoint 5 of `dead_server`,
//! which exits without answering. Exits 0 on `PeerGone`, 10 when the
//! call completed, 20 + the error code's magnitude on another error.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::Error;

agent_lib::agent_main!(main);

fn main() -> i64 {
    let _ = agent_lib::sleep_us(300000);
    let mut buffer = [0u8; 64];
    match agent_lib::call(5, b"hello", &mut buffer).map(|_| ()) {
        Err(Error::PeerGone) => 0,
        Ok(()) => 10,
        Err(error) => 20 - error as i64,
    }
}
