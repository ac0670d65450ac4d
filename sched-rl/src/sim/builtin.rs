//! The built-in workloads, written in the workload-file format.
//!
//! Each is a text constant parsed by [`parse_workload`], so the built-ins
//! double as examples of the format. Latency-sensitive agents (`sensitive`)
//! are ground truth for the report; the hints are what agents *claim*.

use super::trace::parse_workload;
use super::workload::Workload;
use alloc::vec::Vec;

/// Interactive inference agents with short bursts among CPU-bound training.
pub const MIXED: &str = "\
workload mixed
duration 4s
warmup 400ms
# Inference: a short burst per request, then wait for the next request.
agent inference count=6 hint=interactive sensitive burst=100..600 block=io:3ms..12ms
# Training: long CPU bursts, short waits for the accelerator.
agent training count=4 hint=batch burst=20ms..60ms block=accelerator:500..2ms
";

/// Periodic control agents with deadlines beside training.
pub const PERIODIC: &str = "\
workload periodic
duration 4s
warmup 400ms
agent control count=4 hint=periodic:5ms sensitive burst=800..1500 period=10ms deadline=5ms
agent training count=3 hint=batch burst=20ms..60ms block=accelerator:500..2ms
";

/// Waves of short-lived agents arriving together (overload while a wave lasts).
pub const BURSTY: &str = "\
workload bursty
duration 4s
warmup 400ms
agent training count=3 hint=batch burst=20ms..60ms block=accelerator:500..2ms
agent wave-a count=10 arrive=500ms..600ms hint=unknown sensitive bursts=40 burst=200..1500 block=sleep:2ms..8ms
agent wave-b count=10 arrive=1500ms..1600ms hint=unknown sensitive bursts=40 burst=200..1500 block=sleep:2ms..8ms
agent wave-c count=10 arrive=2500ms..2600ms hint=unknown sensitive bursts=40 burst=200..1500 block=sleep:2ms..8ms
";

/// Agents that yield just before each tick to look interactive (and lie in their hint).
pub const GAMING: &str = "\
workload gaming
duration 4s
warmup 400ms
agent inference count=4 hint=interactive sensitive burst=100..600 block=io:3ms..12ms
agent training count=2 hint=batch burst=20ms..60ms block=accelerator:500..2ms
agent gamer count=2 hint=interactive yield-before-tick=50us
";

/// Half way through, the interactive and the CPU-bound agents swap behaviour.
pub const PHASE_CHANGE: &str = "\
workload phase-change
duration 4s
warmup 400ms
agent alpha count=3 hint=interactive sensitive burst=100..600 block=io:3ms..12ms
phase alpha at=2s burst=20ms..60ms block=accelerator:500..2ms
agent beta count=3 hint=batch burst=20ms..60ms block=accelerator:500..2ms
phase beta at=2s sensitive burst=100..600 block=io:3ms..12ms
";

/// Inference servers with latency objectives among training agents that
/// report themselves behind (unverifiably) and a hog that claims it too.
pub const OBJECTIVES: &str = "\
workload objectives
duration 4s
warmup 400ms
# Inference servers: each burst answers one request, due within 2 ms.
agent serve count=4 hint=interactive sensitive objective=latency:2ms burst=200..800 block=io:2ms..10ms
# A tighter class with smaller requests, due within 1 ms. (With 800 us of
# work, a 1 ms tick and no preemption on wake-up, 1 ms would be out of reach
# of any policy, the oracle included.)
agent serve-fast count=2 hint=interactive sensitive objective=latency:1ms burst=100..400 block=io:2ms..10ms
# Training: long CPU bursts. Two report that they are behind their loss
# curve (honest or not, nothing can check it); two make no claim.
agent train-behind count=2 hint=batch claims-behind burst=20ms..60ms block=accelerator:500..2ms
agent train count=2 hint=batch burst=20ms..60ms block=accelerator:500..2ms
# A CPU hog posing as interactive that claims to be behind as well.
agent poser hint=interactive claims-behind yield-before-tick=50us
";

/// Every built-in workload's text.
pub const ALL: [&str; 6] = [MIXED, PERIODIC, BURSTY, GAMING, PHASE_CHANGE, OBJECTIVES];

/// Returns every built-in workload, parsed.
pub fn builtin_workloads() -> Vec<Workload> {
    ALL.iter()
        .map(|text| {
            parse_workload(text)
                .unwrap_or_else(|error| panic!("built-in workload is malformed: {error}"))
        })
        .collect()
}
