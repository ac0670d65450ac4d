//! The protocol of the endpoint-flood scenario: endpoints, the service's answer, result bits.
//!
//! `flood_client` spawns `flood_server` with a grant of receive rights on
//! [`SERVICE`] and [`CONTROL`]; the attacker `hostile_endpoint_flood` and
//! its tree (`flood_caller`, `flood_leaf`, `flood_sender`) flood
//! [`SERVICE`] and every other endpoint they may send to ([`CONTROL`] and
//! [`PRIVATE`] are not among them) while the client checks that its calls
//! are still answered. The flood goes on until the server is gone (the
//! client ends it: `PeerGone`) or [`FLOOD_MAX_US`] passed: spawns are slow
//! under load, so the client waits for the whole tree before its calls.

/// The endpoint `flood_server` serves: an 8-byte number in, its
/// [`answer`] and the server's served count out.
pub const SERVICE: u64 = 9;
/// The endpoint on which the server learns who its client is (only the
/// client may send there).
pub const CONTROL: u64 = 10;
/// An endpoint only the client uses (nobody sends there).
pub const PRIVATE: u64 = 11;
/// An endpoint nobody receives on.
pub const UNSERVED: u64 = 12;
/// The request that ends the server when its client sends it.
pub const QUIT: &[u8] = b"quit";
/// How long an attacker's agent floods at most (µs).
pub const FLOOD_MAX_US: u64 = 20_000_000;

/// Result bit: a send or call was refused with `Exhausted` (a queue bound).
pub const SAW_EXHAUSTED: i64 = 1 << 0;
/// Result bit: a send or call ended with `TimedOut`.
pub const SAW_TIMED_OUT: i64 = 1 << 1;
/// Result bit: a call to the service came back with the right answer.
pub const SAW_ANSWER: i64 = 1 << 2;
/// Result bit: something that must not happen did (a message to an
/// unserved endpoint was taken, a wrong answer, an unexpected error).
pub const SAW_WRONG: i64 = 1 << 6;

/// Returns the service's answer to `number`.
pub const fn answer(number: u64) -> u64 {
    number.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555_AAAA
}

/// Returns the number in a request, if it is one (eight bytes).
pub fn request_number(request: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(request.try_into().ok()?))
}

/// Returns the answer and the served count of a reply, if it is one.
pub fn parse_reply(reply: &[u8]) -> Option<(u64, u64)> {
    let answer = u64::from_le_bytes(reply.get(..8)?.try_into().ok()?);
    let served = u64::from_le_bytes(reply.get(8..16)?.try_into().ok()?);
    Some((answer, served))
}

/// Endpoints the attacker may not send to (the test kernel leaves them out
/// of its capabilities): the server's hello channel and the client's own.
pub const OFF_LIMITS: u64 = 1 << CONTROL | 1 << PRIVATE;
/// Long timeout of the attacker's sends and calls nobody takes (µs): they
/// stay queued that long.
const FLOOD_LONG_US: u64 = 50_000;
/// Long timeout of the attacker's calls to the service (µs).
const CALL_LONG_US: u64 = 500_000;
/// Short timeout (µs): it expires while the message waits, or just after
/// the server took it (then the server's reply is refused).
const FLOOD_SHORT_US: u64 = 1;
/// Pause of an attacker refused with `Exhausted` (µs).
const BACK_OFF_US: u64 = 5_000;
/// Message of the attacker's sends.
const GARBAGE: &[u8] = b"flood flood flood flood flood flood flood flood flood flood";

/// Logs what went wrong and returns [`SAW_WRONG`].
pub fn wrong(what: &str, endpoint: u64, result: Result<(), agent_lib::Error>) -> i64 {
    agent_lib::println!("flood: {what} on endpoint {endpoint}: {result:?}");
    SAW_WRONG
}

/// What one flooding step found.
enum Step {
    /// Go on; these result bits were seen.
    Bits(i64),
    /// The server is gone: the flood is over.
    ServerGone,
}

