//! What the Q-learning scheduler observes about each agent, and its state index.
//!
//! Every feature is measured from behaviour; the spawn hint only seeds the
//! burst estimate (a prior that the first real bursts overwrite) and supplies
//! the relative deadline, whose use is then judged by observed outcomes.
//!
//! The state of an agent is the quadruple (burst bucket, block bucket, slack
//! bucket, objective bucket), `4 × 3 × 3 × 2 = 72` states:
//! - **burst**: `max(EWMA of completed bursts, current burst so far)`,
//!   bucketed at 256 µs, 1 ms and 4 ms. A burst is the CPU time between two
//!   blocks; preemptions *and yields* do not end it, so an agent that yields
//!   just before each tick still shows its true burst length.
//! - **block**: EWMA (weight 1/8) of "this stop was a block", bucketed at
//!   1/4 and 3/4.
//! - **slack**: none (no deadline), loose, or tight (≤ `TIGHT_SLACK_US`,
//!   including already late), where slack = release + deadline − now −
//!   expected remaining burst.
//! - **objective**: whether the kernel's own measurements (a latency
//!   objective's requests, [`crate::objective`]) put the agent behind its
//!   objective. Like the hint, this only separates states: what dispatching
//!   a "behind" agent is worth is learned from observed rewards. Agents
//!   without one are never behind: their states are the first 36, as
//!   before objectives. (A declared latency target also sets the deadline
//!   the slack bucket uses.)

use crate::agent::{ClassHint, Microseconds, StopReason, TICK_US};
use crate::fixed::Fixed;

/// Upper limits of the burst buckets (the last bucket is unbounded).
pub const BURST_BUCKET_LIMITS_US: [Microseconds; 3] = [256, 4 * 256, 16 * 256];
/// Number of burst buckets.
pub const BURST_BUCKETS: usize = BURST_BUCKET_LIMITS_US.len() + 1;
/// Number of block-frequency buckets.
pub const BLOCK_BUCKETS: usize = 3;
/// Number of deadline-slack buckets.
pub const SLACK_BUCKETS: usize = 3;
/// Number of objective buckets (not behind, behind by the kernel's measurement).
pub const OBJECTIVE_BUCKETS: usize = 2;
/// Number of states an agent can be in whatever its objective.
const BEHAVIOUR_STATES: usize = BURST_BUCKETS * BLOCK_BUCKETS * SLACK_BUCKETS;
/// Number of distinct agent states.
pub const STATE_COUNT: usize = BEHAVIOUR_STATES * OBJECTIVE_BUCKETS;
/// Slack at or below which a deadline counts as tight.
pub const TIGHT_SLACK_US: Microseconds = 2 * TICK_US;
/// Burst prior for agents that claim to be batch work.
const BATCH_PRIOR_US: Microseconds = 8 * TICK_US;
/// Burst prior for agents that make no claim.
const UNKNOWN_PRIOR_US: Microseconds = TICK_US;
/// Shift of the burst EWMA: weight 1/2, so a changed agent is re-classified
/// within a handful of bursts.
const BURST_AVERAGE_SHIFT: u32 = 1;
/// Shift of the block-frequency EWMA: weight 1/8.
const BLOCK_AVERAGE_SHIFT: u32 = 3;

/// The behavioural record of one agent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentFeatures {
    burst_average_us: Microseconds,
    current_burst_us: Microseconds,
    blocked_fraction: Fixed,
    deadline_us: Option<Microseconds>,
    released_at: Microseconds,
    behind: bool,
    objective_deadline: bool,
}

impl AgentFeatures {
    /// Returns the record of an agent spawned at `now` with `hint`.
    pub fn spawned(hint: ClassHint, now: Microseconds) -> Self {
        let (burst_average_us, deadline_us) = match hint {
            ClassHint::Interactive => (0, None),
            ClassHint::Batch => (BATCH_PRIOR_US, None),
            ClassHint::Periodic { deadline_us } => (0, Some(deadline_us)),
            ClassHint::Unknown => (UNKNOWN_PRIOR_US, None),
        };
        Self {
            burst_average_us,
            current_burst_us: 0,
            blocked_fraction: Fixed::ZERO,
            deadline_us,
            released_at: now,
            behind: false,
            objective_deadline: false,
        }
    }

    /// Records a relative deadline for every burst from now on: a latency
    /// objective's target (each burst of a server answers one request). The
    /// tighter of it and a periodic hint's deadline holds; a burst due by
    /// an objective's target earns no deadline reward (see `q_learning`).
    pub fn set_deadline(&mut self, deadline_us: Microseconds) {
        if self.deadline_us.is_none_or(|old| deadline_us < old) {
            self.deadline_us = Some(deadline_us);
            self.objective_deadline = true;
        }
    }

