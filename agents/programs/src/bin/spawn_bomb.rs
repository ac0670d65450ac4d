//! Hostile: spawns copies of itself (each does the same) forever, retrying
//! when refused. Never ends on its own.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    loop {
        if agent_lib::spawn("spawn_bomb", None).is_err() {
            let _ = agent_lib::sleep_us(1_000);
        }
    }
}
