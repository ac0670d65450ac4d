//! A wrapper that hides every objective signal from the policy inside it.
//!
//! [`ObjectiveBlind`] forwards every scheduler call except
//! [`Scheduler::objective`], which it drops. Running a policy with and
//! without it on the same workload and seed measures what the signals are
//! worth to that policy; on a workload without objectives the two runs are
//! identical.

use crate::agent::{AgentId, ClassHint, Microseconds, StopReason};
use crate::objective::ObjectiveSignal;
use crate::scheduler::{Scheduler, SchedulerStats};

/// `P`, deaf to objective signals.
#[derive(Clone, Debug)]
pub struct ObjectiveBlind<P> {
    inner: P,
}

impl<P: Scheduler> ObjectiveBlind<P> {
    /// Returns `inner`, which will hear no objective signal.
    pub const fn new(inner: P) -> Self {
        Self { inner }
    }

    /// Returns the wrapped policy.
    pub const fn inner(&self) -> &P {
        &self.inner
    }
}

impl<P: Scheduler> Scheduler for ObjectiveBlind<P> {
    fn arrive(&mut self, agent: AgentId, hint: ClassHint, now: Microseconds) {
        self.inner.arrive(agent, hint, now);
    }

    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        self.inner.wake(agent, now);
    }

    fn next(&mut self, now: Microseconds) -> Option<AgentId> {
        self.inner.next(now)
    }

    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        self.inner.result(agent, ran_for, reason, now);
    }

    fn remove(&mut self, agent: AgentId) {
        self.inner.remove(agent);
    }

    fn objective(&mut self, _agent: AgentId, _signal: ObjectiveSignal, _now: Microseconds) {}

    fn stats(&self) -> SchedulerStats {
        self.inner.stats()
    }
}
