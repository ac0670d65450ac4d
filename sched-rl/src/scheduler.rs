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
//! - Exactly one [`Scheduler::result`] follows every `Some` from `next`,
//!   before the next call to `next`; `Preempted` and `Yielded` make the agent
//!   runnable again, `Blocked` waits for a `wake`, `Exited` frees the slot.
//! - The kernel calls `next` on every tick (1 kHz) and whenever the running
//!   agent yields, blocks or exits; a wake-up does not preempt.
//! - Every call is O(runnable agents) or better and never allocates.

use crate::agent::{AgentId, ClassHint, Microseconds, StopReason};
use crate::fixed::Fixed;
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
    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    );

    /// Returns counters for the kernel's status table.
    fn stats(&self) -> SchedulerStats;
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
