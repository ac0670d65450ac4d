//! Endpoint-flood scenario, the well-behaved client: spawns `flood_server`
//! granting it receive rights on `SERVICE` and `CONTROL` only, checks the
//! timeouts of `wait`, `receive` and `call`, waits for the attacker's tree
//! to grow, then makes [`CALLS`] calls to the server while
//! `hostile_endpoint_flood` floods it: every one must be
//! answered correctly (no `Exhausted`, no `TimedOut`), and the server must
//! have served others in between (the flood was on). Ends the server with
//! `QUIT`. Exits 0 when all held, else the number of the failed step.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Error, println};
use agent_programs::flood::{CONTROL, PRIVATE, QUIT, SERVICE, UNSERVED, answer, parse_reply};

agent_lib::agent_main!(main);

/// Calls made to the flooded server.
const CALLS: u64 = 100;
/// Timeout of each of them (µs): generous, a flood must not need it.
const CALL_TIMEOUT_US: u64 = 2_000_000;
/// Timeout of the `wait` that must expire (µs).
const SHORT_WAIT_US: u64 = 2_000;
/// Timeout of the `receive` and `call` that must expire (µs).
const SHORT_IPC_US: u64 = 5_000;
/// A timed-out call must come back within this long (µs).
const LATE_BOUND_US: u64 = 500_000;
/// Agents added since this program started that must be live before the
/// calls (the attacker's tree grows to 23, and the server is one more).
const FLOOD_TREE_GROWTH: u64 = 18;
/// How long the client waits at most for the attacker's tree (µs).
const FLOOD_WAIT_US: u64 = 40_000_000;
/// Pause between two looks at the number of live agents (µs).
const FLOOD_LOOK_US: u64 = 20_000;

/// Logs why step `step` failed and returns it as the exit status.
fn fail(step: i64, what: &str) -> i64 {
    println!("flood_client: step {step} failed: {what}");
    step
}

/// Returns the number of live agents (0 if the kernel does not say).
fn live_agents() -> u64 {
    agent_lib::stats::<agent_lib::abi::SchedulerStats>().map_or(0, |stats| stats.live_agents)
}

/// Returns whether `elapsed` µs is an honest wait for a `timeout` µs.
fn waited(elapsed: u64, timeout: u64) -> bool {
    elapsed >= timeout && elapsed < timeout + LATE_BOUND_US
}

fn main() -> i64 {
    // Counted first: the attacker starts beside this program, and its tree
    // may grow while the steps below run.
    let baseline = live_agents();
    let Ok(server) = agent_lib::spawn_granting("flood_server", 1 << SERVICE | 1 << CONTROL) else {
        return fail(1, "spawn the server");
    };
    let start = agent_lib::clock_us();
    match agent_lib::wait_timeout(server, SHORT_WAIT_US) {
        Err(Error::TimedOut) if waited(agent_lib::clock_us() - start, SHORT_WAIT_US) => {}
        other => {
            println!("flood_client: wait for a live child gave {other:?}");
            return fail(2, "wait with a timeout");
        }
    }
    if agent_lib::send_timeout(CONTROL, b"hello", CALL_TIMEOUT_US).is_err() {
        return fail(3, "hello to the server");
    }
    let mut buffer = [0u8; 64];
    let start = agent_lib::clock_us();
    match agent_lib::receive_timeout(PRIVATE, &mut buffer, SHORT_IPC_US) {
        Err(Error::TimedOut) if waited(agent_lib::clock_us() - start, SHORT_IPC_US) => {}
        other => {
            println!("flood_client: receive on an endpoint nobody sends to gave {other:?}");
            return fail(4, "receive with a timeout");
        }
    }
    let start = agent_lib::clock_us();
    match agent_lib::call_timeout(UNSERVED, b"anyone?", &mut buffer, SHORT_IPC_US) {
        Err(Error::TimedOut) if waited(agent_lib::clock_us() - start, SHORT_IPC_US) => {}
        other => {
            println!("flood_client: call to an endpoint nobody serves gave {other:?}");
            return fail(5, "call with a timeout");
        }
    }

    // Spawns are slow under load: wait until the attacker's tree is (about)
    // complete, so the calls below meet the whole flood.
    let start = agent_lib::clock_us();
    while live_agents() < baseline + FLOOD_TREE_GROWTH {
        if agent_lib::clock_us() - start > FLOOD_WAIT_US {
            return fail(14, "the attacker's tree never grew");
        }
        let _ = agent_lib::sleep_us(FLOOD_LOOK_US);
    }
    let (mut first_served, mut last_served, mut slowest_us) = (None, 0, 0);
    for number in 0..CALLS {
        let mut reply = [0u8; 64];
        let start = agent_lib::clock_us();
        let result =
            agent_lib::call_timeout(SERVICE, &number.to_le_bytes(), &mut reply, CALL_TIMEOUT_US);
        slowest_us = slowest_us.max(agent_lib::clock_us() - start);
        match result {
            Ok(length) => match parse_reply(&reply[..length.min(reply.len())]) {
                Some((value, served)) if value == answer(number) => {
                    first_served.get_or_insert(served);
                    last_served = served;
                }
                _ => return fail(8, "a wrong answer"),
            },
            Err(Error::Exhausted) => return fail(6, "a call refused with Exhausted"),
            Err(Error::TimedOut) => return fail(7, "a call timed out"),
            Err(error) => {
                println!("flood_client: call {number} gave {error:?}");
                return fail(9, "a call failed");
            }
        }
    }
    let others = last_served - first_served.unwrap_or(last_served) + 1 - CALLS;
    println!(
        "flood_client: {CALLS} calls answered correctly, slowest {slowest_us} us; the server served {others} others meanwhile"
    );
    if others == 0 {
        return fail(
            10,
            "the server served nobody else: no flood during the calls",
        );
    }
    if agent_lib::receive_timeout(SERVICE, &mut buffer, SHORT_IPC_US)
        != Err(Error::PermissionDenied)
    {
        return fail(11, "a receive on the server's endpoint was not refused");
    }
    if agent_lib::call_timeout(SERVICE, QUIT, &mut buffer, CALL_TIMEOUT_US).is_err() {
        return fail(12, "quit the server");
    }
    match agent_lib::wait_timeout(server, CALL_TIMEOUT_US) {
        Ok(0) => 0,
        other => {
            println!("flood_client: the server ended with {other:?}");
            fail(13, "the server's exit")
        }
    }
}
