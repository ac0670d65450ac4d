//! Hostile: one generation of the orphan bomb (see `orphan_bomb`): starts
//! two copies of itself, retrying every millisecond while refused, then
//! exits, leaving its children without a live parent.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    for _ in 0..2 {
        while agent_lib::spawn("orphan_bomb_child", None).is_err() {
            let _ = agent_lib::sleep_us(1_000);
        }
    }
    0
}
