//! Every policy, and the selection of one by name at boot.
//!
//! [`PolicyKind::from_name`] parses the boot argument; [`AnyPolicy::new`]
//! builds the chosen policy without allocation (an enum, so it can live in
//! a static or be boxed as `Box<dyn Scheduler>`).

pub mod fair;
pub mod features;
pub mod fifo;
pub mod mlfq;
pub mod q_learning;
pub mod round_robin;
pub mod tree_share;
pub mod watchdog;

use crate::agent::{AgentId, ClassHint, Microseconds, StopReason};
use crate::objective::ObjectiveSignal;
use crate::scheduler::{Scheduler, SchedulerStats};
use fair::FairShare;
use fifo::Fifo;
use mlfq::Mlfq;
use q_learning::QLearningScheduler;
use round_robin::RoundRobin;

/// The policies the kernel can select at boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// [`Fifo`]: run to block, no preemption.
    Fifo,
    /// [`RoundRobin`] with a one-tick quantum.
    RoundRobin,
    /// [`Mlfq`]: three levels with allotments and boosts.
    Mlfq,
    /// [`FairShare`]: smallest virtual runtime first.
    Fair,
    /// [`QLearningScheduler`]: the learner.
    QLearning,
}

impl PolicyKind {
    /// Every kind, in the order the benchmark prints them.
    pub const ALL: [Self; 5] = [
        Self::Fifo,
        Self::RoundRobin,
        Self::Mlfq,
        Self::Fair,
        Self::QLearning,
    ];

    /// Returns the kind called `name` ("fifo", "round-robin", "mlfq", "fair",
    /// "q-learning"), or `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Returns the boot name of this kind.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Fifo => "fifo",
            Self::RoundRobin => "round-robin",
            Self::Mlfq => "mlfq",
            Self::Fair => "fair",
            Self::QLearning => "q-learning",
        }
    }
}

/// Any one policy, chosen at boot, stored inline (no allocation).
#[expect(
    clippy::large_enum_variant,
    reason = "inline on purpose: the kernel builds it before deciding where it lives, and boxing a variant would allocate"
)]
#[derive(Clone, Debug)]
pub enum AnyPolicy {
    /// FIFO.
    Fifo(Fifo),
    /// Round robin.
    RoundRobin(RoundRobin),
    /// MLFQ.
    Mlfq(Mlfq),
    /// Fair share.
    Fair(FairShare),
    /// Q-learning.
    QLearning(QLearningScheduler),
}

impl AnyPolicy {
    /// Returns a fresh policy of `kind`; `seed` drives the learner's exploration.
    pub fn new(kind: PolicyKind, seed: u64) -> Self {
        match kind {
            PolicyKind::Fifo => Self::Fifo(Fifo::new()),
            PolicyKind::RoundRobin => Self::RoundRobin(RoundRobin::default()),
            PolicyKind::Mlfq => Self::Mlfq(Mlfq::new()),
            PolicyKind::Fair => Self::Fair(FairShare::new()),
            PolicyKind::QLearning => Self::QLearning(QLearningScheduler::new(seed)),
        }
    }

    fn as_scheduler(&mut self) -> &mut dyn Scheduler {
        match self {
            Self::Fifo(policy) => policy,
            Self::RoundRobin(policy) => policy,
            Self::Mlfq(policy) => policy,
            Self::Fair(policy) => policy,
            Self::QLearning(policy) => policy,
        }
    }
}

impl Scheduler for AnyPolicy {
    fn arrive(&mut self, agent: AgentId, hint: ClassHint, now: Microseconds) {
        self.as_scheduler().arrive(agent, hint, now);
    }

    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        self.as_scheduler().wake(agent, now);
    }

    fn next(&mut self, now: Microseconds) -> Option<AgentId> {
        self.as_scheduler().next(now)
    }

    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        self.as_scheduler().result(agent, ran_for, reason, now);
    }

    fn remove(&mut self, agent: AgentId) {
        self.as_scheduler().remove(agent);
    }

    fn objective(&mut self, agent: AgentId, signal: ObjectiveSignal, now: Microseconds) {
        self.as_scheduler().objective(agent, signal, now);
    }

    fn stats(&self) -> SchedulerStats {
        match self {
            Self::Fifo(policy) => policy.stats(),
            Self::RoundRobin(policy) => policy.stats(),
            Self::Mlfq(policy) => policy.stats(),
            Self::Fair(policy) => policy.stats(),
            Self::QLearning(policy) => policy.stats(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in PolicyKind::ALL {
            assert_eq!(PolicyKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(PolicyKind::from_name("lottery"), None);
    }
}
