//! The `Scheduler` trait: one decision call and the feedback calls around it.
//!
//! The shape follows Tock's `next()` / `result()`: the kernel (or the
//! simulator) reports what happened, asks for the next agent, runs it, and
//! reports how long it ran and why it stopped.
//!
//! # Contract
//! - [`Scheduler::arrive`] and [`Scheduler::wake`] make an agent runnable.
//! - [`Scheduler::next`] returns a runnable agent, which is then *running*
//!   (no longer runnable), or `None` to idle.
//! - Exactly one [`Scheduler::result`] *or* [`Scheduler::remove`] for that
//!   agent follows every `Some` from `next`, before the next call to `next`;
//!   `Preempted` and `Yielded` make the agent runnable again, `Blocked` waits
//!   for a `wake`, `Exited` frees the slot.
//! - [`Scheduler::remove`] reports that an agent left for good (killed or
//!   exited), whatever state the policy knows it in: runnable (arrived or
//!   woken, not picked yet), running (returned by the last `next` with no
//!   `result` yet: the `remove` stands in for that `result`), blocked, or
//!   unknown (never arrived, already exited, already removed: nothing
//!   happens). The kernel need not wait for the policy to pick an agent
//!   before killing it, and may call `remove` between any two other calls,
//!   including between a `next` and the `result` of another agent.
//! - After `remove(agent)` the policy holds no state for `agent`: `next`
//!   never returns it, and a later `arrive` with the same id (slot reuse) is
//!   a new agent with no history. No `wake` or `result` names `agent` until
//!   it arrives again. Calling `remove` twice is the same as calling it once.
//! - The kernel calls `next` on every tick (1 kHz) and whenever the running
//!   agent yields, blocks or exits; a wake-up does not preempt.
//! - Every call is O(runnable agents) or better and never allocates.
//!
//! # Boxed policies
//! With the `alloc` feature, `Box<S>` is a [`Scheduler`] for every
//! `S: Scheduler + ?Sized` and forwards every call, so a kernel can hold one
//! `Box<dyn Scheduler + Send>` whichever policy it chose at boot.

use crate::agent::{AgentId, ClassHint, Microseconds, StopReason};
use crate::fixed::Fixed;
use crate::objective::ObjectiveSignal;
use crate::policy::watchdog::FallbackReason;

/// A scheduling policy, driven identically by the kernel and the simulator.
pub trait Scheduler {
    /// Reports that `agent` was spawned and is runnable, with its `hint`.
    fn arrive(&mut self, agent: AgentId, hint: ClassHint, now: Microseconds);

    /// Reports that the blocked `agent` is runnable again.
    fn wake(&mut self, agent: AgentId, now: Microseconds);

    /// Returns the agent to run next, or `None` to idle.
    fn next(&mut self, now: Microseconds) -> Option<AgentId>;

    /// Reports that `agent`, returned by the last `next`, ran for `ran_for`
    /// microseconds and stopped because of `reason`.
    ///
    /// Not called for a dispatch that [`Scheduler::remove`] ended.
    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    );

    /// Reports that `agent` left for good (killed or exited), whether it is
    /// runnable, running (returned by the last `next`, no `result` yet),
    /// blocked or unknown to the policy.
    ///
    /// Afterwards `next` never returns `agent` and the policy keeps no state
    /// for it (queue place, counters, learned features), so a later `arrive`
    /// of the same id starts fresh. For a running agent it replaces the
    /// `result` of that dispatch. Removing an unknown or already removed
    /// agent does nothing. O(runnable agents), no allocation.
    fn remove(&mut self, agent: AgentId);

    /// Reports news about `agent`'s declared learning objective (see
    /// [`crate::objective`]): it fell behind or caught up, or the kernel
    /// measured one request it served. A hint: policies may ignore it (the
    /// baselines do) and must not trust it blindly. May come at any time
    /// between the other calls, for an agent in any state; O(1).
    fn objective(&mut self, agent: AgentId, signal: ObjectiveSignal, now: Microseconds) {
        let _ = (agent, signal, now);
    }

    /// Returns counters for the kernel's status table.
    fn stats(&self) -> SchedulerStats;
}

/// Forwards every call to the boxed policy.
#[cfg(feature = "alloc")]
impl<S: Scheduler + ?Sized> Scheduler for alloc::boxed::Box<S> {
    fn arrive(&mut self, agent: AgentId, hint: ClassHint, now: Microseconds) {
        (**self).arrive(agent, hint, now);
    }

    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        (**self).wake(agent, now);
    }

    fn next(&mut self, now: Microseconds) -> Option<AgentId> {
        (**self).next(now)
    }

    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        (**self).result(agent, ran_for, reason, now);
    }

    fn remove(&mut self, agent: AgentId) {
        (**self).remove(agent);
    }

    fn objective(&mut self, agent: AgentId, signal: ObjectiveSignal, now: Microseconds) {
        (**self).objective(agent, signal, now);
    }

    fn stats(&self) -> SchedulerStats {
        (**self).stats()
    }
}

/// Introspection for the kernel's status table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulerStats {
    /// The name of the policy making decisions now (see `PolicyKind::name`).
    pub policy: &'static str,
    /// Probability of an exploratory decision (Q16.16); zero for baselines.
    pub exploration_rate: Fixed,
    /// Number of `next` calls that returned an agent.
    pub decisions: u64,
    /// Sum of all rewards the learner received (Q16.16); zero for baselines.
    pub total_reward: Fixed,
    /// How many times a watchdog replaced this policy by round robin.
    pub fallbacks: u32,
    /// Why the watchdog fell back, if it did.
    pub fallback_reason: Option<FallbackReason>,
}

impl SchedulerStats {
    /// Returns the statistics of a baseline policy named `policy`.
    pub const fn baseline(policy: &'static str, decisions: u64) -> Self {
        Self {
            policy,
            exploration_rate: Fixed::ZERO,
            decisions,
            total_reward: Fixed::ZERO,
            fallbacks: 0,
            fallback_reason: None,
        }
    }
}
