//! Well-behaved: starts one short child, lets it exit, sleeps while other
//! trees flood the kernel with exits, then waits for it: the status (7)
//! must still be there. Ends with 0 if it was, 1 if `wait` failed, 2 if
//! the status was wrong, 3 if the spawn failed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::println;

agent_lib::agent_main!(main);

fn main() -> i64 {
    let Ok(child) = agent_lib::spawn("exit_quick", None) else {
        return 3;
    };
    // Sleep in pieces (each sleep is bounded by the kernel's limit).
    for _ in 0..40 {
        let _ = agent_lib::sleep_us(100_000);
    }
    match agent_lib::wait(child) {
        Ok(7) => {
            println!("child {child} status kept");
            0
        }
        Ok(other) => {
            println!("child {child}: wrong status {other}");
            2
        }
        Err(error) => {
            println!("child {child}: wait failed: {error:?}");
            1
        }
    }
}
