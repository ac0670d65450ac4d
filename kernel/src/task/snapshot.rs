//! Copies of the task manager's state for the layers above: agents and scheduler.
//!
//! The shell, the dashboard, the `stats` syscall and the benchmarks read
//! these plain structs; none of them sees the manager itself. Each copy is
//! taken under the task lock with interrupts off, so it is short: per agent
//! only the summary numbers, not its histograms.

use alloc::{string::String, vec::Vec};

use sched_rl::{ClassHint, Objective, ObjectiveStatus, Scheduler, SchedulerStats};

use super::{
    agent::{AgentState, Progress},
    histogram::Histogram,
    manager::{Manager, ManagerCounters},
};

/// One live agent, as status views show it.
#[derive(Debug, Clone)]
pub struct AgentSnapshot {
    /// Boot-unique id (what `kill` takes).
    pub pid: u64,
    /// Id of the agent that spawned it (0: the kernel).
    pub parent: u64,
    /// Name.
    pub name: String,
    /// What it claimed about itself at spawn.
    pub class: ClassHint,
    /// Short state label (`run`, `ready`, `sleep`, `block`).
    pub state: &'static str,
    /// Whether it carries data of a layer above (a user agent's process).
    pub has_data: bool,
    /// CPU time used, µs.
    pub cpu_time_us: u64,
    /// Time spent runnable but waiting, µs.
    pub wait_time_us: u64,
    /// Longest single wait while runnable, µs.
    pub longest_wait_us: u64,
    /// Times dispatched after another agent ran.
    pub runs: u64,
    /// Mean response time, µs.
    pub mean_response_us: u64,
    /// 99th-percentile response time, µs.
    pub p99_response_us: u64,
    /// Deadlines met.
    pub deadlines_met: u64,
    /// Deadlines missed.
    pub deadline_misses: u64,
    /// The learner's accumulated reward for this agent (Q16.16).
    pub reward: i64,
    /// Its learning objective and reported progress, if any.
    pub progress: ProgressSnapshot,
}

/// An agent's learning objective and the figures it reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProgressSnapshot {
    /// The objective and when it was declared, µs.
    pub objective: Option<(Objective, u64)>,
    /// Where the agent stands now.
    pub status: Option<ObjectiveStatus>,
    /// Progress in thousandths (see `ObjectiveTracker::progress_permille`).
    pub progress_permille: u64,
    /// Requests served and how many met the latency target.
    pub requests: (u64, u64),
    /// Latency of the last request and the worst one, µs.
    pub latencies_us: (u64, u64),
    /// The latest reported loss (× `LOSS_ONE`).
    pub loss: Option<u64>,
    /// The latest reported accuracy (correct, total).
    pub accuracy: Option<(u64, u64)>,
}

impl ProgressSnapshot {
    /// Returns whether there is anything to show.
    pub fn is_empty(&self) -> bool {
        self.objective.is_none() && self.loss.is_none() && self.accuracy.is_none()
    }
}

/// Returns a copy of `progress` as of `now`.
pub(super) fn progress(progress: &Progress, now: u64) -> ProgressSnapshot {
    let tracker = progress.objective;
    ProgressSnapshot {
        objective: tracker.map(|tracker| (tracker.objective(), tracker.declared_us())),
        status: tracker.map(|tracker| tracker.status(now)),
        progress_permille: tracker.map_or(0, |tracker| tracker.progress_permille()),
        requests: tracker.map_or((0, 0), |tracker| tracker.requests()),
        latencies_us: tracker.map_or((0, 0), |tracker| tracker.latencies_us()),
        loss: progress.loss,
        accuracy: progress.accuracy,
    }
}

/// The scheduler as a whole.
#[derive(Clone)]
pub struct SchedulerSnapshot {
    /// The guarded policy's own statistics.
    pub stats: SchedulerStats,
    /// Cycles per decision (policy `next` plus the feedback before it).
    pub decision_cycles: Histogram,
    /// Cycles per switch, from entry to the new agent's resume.
    pub switch_cycles: Histogram,
    /// Cycles of the vector-state hand-overs (save + restore) among them.
    pub vector_cycles: Histogram,
    /// Spawns, exits, switches, refusals, fallbacks.
    pub counters: ManagerCounters,
    /// Agents that have not exited.
    pub live_agents: usize,
    /// Dispatches the share guard refused because the agent's tree had used
    /// more than its share of the CPU while others wanted it.
    pub held_back: u64,
}

/// Returns a copy of every agent that has not exited.
pub(super) fn agents(manager: &Manager) -> Vec<AgentSnapshot> {
    let now = crate::time::now_us();
    manager
        .agents()
        .filter(|agent| !matches!(agent.state, AgentState::Exited { .. }))
        .map(|agent| AgentSnapshot {
            pid: agent.pid,
            parent: agent.parent,
            name: agent.name.clone(),
            class: agent.class,
            state: agent.state.label(),
            has_data: agent.data.is_some(),
            cpu_time_us: agent.stats.cpu_time_us,
            wait_time_us: agent.stats.wait_time_us,
            longest_wait_us: agent.stats.longest_wait_us,
            runs: agent.stats.runs,
            mean_response_us: agent.stats.response_us.mean(),
            p99_response_us: agent.stats.response_us.percentile(99),
            deadlines_met: agent.stats.deadlines_met,
            deadline_misses: agent.stats.deadline_misses,
            reward: agent.stats.reward,
            progress: progress(&agent.progress, now),
        })
        .collect()
}

/// Returns a copy of the scheduler's state.
pub(super) fn scheduler(manager: &Manager) -> SchedulerSnapshot {
    SchedulerSnapshot {
        stats: manager.policy().stats(),
        decision_cycles: manager.decision_cycles.clone(),
        switch_cycles: manager.switch_cycles.clone(),
        vector_cycles: manager.vector_cycles.clone(),
        counters: manager.counters,
        live_agents: manager.live_agents(),
        held_back: manager.policy().held_back(),
    }
}
