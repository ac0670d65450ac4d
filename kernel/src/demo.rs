//! Demo agents: the workload `cargo xtask run` boots into, also measured by
//! the scheduler tests.
//!
//! - `inference-N` (interactive): a short burst of compute per request, then
//!   sleep until the next request arrives;
//! - `training-N` (batch): long CPU-bound compute, never sleeps;
//! - `periodic` (deadline): released every [`PERIODIC_PERIOD_US`], must finish
//!   its work within [`PERIODIC_DEADLINE_US`] of each release.
//!
//! Work is counted in loop iterations calibrated at start ([`calibrate_work`]),
//! so a burst takes CPU time, not wall time: a preempted burst finishes later.

use alloc::format;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sched_rl::ClassHint;

use crate::{task, time};

/// CPU time of one inference request.
pub const INFERENCE_BURST_US: u64 = 300;
/// Shortest and longest think time between two inference requests.
pub const INFERENCE_THINK_US: (u64, u64) = (2_000, 10_000);
/// CPU time of one training step; training agents never block.
pub const TRAINING_STEP_US: u64 = 20_000;
/// Release period of the periodic agent.
pub const PERIODIC_PERIOD_US: u64 = 10_000;
/// Relative deadline of the periodic agent.
pub const PERIODIC_DEADLINE_US: u64 = 4_000;
/// CPU time of the periodic agent's job.
pub const PERIODIC_WORK_US: u64 = 1_000;

static ITERATIONS_PER_MS: AtomicU64 = AtomicU64::new(100_000);
static STOP: AtomicBool = AtomicBool::new(false);

/// Measures how many work iterations fit in a millisecond of CPU time.
pub fn calibrate_work() {
    const PROBE_ITERATIONS: u64 = 200_000;
    let mut best = u64::MAX;
    for _ in 0..3 {
        let start = time::now_us();
        spin(PROBE_ITERATIONS);
        best = best.min(time::now_us().saturating_sub(start).max(1));
    }
    ITERATIONS_PER_MS.store((PROBE_ITERATIONS * 1000 / best).max(1), Ordering::Relaxed);
}

fn spin(iterations: u64) {
    let mut value = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..iterations {
        value = core::hint::black_box(value.rotate_left(7) ^ 0x5851_F42D_4C95_7F2D);
    }
    core::hint::black_box(value);
}

/// Burns about `microseconds` of CPU time.
pub fn burn_us(microseconds: u64) {
    spin(microseconds * ITERATIONS_PER_MS.load(Ordering::Relaxed) / 1000);
}

/// Asks every demo agent to finish its current iteration and exit.
pub fn stop() {
    STOP.store(true, Ordering::Relaxed);
}

/// Lets demo agents run again after [`stop`].
pub fn allow() {
    STOP.store(false, Ordering::Relaxed);
}

fn stopping() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// A tiny xorshift generator for think times, so runs are repeatable.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn inference(seed: u64) {
    let mut state = seed | 1;
    while !stopping() {
        burn_us(INFERENCE_BURST_US);
        let (low, high) = INFERENCE_THINK_US;
        task::sleep_us(low + next_random(&mut state) % (high - low));
    }
}

fn training() {
    while !stopping() {
        burn_us(TRAINING_STEP_US);
    }
}

fn periodic() {
    let mut release = time::now_us();
    while !stopping() {
        burn_us(PERIODIC_WORK_US);
        let finished = time::now_us();
        task::report_deadline(finished <= release + PERIODIC_DEADLINE_US);
        release += PERIODIC_PERIOD_US;
        // A job that overran its period starts the next one at once.
        release = release.max(finished.saturating_sub(PERIODIC_PERIOD_US));
        task::sleep_us(release.saturating_sub(time::now_us()));
    }
}

/// Demo agent kinds [`spawn_kind`] knows.
pub const KINDS: [&str; 3] = ["inference", "training", "periodic"];

/// Spawns one demo agent of `kind` (see [`KINDS`]), named `kind-N`;
/// `None` for an unknown kind.
pub fn spawn_kind(kind: &str) -> Option<Result<sched_rl::AgentId, task::SpawnError>> {
    static SPAWNED: AtomicU64 = AtomicU64::new(0);
    let serial = SPAWNED.fetch_add(1, Ordering::Relaxed);
    let name = format!("{kind}-x{serial}");
    Some(match kind {
        "inference" => {
            let seed = 0x9876_5432 + serial * 7919;
            task::spawn(&name, ClassHint::Interactive, move || inference(seed))
        }
        "training" => task::spawn(&name, ClassHint::Batch, training),
        "periodic" => task::spawn(
            &name,
            ClassHint::Periodic {
                deadline_us: PERIODIC_DEADLINE_US,
            },
            periodic,
        ),
        _ => return None,
    })
}

/// Spawns the demo workload: `inference` interactive agents, `training`
/// batch agents and one periodic agent. Returns how many were spawned.
pub fn spawn_workload(inference_agents: u64, training_agents: u64) -> usize {
    let mut spawned = 0;
    for index in 0..inference_agents {
        let seed = 0x1234_5678 + index * 7919;
        let name = format!("inference-{index}");
        if task::spawn(&name, ClassHint::Interactive, move || inference(seed)).is_ok() {
            spawned += 1;
        }
    }
    for index in 0..training_agents {
        let name = format!("training-{index}");
        if task::spawn(&name, ClassHint::Batch, training).is_ok() {
            spawned += 1;
        }
    }
    let periodic_hint = ClassHint::Periodic {
        deadline_us: PERIODIC_DEADLINE_US,
    };
    if task::spawn("periodic", periodic_hint, periodic).is_ok() {
        spawned += 1;
    }
    spawned
}
