//! Dead-server client: waits 20000 µs, then `send`s endpoint 5 of `dead_server`,
//! which exits without answering. Exits 0 on `PeerGone`, 10 when the
//! send completed, 20 + the error code's magnitude on another error.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::Error;

agent_lib::agent_main!(main);

fn main() -> i64 {
    let _ = agent_lib::sleep_us(20000);
    match agent_lib::send(5, b"hello") {
        Err(Error::PeerGone) => 0,
        Ok(()) => 10,
        Err(error) => 20 - error as i64,
    }
}
