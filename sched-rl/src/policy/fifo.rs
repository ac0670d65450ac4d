//! First in, first out: an agent runs until it blocks, yields or exits.
//!
//! Non-preemptive: a tick does not move the running agent to the back, so a
//! CPU hog that never blocks starves everyone behind it. That is the point
//! of the baseline; wrap it in a `Watchdog` before trusting it in a kernel.

use crate::agent::{AgentId, ClassHint, Microseconds, StopReason};
use crate::queue::AgentQueue;
use crate::scheduler::{Scheduler, SchedulerStats};

/// The FIFO baseline.
#[derive(Clone, Debug, Default)]
pub struct Fifo {
    queue: AgentQueue,
    decisions: u64,
}

impl Fifo {
    /// Returns an empty FIFO scheduler.
    pub const fn new() -> Self {
        Self {
            queue: AgentQueue::new(),
            decisions: 0,
        }
    }
}

impl Scheduler for Fifo {
    fn arrive(&mut self, agent: AgentId, _hint: ClassHint, _now: Microseconds) {
        self.queue.push_back(agent);
    }

    fn wake(&mut self, agent: AgentId, _now: Microseconds) {
        self.queue.push_back(agent);
    }

    fn next(&mut self, _now: Microseconds) -> Option<AgentId> {
        let agent = self.queue.pop_front()?;
        self.decisions += 1;
        Some(agent)
    }

    fn result(
        &mut self,
        agent: AgentId,
        _ran_for: Microseconds,
        reason: StopReason,
        _now: Microseconds,
    ) {
        match reason {
            StopReason::Preempted => {
                self.queue.push_front(agent);
            }
            StopReason::Yielded => {
                self.queue.push_back(agent);
            }
            StopReason::Blocked(_) | StopReason::Exited => {}
        }
    }

    fn remove(&mut self, agent: AgentId) {
        // The queue place is all FIFO knows of an agent.
        self.queue.remove(agent);
    }

    fn stats(&self) -> SchedulerStats {
        SchedulerStats::baseline("fifo", self.decisions)
    }
}
