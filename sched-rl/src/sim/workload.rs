//! The description of a simulated workload: agents, their bursts and blocks.
//!
//! A [`Workload`] is what a workload file parses into (see
//! `WORKLOAD_FORMAT.md`); the built-in workloads are such files too.

use crate::agent::{BlockKind, ClassHint, Microseconds};
use crate::objective::Objective;
use crate::random::Rng;
use alloc::string::String;
use alloc::vec::Vec;

/// An inclusive range of microseconds, drawn uniformly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// Smallest value.
    pub minimum: Microseconds,
    /// Largest value.
    pub maximum: Microseconds,
}

impl TimeRange {
    /// Returns the range holding only `value`.
    pub const fn exactly(value: Microseconds) -> Self {
        Self {
            minimum: value,
            maximum: value,
        }
    }

    /// Returns a uniform draw from the range.
    pub fn draw(self, rng: &mut Rng) -> Microseconds {
        rng.between(self.minimum, self.maximum)
    }
}

/// What an agent does when a CPU burst completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterBurst {
    /// Block on `kind` for a drawn duration.
    Block {
        /// What it waits for.
        kind: BlockKind,
        /// How long it waits.
        duration: TimeRange,
    },
    /// Yield and start the next burst at once.
    Yield,
    /// Sleep until the next release, `period_us` after the previous one;
    /// each burst is due `deadline_us` after its release.
    Periodic {
        /// Time between releases.
        period_us: Microseconds,
        /// Relative deadline of each burst.
        deadline_us: Microseconds,
    },
}

/// How an agent uses the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Bursts of a drawn length, each followed by `after`.
    Bursts {
        /// Length of each CPU burst.
        burst: TimeRange,
        /// What follows each burst.
        after: AfterBurst,
    },
    /// Runs until `margin_us` before the next tick and yields, forever: a
    /// CPU hog disguised as an interactive agent.
    YieldBeforeTick {
        /// How long before the tick it yields.
        margin_us: Microseconds,
    },
}

/// A behaviour and whether its bursts count as latency-sensitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phase {
    /// How the agent behaves.
    pub behaviour: Behaviour,
    /// True when its response times are reported (ground truth, not a hint).
    pub latency_sensitive: bool,
}

/// One simulated agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSpec {
    /// Unique name.
    pub name: String,
    /// When it arrives.
    pub arrival: TimeRange,
    /// What it claims at spawn.
    pub hint: ClassHint,
    /// It exits after this many bursts; `None` runs forever.
    pub bursts: Option<u32>,
    /// A latency objective declared at arrival: each completed burst is one
    /// request, its response time the request's latency (measured by the
    /// simulator, as a kernel would). Holds through a phase change.
    pub objective: Option<Objective>,
    /// From arrival on it reports itself behind a training objective the
    /// simulator cannot check (an honest trainer or a liar alike).
    pub claims_behind: bool,
    /// Its behaviour from arrival.
    pub first: Phase,
    /// A later behaviour and the time it starts.
    pub change: Option<(Microseconds, Phase)>,
}

impl AgentSpec {
    /// Returns the phase in force at `now`.
    pub fn phase_at(&self, now: Microseconds) -> Phase {
        match self.change {
            Some((at, phase)) if now >= at => phase,
            _ => self.first,
        }
    }
}

/// A complete workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Name printed in reports.
    pub name: String,
    /// Simulated length.
    pub duration_us: Microseconds,
    /// Measurements start after this warm-up.
    pub warmup_us: Microseconds,
    /// Every agent (at most `MAX_AGENTS`).
    pub agents: Vec<AgentSpec>,
}

impl Workload {
    /// Returns true when some agent declares a latency objective or claims
    /// to be behind one.
    pub fn has_objectives(&self) -> bool {
        self.agents
            .iter()
            .any(|agent| agent.objective.is_some() || agent.claims_behind)
    }

    /// Returns the workload with its length, warm-up, arrivals and phase
    /// changes scaled by `numerator / denominator` (bursts and blocks
    /// unchanged); used for quick runs.
    pub fn shortened(&self, numerator: u64, denominator: u64) -> Self {
        let mut copy = self.clone();
        copy.duration_us = self.duration_us * numerator / denominator.max(1);
        copy.warmup_us = self.warmup_us * numerator / denominator.max(1);
        for agent in &mut copy.agents {
            agent.arrival.minimum = agent.arrival.minimum * numerator / denominator.max(1);
            agent.arrival.maximum = agent.arrival.maximum * numerator / denominator.max(1);
            if let Some((at, _)) = &mut agent.change {
                *at = *at * numerator / denominator.max(1);
            }
        }
        copy
    }
}
