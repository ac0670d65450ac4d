//! The call-cycle attackers `cycle_a` and `cycle_b`: each owns one endpoint
//! and calls the other's, whose owner calls back. Their status: 1 when its
//! call closed the cycle (`WouldDeadlock`, then it answers the other's
//! call), 2 when its call was answered, 3+ on anything else.

use agent_lib::Error;

/// Receives on `own` (claiming it), calls `other`, and answers the other
/// side's call after a `WouldDeadlock`; returns the exit status above.
pub fn run(own: u64, other: u64) -> i64 {
    let mut buffer = [0u8; 64];
    // The first receive claims the endpoint: a kick or the other's call.
    let mut caller = match agent_lib::receive(own, &mut buffer) {
        Ok((sender, length)) if &buffer[..length] == b"call" => Some(sender),
        Ok(_) => None,
        Err(_) => return 3,
    };
    match agent_lib::call(other, b"call", &mut buffer) {
        Ok(_) => 2,
        Err(Error::WouldDeadlock) => {
            while caller.is_none() {
                match agent_lib::receive(own, &mut buffer) {
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
