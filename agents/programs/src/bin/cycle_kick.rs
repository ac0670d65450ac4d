//! Starts the call cycle: one plain send to each of `cycle_a`'s and
//! `cycle_b`'s endpoints, so each claims its endpoint with a first receive.
//! A send left queued when its owner exits ends in `PeerGone`; exits 0.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    let _ = agent_lib::send(6, b"kick");
    let _ = agent_lib::send(7, b"kick");
    0
}
