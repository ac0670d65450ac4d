//! Cycle samples for the ring-3 benchmark programs and their `BENCH` report line.
//!
//! A program times an operation with [`raw::read_timestamp_counter`] around
//! it, keeps the samples in a fixed array on its stack ([`Samples`]), and
//! logs one line `BENCH name=... p50=... p99=... mean=... min=... n=...`
//! (cycles) that `cargo xtask bench kernel` parses from the serial log.

use crate::{println, raw};

/// Most samples one [`Samples`] holds (32 KiB of the 64 KiB user stack).
pub const MAX_SAMPLES: usize = 4096;

/// Cycle counts of one measured operation.
pub struct Samples {
    values: [u64; MAX_SAMPLES],
    length: usize,
}

impl Samples {
    /// Returns an empty set.
    pub const fn new() -> Self {
        Self {
            values: [0; MAX_SAMPLES],
            length: 0,
        }
    }

    /// Keeps `cycles` (dropped once [`MAX_SAMPLES`] are kept).
    pub fn record(&mut self, cycles: u64) {
        if self.length < MAX_SAMPLES {
            self.values[self.length] = cycles;
            self.length += 1;
        }
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.length = 0;
    }

    /// Logs the `BENCH` line for operation `name` with `extra` words appended.
    pub fn report(&mut self, name: &str, extra: &str) {
        report(name, &mut self.values[..self.length], extra);
    }
}

/// Logs the `BENCH` line of `values` (cycles; sorted in place) for
/// operation `name` with `extra` words appended.
pub fn report(name: &str, values: &mut [u64], extra: &str) {
    values.sort_unstable();
    let count = values.len();
    if count == 0 {
        println!("BENCH name={name} n=0 {extra}");
        return;
    }
    let at = |percent: usize| values[((count * percent).div_ceil(100)).clamp(1, count) - 1];
    let mean = values.iter().sum::<u64>() / count as u64;
    println!(
        "BENCH name={name} p50={} p99={} mean={mean} min={} max={} n={count} unit=cycles {extra}",
        at(50),
        at(99),
        values[0],
        values[count - 1],
    );
}

impl Default for Samples {
    fn default() -> Self {
        Self::new()
    }
}

/// Returns the cycles of `operation`, timed with two `rdtsc`.
#[inline(always)]
pub fn time(operation: impl FnOnce()) -> u64 {
    let start = raw::read_timestamp_counter();
    operation();
    raw::read_timestamp_counter().wrapping_sub(start)
}
