//! Multi-level feedback queue with allotment accounting and periodic boosts.
//!
//! The rules (Arpaci-Dusseau, "Operating Systems: Three Easy Pieces", ch. 8):
//! 1. The highest non-empty level runs; within a level, round robin with
//!    that level's quantum.
//! 2. New agents start at the top level.
//! 3. Once an agent has used its level's *allotment* of CPU time in total
//!    (whether it blocked, yielded or was preempted in between), it moves
//!    down one level. Counting the whole allotment is what stops an agent
//!    from gaming the queue by yielding just before each tick.
//! 4. Every `BOOST_PERIOD_US` every agent goes back to the top level, so
//!    demoted agents cannot starve. Agents that are not queued at the boost
//!    (running, blocked) are reset lazily through a boost epoch, which keeps
//!    every call O(runnable agents).

use crate::agent::{AgentId, ClassHint, MAX_AGENTS, Microseconds, StopReason, TICK_US};
use crate::queue::AgentQueue;
use crate::scheduler::{Scheduler, SchedulerStats};

/// Number of priority levels (0 is the highest).
pub const LEVELS: usize = 3;
/// Round-robin quantum at each level.
pub const QUANTUM_US: [Microseconds; LEVELS] = [TICK_US, 2 * TICK_US, 4 * TICK_US];
/// CPU time an agent may use at each level before it is demoted.
pub const ALLOTMENT_US: [Microseconds; LEVELS] = [2 * TICK_US, 4 * TICK_US, Microseconds::MAX];
/// How often every agent is boosted back to the top level.
pub const BOOST_PERIOD_US: Microseconds = 50 * TICK_US;

/// The MLFQ baseline.
#[derive(Clone, Debug)]
pub struct Mlfq {
    queues: [AgentQueue; LEVELS],
    level: [usize; MAX_AGENTS],
    used_at_level_us: [Microseconds; MAX_AGENTS],
    used_in_quantum_us: [Microseconds; MAX_AGENTS],
    boost_epoch_seen: [u64; MAX_AGENTS],
    boost_epoch: u64,
    last_boost: Microseconds,
    decisions: u64,
}

impl Default for Mlfq {
    fn default() -> Self {
        Self::new()
    }
}

impl Mlfq {
    /// Returns an empty MLFQ scheduler.
    pub const fn new() -> Self {
        Self {
            queues: [const { AgentQueue::new() }; LEVELS],
            level: [0; MAX_AGENTS],
            used_at_level_us: [0; MAX_AGENTS],
            used_in_quantum_us: [0; MAX_AGENTS],
            boost_epoch_seen: [0; MAX_AGENTS],
            boost_epoch: 0,
            last_boost: 0,
            decisions: 0,
        }
    }

    /// Returns the priority level of `agent` (0 is the highest).
    pub fn level(&self, agent: AgentId) -> usize {
        self.level[agent.index()]
    }

    fn reset(&mut self, agent: AgentId) {
        let index = agent.index();
        self.level[index] = 0;
        self.used_at_level_us[index] = 0;
        self.used_in_quantum_us[index] = 0;
        self.boost_epoch_seen[index] = self.boost_epoch;
    }

    /// Applies a boost the agent missed while it was not queued.
    fn catch_up(&mut self, agent: AgentId) {
        if self.boost_epoch_seen[agent.index()] != self.boost_epoch {
            self.reset(agent);
        }
    }

    fn boost(&mut self, now: Microseconds) {
        self.last_boost = now;
        self.boost_epoch += 1;
        for level in 1..LEVELS {
            while let Some(agent) = self.queues[level].pop_front() {
                self.queues[0].push_back(agent);
            }
        }
    }

    /// Charges `ran_for` to `agent`; returns true if it was demoted.
    fn charge(&mut self, agent: AgentId, ran_for: Microseconds) -> bool {
        let index = agent.index();
        self.used_at_level_us[index] = self.used_at_level_us[index].saturating_add(ran_for);
        self.used_in_quantum_us[index] = self.used_in_quantum_us[index].saturating_add(ran_for);
        let level = self.level[index];
        if level + 1 < LEVELS && self.used_at_level_us[index] >= ALLOTMENT_US[level] {
            self.level[index] = level + 1;
            self.used_at_level_us[index] = 0;
            self.used_in_quantum_us[index] = 0;
            return true;
        }
        false
    }
}

impl Scheduler for Mlfq {
    fn arrive(&mut self, agent: AgentId, _hint: ClassHint, _now: Microseconds) {
        self.reset(agent);
        self.queues[0].push_back(agent);
    }

    fn wake(&mut self, agent: AgentId, _now: Microseconds) {
        self.catch_up(agent);
        self.used_in_quantum_us[agent.index()] = 0;
        self.queues[self.level[agent.index()]].push_back(agent);
    }

    fn next(&mut self, now: Microseconds) -> Option<AgentId> {
        if now.saturating_sub(self.last_boost) >= BOOST_PERIOD_US {
            self.boost(now);
        }
        let agent = self.queues.iter_mut().find_map(AgentQueue::pop_front)?;
        self.catch_up(agent);
        self.decisions += 1;
        Some(agent)
    }

    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        _now: Microseconds,
    ) {
        self.catch_up(agent);
        let demoted = self.charge(agent, ran_for);
        let index = agent.index();
        let level = self.level[index];
        match reason {
            StopReason::Preempted
                if !demoted && self.used_in_quantum_us[index] < QUANTUM_US[level] =>
            {
                self.queues[level].push_front(agent);
            }
            StopReason::Preempted | StopReason::Yielded => {
                self.used_in_quantum_us[index] = 0;
                self.queues[level].push_back(agent);
            }
            StopReason::Blocked(_) => {}
            StopReason::Exited => self.reset(agent),
        }
    }

    fn remove(&mut self, agent: AgentId) {
        // A boost moves queued agents without updating `level`, so the agent
        // may sit in any queue; a queue it is not in answers in O(1).
        for queue in &mut self.queues {
            queue.remove(agent);
        }
        self.reset(agent);
    }

    fn stats(&self) -> SchedulerStats {
        SchedulerStats::baseline("mlfq", self.decisions)
    }
}
