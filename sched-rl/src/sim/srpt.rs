//! The SRPT oracle: shortest remaining burst first, knowing every burst length.
//!
//! Only the simulator can build it: it reads the remaining length of each
//! agent's current burst from a table the simulator keeps up to date. It is
//! the yardstick for latency, not a policy a kernel could run.

use crate::agent::{AgentId, ClassHint, MAX_AGENTS, Microseconds, StopReason};
use crate::runnable::RunnableSet;
use crate::scheduler::{Scheduler, SchedulerStats};
use alloc::rc::Rc;
use core::cell::Cell;

/// The remaining burst length of every agent, written by the simulator.
#[derive(Debug)]
pub struct RemainingBursts {
    remaining_us: [Cell<Microseconds>; MAX_AGENTS],
}

impl Default for RemainingBursts {
    fn default() -> Self {
        Self {
            remaining_us: [const { Cell::new(0) }; MAX_AGENTS],
        }
    }
}

impl RemainingBursts {
    /// Records that `agent` has `remaining_us` of its current burst left.
    pub fn set(&self, agent: AgentId, remaining_us: Microseconds) {
        self.remaining_us[agent.index()].set(remaining_us);
    }

    /// Returns what is left of `agent`'s current burst.
    pub fn get(&self, agent: AgentId) -> Microseconds {
        self.remaining_us[agent.index()].get()
    }
}

/// Shortest remaining processing time first, with ties to the longest waiting.
#[derive(Debug)]
pub struct SrptOracle {
    remaining: Rc<RemainingBursts>,
    runnable: RunnableSet,
    decisions: u64,
}

impl SrptOracle {
    /// Returns an oracle reading burst lengths from `remaining`.
    pub fn new(remaining: Rc<RemainingBursts>) -> Self {
        Self {
            remaining,
            runnable: RunnableSet::new(),
            decisions: 0,
        }
    }
}

impl Scheduler for SrptOracle {
    fn arrive(&mut self, agent: AgentId, _hint: ClassHint, now: Microseconds) {
        self.runnable.insert(agent, now);
    }

    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        self.runnable.insert(agent, now);
    }

    fn next(&mut self, _now: Microseconds) -> Option<AgentId> {
        let agent = self.runnable.agents().iter().copied().min_by_key(|agent| {
            (
                self.remaining.get(*agent),
                self.runnable.since(*agent),
                agent.index(),
            )
        })?;
        self.runnable.remove(agent);
        self.decisions += 1;
        Some(agent)
    }

    fn result(
        &mut self,
        agent: AgentId,
        _ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        if reason.stays_runnable() {
            self.runnable.insert(agent, now);
        }
    }

    fn remove(&mut self, agent: AgentId) {
        self.runnable.remove(agent);
    }

    fn stats(&self) -> SchedulerStats {
        SchedulerStats::baseline("srpt-oracle", self.decisions)
    }
}
