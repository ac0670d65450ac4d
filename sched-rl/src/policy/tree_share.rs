//! A share guard around any policy: a tree of agents gets the CPU share of
//! one agent, however many agents it spawns.
//!
//! A spawn bomb of 24 copies would otherwise get 24/25 of the CPU under any
//! policy that treats agents alike (round robin, fair share, and a learner
//! that sees 24 agents in the same state as the one well-behaved sleeper).
//! [`TreeShare`] groups agents ([`TreeShare::set_group`]: the kernel puts
//! every user agent in its tree's group and leaves kernel agents alone) and
//! holds a group back while it has used more than its fair share recently
//! and some other group or ungrouped agent wants the CPU.
//!
//! # The rule
//! - An *entity* is a group with at least one agent that wants the CPU
//!   (runnable, running or held back), or one ungrouped agent that does.
//! - A group's *usage* is the CPU time its agents ran in the last
//!   [`SHARE_WINDOW_US`] (a sliding window: the previous window's total
//!   weighted by the part of it still in range, plus the current one's).
//! - With `n >= 2` entities, a group whose usage exceeds
//!   `SHARE_WINDOW_US / n + TICK_US` is *throttled*: none of its agents is
//!   dispatched while another entity can run. Ungrouped agents are never
//!   throttled. With one entity, nothing is (the guard never idles the CPU
//!   while anything can run).
//!
//! # How it talks to the wrapped policy
//! A held-back agent is, for the wrapped policy, blocked: the guard reports
//! its stop as `Blocked(BlockKind::Throttled)` (which ends no burst and
//! earns no completion reward in the learner) and a `wake` once its group
//! may run again. So the wrapped policy's contract holds unchanged, and a
//! watchdog inside the guard never counts a held-back agent as starved.
//! Every call is O(agents) and never allocates.

use crate::agent::{AgentId, BlockKind, ClassHint, MAX_AGENTS, Microseconds, StopReason, TICK_US};
use crate::objective::ObjectiveSignal;
use crate::scheduler::{Scheduler, SchedulerStats};

/// Length of the window usage is measured over: 16 ticks.
pub const SHARE_WINDOW_US: Microseconds = 16 * TICK_US;

/// Marks an agent without a group.
const NO_GROUP: u8 = u8::MAX;

/// The bit of `agent` in a 64-agent bitmap.
const fn bit(agent: AgentId) -> u64 {
    1 << agent.index()
}

/// One group's bookkeeping.
#[derive(Clone, Copy, Debug, Default)]
struct Group {
    /// The caller's name for the group (a tree's root id).
    key: u64,
    /// Agents assigned to it; the entry is free when zero.
    members: u8,
    /// Members that want the CPU.
    wanting: u8,
    /// CPU time in the current window.
    current_us: Microseconds,
    /// CPU time in the previous window.
    previous_us: Microseconds,
    /// Held back at the last check.
    throttled: bool,
}

/// Wraps `P` so that no group of agents takes more than its share.
#[derive(Clone, Debug)]
pub struct TreeShare<P> {
    inner: P,
    groups: [Group; MAX_AGENTS],
    group_of: [u8; MAX_AGENTS],
    /// Agents that want the CPU (runnable, running or held back).
    wanting: u64,
    /// Agents held back (blocked as far as `inner` knows).
    held: u64,
    /// Ungrouped agents that want the CPU.
    ungrouped_wanting: u32,
    /// Start of the current window.
    window_start_us: Microseconds,
    /// Dispatches refused because the agent's group was throttled.
    held_back: u64,
}

