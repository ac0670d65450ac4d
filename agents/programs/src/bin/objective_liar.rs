//! A CPU hog that lies about its learning objective: it declares a loss
//! target of zero and reports a huge loss over and over while it spins,
//! so the task manager reports it behind (by its own, unverifiable
//! report). The scheduler must not let that claim take the CPU from the
//! agents beside it: a reported lag only separates the learner's states,
//! it earns no reward.
//!
//! Exit 0 after [`SPIN_US`] of spinning.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::println;

agent_lib::agent_main!(main);

/// How long it spins, µs.
const SPIN_US: u64 = 1_500_000;
/// The loss it claims (far above any target).
const CLAIMED_LOSS: f32 = 1_000.0;

fn main() -> i64 {
    if let Err(error) = agent_lib::declare_loss_objective(0.0, 60_000_000) {
        println!("objective_liar: objective refused: {error:?}");
        return 10;
    }
    let start = agent_lib::clock_us();
    let mut reports = 0u64;
    while agent_lib::clock_us().saturating_sub(start) < SPIN_US {
        if agent_lib::report_loss(CLAIMED_LOSS).is_err() {
            return 11;
        }
        reports += 1;
        for _ in 0..1_000 {
            core::hint::spin_loop();
        }
    }
    println!("objective_liar: reported a huge loss {reports} times");
    0
}
