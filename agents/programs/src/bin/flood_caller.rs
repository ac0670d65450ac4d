//! Endpoint-flood attacker child: spawns two `flood_leaf`s (more callers),
//! then calls the service as fast as it answers (and endpoints nobody
//! serves now and then) until the server is gone, checking the answers,
//! and waits for the two. With the attacker's seven of these its tree has
//! 21 callers, more than an endpoint's queue holds. Exits with the result
//! bits it and its children saw (`agent_programs::flood`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_programs::flood::{SAW_WRONG, call_flood};

agent_lib::agent_main!(main);

/// How long it waits for each child after its flood (µs).
const CHILD_WAIT_US: u64 = 20_000_000;

fn main() -> i64 {
    let mut bits = 0;
    let mut children = [0u64; 2];
    for (child, program) in children.iter_mut().zip(["flood_leaf"; 2]) {
        match agent_lib::spawn(program, None) {
            Ok(pid) => *child = pid,
            // The tree's budget (24 agents) is enough for all of them.
            Err(error) => {
                agent_lib::println!("flood: spawn {program} refused: {error:?}");
                bits |= SAW_WRONG;
            }
        }
    }
    bits |= call_flood();
    for child in children.into_iter().filter(|pid| *pid != 0) {
        match agent_lib::wait_timeout(child, CHILD_WAIT_US) {
            Ok(status) if status >= 0 => bits |= status,
            other => {
                agent_lib::println!("flood: child {child} ended with {other:?}");
                bits |= SAW_WRONG;
            }
        }
    }
    bits
}
