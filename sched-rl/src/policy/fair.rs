//! Fair share by virtual runtime, in the manner of Linux CFS.
//!
//! Every agent has equal weight (hints are ignored), so its virtual runtime
//! is the CPU time it received. The runnable agent with the smallest virtual
//! runtime runs next (an O(runnable) scan; CFS uses a red-black tree, which
//! at 64 agents buys nothing). A waking agent is placed no further back than
//! `SLEEPER_CREDIT_US` behind the minimum, so sleepers get a small bonus
//! without being able to bank unlimited credit.

use crate::agent::{AgentId, ClassHint, MAX_AGENTS, Microseconds, StopReason, TICK_US};
use crate::runnable::RunnableSet;
use crate::scheduler::{Scheduler, SchedulerStats};

/// How far behind the minimum virtual runtime a waking agent may be placed.
pub const SLEEPER_CREDIT_US: Microseconds = 3 * TICK_US;

/// The fair-share (virtual runtime) baseline.
#[derive(Clone, Debug)]
pub struct FairShare {
    runnable: RunnableSet,
    virtual_runtime: [Microseconds; MAX_AGENTS],
    minimum_virtual_runtime: Microseconds,
    decisions: u64,
}

impl Default for FairShare {
    fn default() -> Self {
        Self::new()
    }
}

impl FairShare {
    /// Returns an empty fair-share scheduler.
    pub const fn new() -> Self {
        Self {
            runnable: RunnableSet::new(),
            virtual_runtime: [0; MAX_AGENTS],
            minimum_virtual_runtime: 0,
            decisions: 0,
        }
    }

    /// Returns the virtual runtime of `agent`.
    pub fn virtual_runtime(&self, agent: AgentId) -> Microseconds {
        self.virtual_runtime[agent.index()]
    }
}

impl Scheduler for FairShare {
    fn arrive(&mut self, agent: AgentId, _hint: ClassHint, now: Microseconds) {
        self.virtual_runtime[agent.index()] = self.minimum_virtual_runtime;
        self.runnable.insert(agent, now);
    }

    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        let floor = self
            .minimum_virtual_runtime
            .saturating_sub(SLEEPER_CREDIT_US);
        let runtime = &mut self.virtual_runtime[agent.index()];
        *runtime = (*runtime).max(floor);
        self.runnable.insert(agent, now);
    }

    fn next(&mut self, _now: Microseconds) -> Option<AgentId> {
        let agent = self.runnable.agents().iter().copied().min_by_key(|agent| {
            (
                self.virtual_runtime[agent.index()],
                self.runnable.since(*agent),
                agent.index(),
            )
        })?;
        self.runnable.remove(agent);
        self.minimum_virtual_runtime = self
            .minimum_virtual_runtime
            .max(self.virtual_runtime[agent.index()]);
        self.decisions += 1;
        Some(agent)
    }

    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        let runtime = &mut self.virtual_runtime[agent.index()];
        *runtime = runtime.saturating_add(ran_for);
        if reason.stays_runnable() {
            self.runnable.insert(agent, now);
        }
    }

    fn remove(&mut self, agent: AgentId) {
        self.runnable.remove(agent);
        self.virtual_runtime[agent.index()] = 0;
    }

    fn stats(&self) -> SchedulerStats {
        SchedulerStats::baseline("fair", self.decisions)
    }
}
