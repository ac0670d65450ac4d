//! Call-cycle attacker a: owns endpoint 6 and calls endpoint 7, whose owner
//! calls back (`cycle_a`/`cycle_b`). Exits 1 when its call closed the cycle
//! (`WouldDeadlock`, then it answers the other's call), 2 when its call was
//! answered, 3+ on anything else.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::Error;

agent_lib::agent_main!(main);

/// Endpoint owned (received on).
const OWN: u64 = 6;
/// Endpoint called.
const OTHER: u64 = 7;

fn main() -> i64 {
    let mut buffer = [0u8; 64];
    // The first receive claims the endpoint: a kick or the other's call.
    let mut caller = match agent_lib::receive(OWN, &mut buffer) {
        Ok((sender, length)) if &buffer[..length] == b"call" => Some(sender),
        Ok(_) => None,
        Err(_) => return 3,
    };
    match agent_lib::call(OTHER, b"call", &mut buffer) {
        Ok(_) => 2,
        Err(Error::WouldDeadlock) => {
            while caller.is_none() {
                match agent_lib::receive(OWN, &mut buffer) {
                    Ok((sender, length)) if &buffer[..length] == b"call" => caller = Some(sender),
                    Ok(_) => {}
                    Err(_) => return 4,
                }
            }
            match caller.map(|sender| agent_lib::reply(sender, b"done")) {
                Some(Ok(())) => 1,
                _ => 5,
            }
        }
        Err(_) => 6,
    }
}
