//! Round robin: runnable agents take turns, each for one quantum of CPU time.
//!
//! An agent preempted before its quantum is used up keeps its turn; one that
//! used its quantum, or yielded, goes to the back. With `n` runnable agents
//! none waits longer than `n × quantum` (rounded up to ticks), which is why
//! the watchdog falls back to this policy.

use crate::agent::{AgentId, ClassHint, MAX_AGENTS, Microseconds, StopReason, TICK_US};
use crate::queue::AgentQueue;
use crate::scheduler::{Scheduler, SchedulerStats};

/// The default quantum: one tick, the finest the kernel can preempt.
pub const DEFAULT_QUANTUM_US: Microseconds = TICK_US;

/// The round-robin baseline.
#[derive(Clone, Debug)]
pub struct RoundRobin {
    queue: AgentQueue,
    quantum_us: Microseconds,
    used_us: [Microseconds; MAX_AGENTS],
    decisions: u64,
}

impl Default for RoundRobin {
    fn default() -> Self {
        Self::new(DEFAULT_QUANTUM_US)
    }
}

impl RoundRobin {
    /// Returns a round-robin scheduler with the given quantum.
    pub const fn new(quantum_us: Microseconds) -> Self {
        Self {
            queue: AgentQueue::new(),
            quantum_us,
            used_us: [0; MAX_AGENTS],
            decisions: 0,
        }
    }

    /// Removes `agent` from the queue because another policy dispatched it
    /// (used by the watchdog to keep its fallback in step); O(queue length).
    pub fn take(&mut self, agent: AgentId) {
        self.queue.remove(agent);
    }

    fn enqueue(&mut self, agent: AgentId) {
        self.used_us[agent.index()] = 0;
        self.queue.push_back(agent);
    }
}

impl Scheduler for RoundRobin {
    fn arrive(&mut self, agent: AgentId, _hint: ClassHint, _now: Microseconds) {
        self.enqueue(agent);
    }

    fn wake(&mut self, agent: AgentId, _now: Microseconds) {
        self.enqueue(agent);
    }

    fn next(&mut self, _now: Microseconds) -> Option<AgentId> {
        let agent = self.queue.pop_front()?;
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
        match reason {
            StopReason::Preempted => {
                let used = &mut self.used_us[agent.index()];
                *used = used.saturating_add(ran_for);
                if *used < self.quantum_us {
                    self.queue.push_front(agent);
                } else {
                    self.enqueue(agent);
                }
            }
            StopReason::Yielded => self.enqueue(agent),
            StopReason::Blocked(_) | StopReason::Exited => self.used_us[agent.index()] = 0,
        }
    }

    fn remove(&mut self, agent: AgentId) {
        self.queue.remove(agent);
        self.used_us[agent.index()] = 0;
    }

    fn stats(&self) -> SchedulerStats {
        SchedulerStats::baseline("round-robin", self.decisions)
    }
}
