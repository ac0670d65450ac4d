//! Capability checks. The kernel spawns this agent without `sleep` and
//! without endpoint 3: both must be refused; a child it spawns asking for
//! everything must be refused the same (children get at most the parent's
//! capabilities). Receive rights are granted, not inherited: a
//! `receive_probe` spawned without a set may not receive on endpoint 4, one
//! granted it takes the endpoint, and one granted it while this agent owns
//! the endpoint is refused. Exits 0 when every refusal happened.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{CapabilitySet, Error, println};

/// The endpoint `receive_probe` receives on.
const PROBED: u64 = 4;

/// Runs `receive_probe`, granted receive rights on `grant` (`None`: spawned
/// without a set), and returns its exit status.
fn probe(grant: Option<u64>) -> Option<i64> {
    let child = match grant {
        Some(endpoints) => agent_lib::spawn_granting("receive_probe", endpoints),
        None => agent_lib::spawn("receive_probe", None),
    };
    agent_lib::wait(child.ok()?).ok()
}

agent_lib::agent_main!(main);

fn main() -> i64 {
    if agent_lib::sleep_us(10) != Err(Error::PermissionDenied) {
        println!("denied: sleep was allowed");
        return 1;
    }
    if agent_lib::send(3, b"x") != Err(Error::PermissionDenied) {
        println!("denied: send to endpoint 3 was allowed");
        return 2;
    }
    let Ok(child) = agent_lib::spawn("denied_child", Some(&CapabilitySet::ALL)) else {
        println!("denied: spawn failed");
        return 3;
    };
    match agent_lib::wait(child) {
        Ok(0) => {}
        other => {
            println!("denied: child ended with {other:?}");
            return 4;
        }
    }
    // 1: refused, 2: took the endpoint (see `receive_probe`).
    if probe(None) != Some(1) {
        println!("denied: a child inherited a receive right");
        return 5;
    }
    if probe(Some(1 << PROBED)) != Some(2) {
        println!("denied: a granted receive right did not work");
        return 6;
    }
    // The probe's endpoint is dead since it exited: this agent takes it.
    let mut buffer = [0u8; 8];
    if agent_lib::receive_timeout(PROBED, &mut buffer, 1_000) != Err(Error::TimedOut) {
        println!("denied: could not take over the dead endpoint");
        return 7;
    }
    if probe(Some(1 << PROBED)) != Some(1) {
        println!("denied: a child received on its parent's endpoint");
        return 8;
    }
    println!("denied: every refusal happened, in the children too");
    0
}
