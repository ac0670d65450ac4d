//! Call-cycle attacker b: owns endpoint 7 and calls endpoint 6, whose owner
//! calls back (see `agent_programs::cycle` for its exit statuses).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    agent_programs::cycle::run(7, 6)
}
