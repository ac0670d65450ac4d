//! Exits at once with status 7 (a child for exit-status tests).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    7
}
