//! Benchmark: cycles of a null syscall round trip from ring 3 (`rdtsc` around `syscall`).
//!
//! Also times an empty `rdtsc` pair, the measurement's own overhead, and
//! logs one `BENCH` line for each (see `agent_lib::bench`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Syscall, bench, raw};

agent_lib::agent_main!(main);

/// Untimed calls first (caches, TLB, branch predictors).
const WARM_UP: usize = 200;

fn main() -> i64 {
    for _ in 0..WARM_UP {
        raw::syscall0(Syscall::Null);
    }
    // One sample set, reused: two would not fit the user stack.
    let mut samples = bench::Samples::new();
    for _ in 0..bench::MAX_SAMPLES {
        samples.record(bench::time(|| {}));
    }
    samples.report("rdtsc_overhead", "ring=3");
    samples.clear();
    let mut failures = 0;
    for _ in 0..bench::MAX_SAMPLES {
        let mut result = 0;
        samples.record(bench::time(|| result = raw::syscall0(Syscall::Null)));
        if result != 0 {
            failures += 1;
        }
    }
    samples.report("null_syscall", "ring=3");
    failures
}
