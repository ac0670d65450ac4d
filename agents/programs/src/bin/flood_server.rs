//! Endpoint-flood scenario, the well-behaved server: `flood_client` spawns it
//! granting receive rights on `SERVICE` and `CONTROL`. It learns its
//! client from the first message on `CONTROL` (only the client may send
//! there), then answers every call on `SERVICE` from anyone (an 8-byte
//! number gets its `answer` and the count served so far, anything else
//! `?`) until its client sends `QUIT` there. Exits 0 then; 1 when the
//! client never said hello, 2 on an unexpected receive error, 3 when not
//! told to quit within 60 s.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::Error;
use agent_programs::flood::{CONTROL, QUIT, SERVICE, answer, request_number};

agent_lib::agent_main!(main);

/// How long the server waits for its client's hello (µs).
const HELLO_TIMEOUT_US: u64 = 5_000_000;
/// How long each receive waits before the server looks at its own clock.
const RECEIVE_TIMEOUT_US: u64 = 100_000;
/// The server ends on its own after this long (µs).
const MAX_RUN_US: u64 = 60_000_000;

fn main() -> i64 {
    let start = agent_lib::clock_us();
    let mut buffer = [0u8; 64];
    let Ok((client, _)) = agent_lib::receive_timeout(CONTROL, &mut buffer, HELLO_TIMEOUT_US) else {
        return 1;
    };
    let mut served: u64 = 0;
    while agent_lib::clock_us() - start < MAX_RUN_US {
        let (caller, length) =
            match agent_lib::receive_timeout(SERVICE, &mut buffer, RECEIVE_TIMEOUT_US) {
                Ok(message) => message,
                Err(Error::TimedOut) => continue,
                Err(_) => return 2,
            };
        let request = &buffer[..length.min(buffer.len())];
        if caller == client && request == QUIT {
            let _ = agent_lib::reply(caller, b"bye");
            return 0;
        }
        served += 1;
        let mut reply = [0u8; 16];
        let reply = match request_number(request) {
            Some(number) => {
                reply[..8].copy_from_slice(&answer(number).to_le_bytes());
                reply[8..].copy_from_slice(&served.to_le_bytes());
                &reply[..]
            }
            None => b"?",
        };
        // `NotFound`: a plain send (nothing to answer), or a caller that
        // gave up (timed out) or was killed meanwhile.
        match agent_lib::reply(caller, reply) {
            Ok(()) | Err(Error::NotFound) => {}
            Err(_) => return 2,
        }
    }
    3
}
