//! Hello from ring 3: logs a line, reads the clock, exits with 0.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::println;

agent_lib::agent_main!(main);

fn main() -> i64 {
    let now = agent_lib::clock_us();
    println!("hello from ring 3 at {now} us");
    0
}
