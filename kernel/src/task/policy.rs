//! The scheduling policy the kernel runs: a `sched-rl` policy or a custom one,
//! always behind the `sched-rl` watchdog.

use alloc::boxed::Box;

use sched_rl::{
    AgentId, AnyPolicy, ClassHint, Microseconds, PolicyKind, Scheduler, SchedulerStats, StopReason,
    Watchdog,
};

/// Seed of the learner's exploration; fixed so runs are reproducible.
pub const POLICY_SEED: u64 = 0x5EED_0FA6_E700;

/// A policy the kernel can run.
pub enum KernelPolicy {
    /// One of the built-in policies, stored inline.
    Builtin(Box<AnyPolicy>),
    /// Any other implementation (tests use this to inject a broken policy).
    Custom(Box<dyn Scheduler + Send>),
}

impl KernelPolicy {
    /// Returns the built-in policy `kind`.
    pub fn builtin(kind: PolicyKind) -> Self {
        Self::Builtin(Box::new(AnyPolicy::new(kind, POLICY_SEED)))
    }

    /// Returns the built-in policy called `name` (`round-robin`, `mlfq`,
    /// `fair`, `fifo`, `q-learning`), or `None` for an unknown name.
    pub fn by_name(name: &str) -> Option<Self> {
        PolicyKind::from_name(name).map(Self::builtin)
    }

    fn scheduler(&mut self) -> &mut dyn Scheduler {
        match self {
            Self::Builtin(policy) => policy.as_mut(),
            Self::Custom(policy) => policy.as_mut(),
        }
    }
}

impl Scheduler for KernelPolicy {
    fn arrive(&mut self, agent: AgentId, hint: ClassHint, now: Microseconds) {
        self.scheduler().arrive(agent, hint, now);
    }

    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        self.scheduler().wake(agent, now);
    }

    fn next(&mut self, now: Microseconds) -> Option<AgentId> {
        self.scheduler().next(now)
    }

    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        self.scheduler().result(agent, ran_for, reason, now);
    }

    fn stats(&self) -> SchedulerStats {
        match self {
            Self::Builtin(policy) => policy.stats(),
            Self::Custom(policy) => policy.stats(),
        }
    }
}

/// The kernel's policy, guarded by the watchdog.
pub type GuardedPolicy = Watchdog<KernelPolicy>;
