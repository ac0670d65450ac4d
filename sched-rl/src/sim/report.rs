//! What one simulation measured, and the summary figures derived from it.
//!
//! Statistics here use `f64`: this is host-side reporting, never called
//! from a policy.

use crate::agent::Microseconds;
use crate::scheduler::SchedulerStats;
use alloc::vec::Vec;

/// Microseconds in one second.
const MICROSECONDS_PER_SECOND: f64 = 1_000_000.0;

/// The raw measurements of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReport {
    /// (completion time, response time) of every latency-sensitive burst,
    /// warm-up included (for learning curves).
    pub responses: Vec<(Microseconds, Microseconds)>,
    /// Measurements below exclude everything before this time.
    pub warmup_us: Microseconds,
    /// Simulated length.
    pub duration_us: Microseconds,
    /// Deadline-bound bursts that were due after the warm-up.
    pub deadline_bursts: u64,
    /// Of those, the ones that completed late or never.
    pub deadline_misses: u64,
    /// CPU time of bursts completed after the warm-up.
    pub completed_work_us: Microseconds,
    /// The longest time any agent stayed runnable without running.
    pub longest_wait_us: Microseconds,
    /// Per agent (after warm-up): CPU time received and time spent runnable but waiting.
    pub service: Vec<(Microseconds, Microseconds)>,
    /// Times the policy returned an agent that was not runnable.
    pub invalid_picks: u64,
    /// The policy's own counters at the end.
    pub stats: SchedulerStats,
    /// (completion time, latency) of every request an agent with a latency
    /// objective served (each completed burst), warm-up included.
    pub objective_responses: Vec<(Microseconds, Microseconds)>,
    /// Requests against latency objectives answered after the warm-up.
    /// A request still unanswered at the end is not counted.
    pub objective_requests: u64,
    /// Of those, the ones answered within their agent's target.
    pub objective_requests_met: u64,
}

impl SimReport {
    /// Returns the sorted response times of bursts completed after warm-up.
    pub fn measured_responses(&self) -> Vec<Microseconds> {
        let mut responses: Vec<Microseconds> = self
            .responses
            .iter()
            .filter(|(at, _)| *at >= self.warmup_us)
            .map(|(_, response)| *response)
            .collect();
        responses.sort_unstable();
        responses
    }

    /// Returns the mean response time after warm-up (0 when there is none).
    pub fn mean_response_us(&self) -> f64 {
        let responses = self.measured_responses();
        if responses.is_empty() {
            return 0.0;
        }
        responses.iter().sum::<u64>() as f64 / responses.len() as f64
    }

    /// Returns the `percentile` (0..=100) response time after warm-up,
    /// nearest-rank (0 when there is none).
    pub fn percentile_response_us(&self, percentile: u64) -> Microseconds {
        percentile_of(&self.measured_responses(), percentile)
    }

    /// Returns the share of objective requests after warm-up that met their
    /// target, or `None` when there were none.
    pub fn objective_met_share(&self) -> Option<f64> {
        (self.objective_requests > 0)
            .then(|| self.objective_requests_met as f64 / self.objective_requests as f64)
    }

    /// Returns the `percentile` (0..=100) latency of objective requests
    /// answered after warm-up, nearest-rank (0 when there is none).
    pub fn objective_percentile_us(&self, percentile: u64) -> Microseconds {
        let mut latencies: Vec<Microseconds> = self
            .objective_responses
            .iter()
            .filter(|(at, _)| *at >= self.warmup_us)
            .map(|(_, latency)| *latency)
            .collect();
        latencies.sort_unstable();
        percentile_of(&latencies, percentile)
    }

    /// Returns the fraction of deadline-bound bursts that missed.
    pub fn deadline_miss_rate(&self) -> f64 {
        if self.deadline_bursts == 0 {
            return 0.0;
        }
        self.deadline_misses as f64 / self.deadline_bursts as f64
    }

    /// Returns completed work in CPU-milliseconds per simulated second.
    pub fn throughput_ms_per_second(&self) -> f64 {
        let measured = self.duration_us.saturating_sub(self.warmup_us).max(1) as f64;
        self.completed_work_us as f64 / 1_000.0 / (measured / MICROSECONDS_PER_SECOND)
    }

    /// Returns Jain's fairness index over every agent's served fraction
    /// `cpu / (cpu + wait)` (1 = every agent is served equally promptly).
    pub fn jain_index(&self) -> f64 {
        let fractions: Vec<f64> = self
            .service
            .iter()
            .filter(|(cpu, wait)| cpu + wait > 0)
            .map(|(cpu, wait)| *cpu as f64 / (cpu + wait) as f64)
            .collect();
        let sum: f64 = fractions.iter().sum();
        let sum_of_squares: f64 = fractions.iter().map(|fraction| fraction * fraction).sum();
        if sum_of_squares == 0.0 {
            return 1.0;
        }
        sum * sum / (fractions.len() as f64 * sum_of_squares)
    }
}

/// Returns the nearest-rank `percentile` of sorted `values` (0 if empty).
pub fn percentile_of(values: &[Microseconds], percentile: u64) -> Microseconds {
    if values.is_empty() {
        return 0;
    }
    let rank = (percentile.min(100) as usize * values.len())
        .div_ceil(100)
        .max(1);
    values[rank - 1]
}
