//! Benchmark server: answers every call on endpoint 2 with the message plus one; a call whose first byte is 0xFF ends it.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

/// Endpoint served (the benchmark kernel grants it).
const ENDPOINT: u64 = 2;
/// First byte of the message that ends the server.
const STOP: u8 = 0xFF;

fn main() -> i64 {
    let mut buffer = [0u8; 64];
    loop {
        let Ok((caller, length)) = agent_lib::receive(ENDPOINT, &mut buffer) else {
            return 1;
        };
        let stop = length > 0 && buffer[0] == STOP;
        buffer[0] = buffer[0].wrapping_add(1);
        if agent_lib::reply(caller, &buffer[..length]).is_err() {
            return 2;
        }
        if stop {
            return 0;
        }
    }
}
