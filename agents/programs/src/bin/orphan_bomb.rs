//! Hostile: the root of an orphan bomb. Starts one `orphan_bomb_child` and
//! then sleeps; each child starts two copies of itself (retrying while
//! refused) and exits, so the tree keeps growing below agents that have
//! ended. Its budget must still count every live descendant (the tree is
//! fixed at spawn), and a kill of the root must reach them all. Never ends
//! on its own.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

agent_lib::agent_main!(main);

fn main() -> i64 {
    while agent_lib::spawn("orphan_bomb_child", None).is_err() {
        let _ = agent_lib::sleep_us(1_000);
    }
    loop {
        let _ = agent_lib::sleep_us(100_000);
    }
}