/// Returns what a send or call to `endpoint` ending with `result` means,
/// and backs off a little after `Exhausted` (the flood is of the
/// endpoints, not of the CPU, which other scenarios attack).
fn classify(endpoint: u64, result: Result<(), agent_lib::Error>) -> Step {
    use agent_lib::Error;
    Step::Bits(match result {
        // The server takes what comes to its endpoint; nobody else receives.
        Ok(()) if endpoint == SERVICE => 0,
        Ok(()) => wrong("delivered where nobody receives", endpoint, result),
        Err(Error::Exhausted) => {
            let _ = agent_lib::sleep_us(BACK_OFF_US);
            SAW_EXHAUSTED
        }
        Err(Error::TimedOut) => SAW_TIMED_OUT,
        Err(Error::PeerGone) if endpoint == SERVICE => return Step::ServerGone,
        Err(_) => wrong("unexpected error", endpoint, result),
    })
}

/// Sends (or, when `call`, calls) garbage to `endpoint` with `timeout_us`.
fn garbage_to(endpoint: u64, call: bool, timeout_us: u64) -> Step {
    let result = if call {
        let mut reply = [0u8; 64];
        agent_lib::call_timeout(endpoint, GARBAGE, &mut reply, timeout_us).map(|_| ())
    } else {
        agent_lib::send_timeout(endpoint, GARBAGE, timeout_us)
    };
    classify(endpoint, result)
}

/// Calls the service with `number` and `timeout_us`, checking the answer.
fn call_service(number: u64, timeout_us: u64) -> Step {
    let mut reply = [0u8; 64];
    match agent_lib::call_timeout(SERVICE, &number.to_le_bytes(), &mut reply, timeout_us) {
        Ok(length) => match parse_reply(&reply[..length.min(reply.len())]) {
            Some((value, _)) if value == answer(number) => Step::Bits(SAW_ANSWER),
            _ => Step::Bits(wrong("wrong answer", SERVICE, Ok(()))),
        },
        Err(error) => classify(SERVICE, Err(error)),
    }
}

/// Returns the endpoint after `endpoint` that the attacker may send to
/// and nobody serves.
fn next_unserved(endpoint: u64) -> u64 {
    let mut next = endpoint;
    loop {
        next = (next + 1) % agent_lib::abi::MAX_ENDPOINTS;
        if next != SERVICE && OFF_LIMITS & 1 << next == 0 {
            return next;
        }
    }
}

/// Floods every endpoint the attacker may send to with garbage, round after
/// round (sends and calls, long and short timeouts), until the server is
/// gone or [`FLOOD_MAX_US`] passed. Returns the result bits seen.
pub fn send_flood() -> i64 {
    let until = agent_lib::clock_us() + FLOOD_MAX_US;
    let mut bits = 0;
    let mut round: u64 = 0;
    while agent_lib::clock_us() < until {
        for endpoint in 0..agent_lib::abi::MAX_ENDPOINTS {
            if OFF_LIMITS & 1 << endpoint != 0 {
                continue;
            }
            let timeout = if round.is_multiple_of(2) {
                FLOOD_LONG_US
            } else {
                FLOOD_SHORT_US
            };
            match garbage_to(endpoint, round % 3 == 2, timeout) {
                Step::Bits(seen) => bits |= seen,
                Step::ServerGone => return bits,
            }
        }
        round += 1;
    }
    bits
}

/// Calls the service as fast as it answers (long and short timeouts,
/// checking every answer), every fourth step sending or calling garbage to
/// an endpoint nobody serves instead, until the server is gone or
/// [`FLOOD_MAX_US`] passed. Returns the result bits seen.
pub fn call_flood() -> i64 {
    let until = agent_lib::clock_us() + FLOOD_MAX_US;
    let mut bits = 0;
    let mut unserved = 0;
    let mut number: u64 = 1 << 32;
    while agent_lib::clock_us() < until {
        number += 1;
        let step = match number % 8 {
            3 | 7 => {
                unserved = next_unserved(unserved);
                garbage_to(unserved, number % 8 == 7, FLOOD_LONG_US)
            }
            0 => call_service(number, FLOOD_SHORT_US),
            _ => call_service(number, CALL_LONG_US),
        };
        match step {
            Step::Bits(seen) => bits |= seen,
            Step::ServerGone => return bits,
        }
    }
    bits
}
