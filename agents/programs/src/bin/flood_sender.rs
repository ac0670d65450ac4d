//! Endpoint-flood attacker child: sends and calls garbage to every endpoint
//! it may (nobody but the service receives) until the server is gone.
//! Exits with the result bits it saw (`agent_programs::flood`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_programs::flood::send_flood()
}