    /// Returns true when the deadline is a latency objective's target
    /// rather than a periodic hint's.
    pub fn deadline_from_objective(&self) -> bool {
        self.objective_deadline
    }

    /// Records whether the kernel measured the agent behind its latency objective.
    pub fn set_behind(&mut self, behind: bool) {
        self.behind = behind;
    }

    /// Records a wake-up at `now`, which releases a new burst.
    pub fn woke(&mut self, now: Microseconds) {
        self.released_at = now;
    }

    /// Records that the agent ran for `ran_for` and stopped for `reason`.
    pub fn stopped(&mut self, ran_for: Microseconds, reason: StopReason) {
        self.current_burst_us = self.current_burst_us.saturating_add(ran_for);
        // A throttled stop is a long preemption: the burst goes on.
        let blocked = matches!(reason, StopReason::Blocked(_)) && reason.ends_burst();
        let target = if blocked { Fixed::ONE } else { Fixed::ZERO };
        let step = Fixed::from_raw((target - self.blocked_fraction).raw() >> BLOCK_AVERAGE_SHIFT);
        self.blocked_fraction = self.blocked_fraction + step;
        if blocked {
            let average = self.burst_average_us as i64;
            let delta = (self.current_burst_us as i64 - average) >> BURST_AVERAGE_SHIFT;
            self.burst_average_us = (average + delta).max(0) as Microseconds;
            self.current_burst_us = 0;
        }
    }

    /// Returns the absolute deadline of the current burst (`u64::MAX`
    /// without a deadline).
    pub fn due_at(&self) -> Microseconds {
        self.deadline_us.map_or(Microseconds::MAX, |deadline| {
            self.released_at.saturating_add(deadline)
        })
    }

    /// Returns true when a burst that ended at `now` met the claimed deadline.
    pub fn met_deadline(&self, now: Microseconds) -> bool {
        self.deadline_us
            .is_some_and(|deadline| now <= self.released_at.saturating_add(deadline))
    }

    /// Returns the expected length of the current burst.
    pub fn burst_estimate(&self) -> Microseconds {
        self.burst_average_us.max(self.current_burst_us)
    }

    /// Returns the state index in `0..STATE_COUNT` at time `now`.
    pub fn state(&self, now: Microseconds) -> usize {
        let estimate = self.burst_estimate();
        let burst = BURST_BUCKET_LIMITS_US
            .iter()
            .take_while(|&&limit| estimate >= limit)
            .count();
        let quarter = Fixed::ONE.raw() / 4;
        let fraction = self.blocked_fraction.raw();
        let block = if fraction < quarter {
            0
        } else if fraction < 3 * quarter {
            1
        } else {
            2
        };
        let slack = match self.deadline_us {
            None => 0,
            Some(deadline) => {
                let remaining = self.burst_average_us.saturating_sub(self.current_burst_us);
                let finish = now.saturating_add(remaining).saturating_add(TIGHT_SLACK_US);
                if finish < self.released_at.saturating_add(deadline) {
                    1
                } else {
                    2
                }
            }
        };
        let behaviour = (burst * BLOCK_BUCKETS + block) * SLACK_BUCKETS + slack;
        behaviour + BEHAVIOUR_STATES * usize::from(self.behind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::BlockKind;

    #[test]
    fn hog_and_interactive_land_in_different_states() {
        let mut hog = AgentFeatures::spawned(ClassHint::Interactive, 0);
        let mut interactive = AgentFeatures::spawned(ClassHint::Batch, 0);
        for _ in 0..20 {
            hog.stopped(TICK_US, StopReason::Preempted);
            interactive.stopped(300, StopReason::Blocked(BlockKind::Io));
        }
        assert!(hog.burst_estimate() > 16 * 256);
        assert!(interactive.burst_estimate() < 1024);
        assert_ne!(hog.state(0), interactive.state(0));
        assert!(hog.state(0) < STATE_COUNT && interactive.state(0) < STATE_COUNT);
    }

    #[test]
    fn behind_agents_have_states_of_their_own() {
        let mut agent = AgentFeatures::spawned(ClassHint::Unknown, 0);
        let calm = agent.state(0);
        assert!(calm < BEHAVIOUR_STATES);
        agent.set_behind(true);
        assert_eq!(agent.state(0), calm + BEHAVIOUR_STATES);
        assert!(agent.state(0) < STATE_COUNT);
        agent.set_behind(false);
        assert_eq!(agent.state(0), calm);
    }

    #[test]
    fn yielding_does_not_end_a_burst() {
        let mut gamer = AgentFeatures::spawned(ClassHint::Interactive, 0);
        for _ in 0..10 {
            gamer.stopped(950, StopReason::Yielded);
        }
        assert_eq!(gamer.burst_estimate(), 9_500);
    }
}
