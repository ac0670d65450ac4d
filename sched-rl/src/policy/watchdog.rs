//! A sched_ext-style watchdog: falls back to round robin when a policy misbehaves.
//!
//! `Watchdog<P>` forwards every event to the wrapped policy `P` and, in
//! step, to a shadow [`RoundRobin`]. Before and after each decision it
//! checks the wrapped policy's behaviour:
//! - a runnable agent has waited longer than the wait bound
//!   ([`FallbackReason::Starvation`]);
//! - it returned an agent that is not runnable ([`FallbackReason::NotRunnable`]);
//! - it idled while agents were runnable ([`FallbackReason::IdleWhileRunnable`]).
//!
//! `remove` reaches the wrapped policy, the shadow and the watchdog's own
//! record of wait times, so a removed agent never counts as starved.
//!
//! On the first violation it records the reason, counts the fallback and
//! hands every later decision to the shadow round robin, permanently. The
//! default bound, [`DEFAULT_WAIT_BOUND_US`], exceeds the worst wait under
//! round robin (`MAX_AGENTS` × one-tick quantum), so the fallback itself never
//! violates it. Every check is O(runnable agents).

use super::round_robin::RoundRobin;
use crate::agent::{AgentId, ClassHint, MAX_AGENTS, Microseconds, StopReason, TICK_US};
use crate::objective::ObjectiveSignal;
use crate::runnable::RunnableSet;
use crate::scheduler::{Scheduler, SchedulerStats};

/// The default longest wait tolerated before falling back: 100 ms, above the
/// 64 ms a round robin with 64 agents and a one-tick quantum can cause.
pub const DEFAULT_WAIT_BOUND_US: Microseconds = 100 * TICK_US;

const _: () = assert!(DEFAULT_WAIT_BOUND_US > MAX_AGENTS as Microseconds * TICK_US);

/// Why a watchdog replaced its policy by round robin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackReason {
    /// `agent` had been runnable for `waited_us`, more than the bound.
    Starvation {
        /// The starved agent.
        agent: AgentId,
        /// How long it had waited.
        waited_us: Microseconds,
    },
    /// The policy dispatched `agent`, which was not runnable.
    NotRunnable {
        /// The agent returned.
        agent: AgentId,
    },
    /// The policy returned `None` while agents were runnable.
    IdleWhileRunnable,
}

/// A policy wrapped by the watchdog.
#[derive(Clone, Debug)]
pub struct Watchdog<P> {
    inner: P,
    fallback: RoundRobin,
    runnable: RunnableSet,
    wait_bound_us: Microseconds,
    reason: Option<FallbackReason>,
    fallbacks: u32,
    fallback_decisions: u64,
}

impl<P: Scheduler> Watchdog<P> {
    /// Returns `inner` guarded with [`DEFAULT_WAIT_BOUND_US`].
    pub fn new(inner: P) -> Self {
        Self::with_bound(inner, DEFAULT_WAIT_BOUND_US)
    }

    /// Returns `inner` guarded with a custom wait bound.
    pub fn with_bound(inner: P, wait_bound_us: Microseconds) -> Self {
        Self {
            inner,
            fallback: RoundRobin::default(),
            runnable: RunnableSet::new(),
            wait_bound_us,
            reason: None,
            fallbacks: 0,
            fallback_decisions: 0,
        }
    }

    /// Returns why the watchdog fell back, if it did.
    pub fn fallback_reason(&self) -> Option<FallbackReason> {
        self.reason
    }

    /// Returns the wrapped policy.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    fn trip(&mut self, reason: FallbackReason) {
        self.reason = Some(reason);
        self.fallbacks += 1;
    }

    /// Returns the verdict on the wrapped policy's decision `pick` at `now`.
    fn check(&self, pick: Option<AgentId>, now: Microseconds) -> Option<FallbackReason> {
        if let Some(oldest) = self.runnable.longest_waiting() {
            let waited_us = now.saturating_sub(self.runnable.since(oldest));
            if waited_us > self.wait_bound_us {
                return Some(FallbackReason::Starvation {
                    agent: oldest,
                    waited_us,
                });
            }
        }
        match pick {
            Some(agent) if !self.runnable.contains(agent) => {
                Some(FallbackReason::NotRunnable { agent })
            }
            None if !self.runnable.is_empty() => Some(FallbackReason::IdleWhileRunnable),
            _ => None,
        }
    }
}

impl<P: Scheduler> Scheduler for Watchdog<P> {
    fn arrive(&mut self, agent: AgentId, hint: ClassHint, now: Microseconds) {
        self.runnable.insert(agent, now);
        self.fallback.arrive(agent, hint, now);
        if self.reason.is_none() {
            self.inner.arrive(agent, hint, now);
        }
    }

    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        self.runnable.insert(agent, now);
        self.fallback.wake(agent, now);
        if self.reason.is_none() {
            self.inner.wake(agent, now);
        }
    }

    fn next(&mut self, now: Microseconds) -> Option<AgentId> {
        if self.reason.is_none() {
            let pick = self.inner.next(now);
            match self.check(pick, now) {
                None => {
                    if let Some(agent) = pick {
                        self.runnable.remove(agent);
                        self.fallback.take(agent);
                    }
                    return pick;
                }
                Some(reason) => self.trip(reason),
            }
        }
        let agent = self.fallback.next(now)?;
        self.runnable.remove(agent);
        self.fallback_decisions += 1;
        Some(agent)
    }

    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        if reason.stays_runnable() {
            self.runnable.insert(agent, now);
        }
        self.fallback.result(agent, ran_for, reason, now);
        if self.reason.is_none() {
            self.inner.result(agent, ran_for, reason, now);
        }
    }

    fn remove(&mut self, agent: AgentId) {
        // Forgetting the wait time is what keeps a removed agent from ever
        // counting as starved; if the wrapped policy still returned it, the
        // pick would be `NotRunnable`.
        self.runnable.remove(agent);
        self.fallback.remove(agent);
        if self.reason.is_none() {
            self.inner.remove(agent);
        }
    }

    fn objective(&mut self, agent: AgentId, signal: ObjectiveSignal, now: Microseconds) {
        if self.reason.is_none() {
            self.inner.objective(agent, signal, now);
        }
    }

    fn stats(&self) -> SchedulerStats {
        let mut stats = self.inner.stats();
        if self.reason.is_some() {
            stats.policy = "round-robin";
            stats.decisions += self.fallback_decisions;
        }
        stats.fallbacks = self.fallbacks;
        stats.fallback_reason = self.reason;
        stats
    }
}
