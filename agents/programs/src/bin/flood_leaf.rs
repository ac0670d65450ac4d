//! Endpoint-flood attacker grandchild: calls the service as fast as it
//! answers (and endpoints nobody serves now and then) until the server is
//! gone, checking the answers. Exits with the result bits it saw
//! (`agent_programs::flood`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_programs::flood::call_flood()
}