impl<P: Scheduler> TreeShare<P> {
    /// Returns `inner` with every agent ungrouped (no effect until
    /// [`Self::set_group`]).
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            groups: [Group::default(); MAX_AGENTS],
            group_of: [NO_GROUP; MAX_AGENTS],
            wanting: 0,
            held: 0,
            ungrouped_wanting: 0,
            window_start_us: 0,
            held_back: 0,
        }
    }

    /// Returns the wrapped policy.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Returns how many times an agent was held back because its group had
    /// used more than its share.
    pub fn held_back(&self) -> u64 {
        self.held_back
    }

    /// Puts `agent` in the group called `key` (`None`: ungrouped, never held
    /// back). Call it after `arrive`; a removed agent leaves its group.
    pub fn set_group(&mut self, agent: AgentId, key: Option<u64>) {
        let wanting = self.wanting & bit(agent) != 0;
        self.leave_group(agent, wanting);
        let Some(key) = key else {
            if wanting {
                self.ungrouped_wanting += 1;
            }
            return;
        };
        let found = self
            .groups
            .iter()
            .position(|group| group.members > 0 && group.key == key)
            .or_else(|| self.groups.iter().position(|group| group.members == 0));
        // At most MAX_AGENTS agents, so at most MAX_AGENTS groups in use: a
        // free entry always exists for an agent that just left its group.
        let Some(index) = found else {
            return;
        };
        let group = &mut self.groups[index];
        if group.members == 0 {
            *group = Group {
                key,
                ..Group::default()
            };
        }
        group.members += 1;
        if wanting {
            group.wanting += 1;
        }
        // `index < MAX_AGENTS <= 64` fits a u8.
        self.group_of[agent.index()] = index as u8;
    }

    /// Takes `agent` out of its group (or the ungrouped count).
    fn leave_group(&mut self, agent: AgentId, wanting: bool) {
        match self.group_index(agent) {
            Some(index) => {
                let group = &mut self.groups[index];
                group.members -= 1;
                if wanting {
                    group.wanting -= 1;
                }
            }
            None if wanting => self.ungrouped_wanting -= 1,
            None => {}
        }
        self.group_of[agent.index()] = NO_GROUP;
    }

    fn group_index(&self, agent: AgentId) -> Option<usize> {
        match self.group_of[agent.index()] {
            NO_GROUP => None,
            index => Some(usize::from(index)),
        }
    }

    /// Marks `agent` as wanting the CPU (or not), keeping the counts.
    fn set_wanting(&mut self, agent: AgentId, wanting: bool) {
        if (self.wanting & bit(agent) != 0) == wanting {
            return;
        }
        self.wanting ^= bit(agent);
        let count = match self.group_index(agent) {
            Some(index) => &mut self.groups[index].wanting,
            None => {
                if wanting {
                    self.ungrouped_wanting += 1;
                } else {
                    self.ungrouped_wanting -= 1;
                }
                return;
            }
        };
        if wanting {
            *count += 1;
        } else {
            *count -= 1;
        }
    }

    /// Moves the window forward to `now`.
    fn roll(&mut self, now: Microseconds) {
        let elapsed = now.saturating_sub(self.window_start_us);
        if elapsed < SHARE_WINDOW_US {
            return;
        }
        let whole = elapsed >= 2 * SHARE_WINDOW_US;
        for group in &mut self.groups {
            group.previous_us = if whole { 0 } else { group.current_us };
            group.current_us = 0;
        }
        self.window_start_us = now - elapsed % SHARE_WINDOW_US;
    }

    /// Returns a group's CPU time in the last window, at `now` (after `roll`).
    fn usage(&self, group: &Group, now: Microseconds) -> Microseconds {
        let into = now
            .saturating_sub(self.window_start_us)
            .min(SHARE_WINDOW_US);
        group.previous_us * (SHARE_WINDOW_US - into) / SHARE_WINDOW_US + group.current_us
    }

    /// Decides which groups are throttled at `now`.
    fn refresh(&mut self, now: Microseconds) {
        self.roll(now);
        let entities = self.ungrouped_wanting
            + self
                .groups
                .iter()
                .filter(|group| group.members > 0 && group.wanting > 0)
                .count() as u32;
        let limit = if entities >= 2 {
            SHARE_WINDOW_US / u64::from(entities) + TICK_US
        } else {
            Microseconds::MAX
        };
        let mut runnable_left = self.ungrouped_wanting > 0;
        for index in 0..MAX_AGENTS {
            let group = self.groups[index];
            let throttled =
                group.members > 0 && group.wanting > 0 && self.usage(&group, now) > limit;
            self.groups[index].throttled = throttled;
            runnable_left |= group.members > 0 && group.wanting > 0 && !throttled;
        }
        if !runnable_left {
            // Every entity that wants the CPU is over its share (possible
            // right after the entity count fell): never idle because of it.
            self.throttle_none();
        }
    }

    fn throttle_none(&mut self) {
        for group in &mut self.groups {
            group.throttled = false;
        }
    }

    fn throttled(&self, agent: AgentId) -> bool {
        self.group_index(agent)
            .is_some_and(|index| self.groups[index].throttled)
    }

    /// Hands every held-back agent whose group may run again back to the
    /// wrapped policy.
    fn release(&mut self, now: Microseconds) {
        let mut held = self.held;
        while held != 0 {
            let slot = held.trailing_zeros() as usize;
            held &= held - 1;
            let Some(agent) = AgentId::new(slot) else {
                continue;
            };
            if !self.throttled(agent) {
                self.held &= !bit(agent);
                self.inner.wake(agent, now);
            }
        }
    }

    /// Holds `agent` back: blocked as far as the wrapped policy knows.
    fn hold(&mut self, agent: AgentId, ran_for: Microseconds, now: Microseconds) {
        self.inner.result(
            agent,
            ran_for,
            StopReason::Blocked(BlockKind::Throttled),
            now,
        );
        self.held |= bit(agent);
        self.held_back += 1;
    }
}

impl<P: Scheduler> Scheduler for TreeShare<P> {
    fn arrive(&mut self, agent: AgentId, hint: ClassHint, now: Microseconds) {
        self.set_wanting(agent, true);
        self.inner.arrive(agent, hint, now);
    }

    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        self.set_wanting(agent, true);
        if self.throttled(agent) {
            self.held |= bit(agent);
        } else {
            self.inner.wake(agent, now);
        }
    }

    fn next(&mut self, now: Microseconds) -> Option<AgentId> {
        self.refresh(now);
        self.release(now);
        // Each round holds one more agent back, or releases all once.
        for _ in 0..=2 * MAX_AGENTS {
            match self.inner.next(now) {
                Some(agent) if self.throttled(agent) => self.hold(agent, 0, now),
                Some(agent) => return Some(agent),
                None if self.held != 0 => {
                    self.throttle_none();
                    self.release(now);
                }
                None => return None,
            }
        }
        None
    }

    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        self.roll(now);
        if let Some(index) = self.group_index(agent) {
            let group = &mut self.groups[index];
            group.current_us = group.current_us.saturating_add(ran_for);
        }
        if !reason.stays_runnable() {
            self.set_wanting(agent, false);
            self.inner.result(agent, ran_for, reason, now);
            return;
        }
        if self.group_index(agent).is_some() {
            self.refresh(now);
        }
        if self.throttled(agent) {
            self.hold(agent, ran_for, now);
        } else {
            self.inner.result(agent, ran_for, reason, now);
        }
    }

    fn remove(&mut self, agent: AgentId) {
        self.set_wanting(agent, false);
        self.leave_group(agent, false);
        self.held &= !bit(agent);
        self.inner.remove(agent);
    }

    fn objective(&mut self, agent: AgentId, signal: ObjectiveSignal, now: Microseconds) {
        self.inner.objective(agent, signal, now);
    }

    fn stats(&self) -> SchedulerStats {
        self.inner.stats()
    }
}
