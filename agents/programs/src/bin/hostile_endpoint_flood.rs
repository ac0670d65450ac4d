//! Hostile: floods the endpoint of a well-behaved server (`flood_server`)
//! with calls and every other endpoint it may send to with sends and calls
//! nobody receives, from itself and its 23-agent tree (seven `flood_caller`
//! children with two `flood_leaf` callers each, and a `flood_sender`: 21
//! callers of the service, more than its queue holds), with long and short
//! timeouts, until the server is gone (`PeerGone`: its client ended it). The
//! kernel must hold its tree to its share of each queue (`Exhausted`
//! beyond), time its blocked calls out, never deliver to an endpoint nobody
//! receives on, and still answer its calls correctly. Exits 0 when all of
//! that was seen; else 100 plus the result bits (`agent_programs::flood`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Error, println};
use agent_programs::flood::{
    SAW_ANSWER, SAW_EXHAUSTED, SAW_TIMED_OUT, SAW_WRONG, SERVICE, send_flood,
};

agent_lib::agent_main!(main);

/// Children it spawns: seven `flood_caller`s and a `flood_sender` (with
/// the callers' children 23 agents, within a tree's 24).
const CHILDREN: [&str; 8] = [
    "flood_caller",
    "flood_caller",
    "flood_caller",
    "flood_caller",
    "flood_sender",
    "flood_caller",
    "flood_caller",
    "flood_caller",
];
/// How long the attacker waits for each child after the flood (µs).
const CHILD_WAIT_US: u64 = 30_000_000;

fn main() -> i64 {
    let mut bits = 0;
    let mut children = [0u64; CHILDREN.len()];
    for (child, program) in children.iter_mut().zip(CHILDREN) {
        match agent_lib::spawn(program, None) {
            Ok(pid) => *child = pid,
            Err(error) => {
                agent_lib::println!("flood: spawn {program} refused: {error:?}");
                bits |= SAW_WRONG;
            }
        }
    }
    // It holds no receive right (and its children inherit none).
    let mut buffer = [0u8; 64];
    let receive = agent_lib::receive_timeout(SERVICE, &mut buffer, 1_000);
    if receive != Err(Error::PermissionDenied) {
        agent_lib::println!("flood: a receive without the right gave {receive:?}");
        bits |= SAW_WRONG;
    }
    bits |= send_flood();
    for child in children.into_iter().filter(|pid| *pid != 0) {
        match agent_lib::wait_timeout(child, CHILD_WAIT_US) {
            Ok(status) if status >= 0 => bits |= status,
            other => {
                agent_lib::println!("flood: child {pid} ended with {other:?}", pid = child);
                bits |= SAW_WRONG;
            }
        }
    }
    let wanted = SAW_EXHAUSTED | SAW_TIMED_OUT | SAW_ANSWER;
    println!("hostile_endpoint_flood: result bits {bits:#x} (want {wanted:#x}, no {SAW_WRONG:#x})");
    if bits & wanted == wanted && bits & SAW_WRONG == 0 {
        0
    } else {
        100 + bits
    }
}
