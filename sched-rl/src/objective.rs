//! Learning objectives: what an agent declares it is trying to achieve, and
//! how far it is from it.
//!
//! An agent may declare one [`Objective`]:
//! - **Latency**: every request it serves should be answered within
//!   `target_us`. The kernel measures each request itself (from the
//!   client's `call` to the server's `reply`), so only the target is the
//!   agent's claim; the outcomes are observed.
//! - **Loss**: a training run wants its loss at or below `target` (in
//!   [`LOSS_ONE`] units) by `deadline_us`. The loss is *reported by the
//!   agent* and cannot be checked: it is a claim, like a class hint.
//!
//! [`ObjectiveTracker`] turns the declaration and what follows it into an
//! [`ObjectiveStatus`] and a progress figure for status views, and into the
//! [`ObjectiveSignal`]s a scheduler may use ([`crate::Scheduler::objective`]).
//! Policies must treat every signal as a hint whose use is judged by
//! observed outcomes: an agent can declare an absurd target to look
//! urgent, or report a loss it never reached.
//!
//! # Progress
//! - Latency: an exponentially weighted share of requests that met the
//!   target (weight [`LATENCY_SHARE_WEIGHT`]); the agent is **behind** while
//!   that share is below [`LATENCY_ON_TRACK`] (7/8).
//! - Loss: progress is the fraction of the way from the first reported
//!   loss down to the target. The agent is **behind** when its latest loss
//!   is above the straight line from (first report, first loss) to
//!   (deadline, target), **met** once a report is at or below the target
//!   before the deadline, **missed** when the deadline passes first.
//!
//! Integer arithmetic only (kernel code is soft-float); O(1) per event.

use crate::agent::Microseconds;
use crate::fixed::Fixed;

/// One unit of loss: losses are reported as `loss × LOSS_ONE`, an integer.
pub const LOSS_ONE: u64 = 1_000_000;
/// The longest deadline a loss objective may have: one hour.
pub const MAX_DEADLINE_US: Microseconds = 3_600_000_000;
/// The longest latency target: ten seconds.
pub const MAX_LATENCY_TARGET_US: Microseconds = 10_000_000;
/// Weight of the newest request in the latency share: 1/8.
pub const LATENCY_SHARE_WEIGHT: Fixed = Fixed::from_raw(Fixed::ONE.raw() / 8);
/// Share of requests within target at or above which a latency objective is on track.
pub const LATENCY_ON_TRACK: Fixed = Fixed::from_raw(Fixed::ONE.raw() * 7 / 8);

/// What an agent declared it wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// Each request answered within `target_us` of its arrival.
    Latency {
        /// The target per request, µs.
        target_us: Microseconds,
    },
    /// The loss at or below `target` (× [`LOSS_ONE`]) by `deadline_us`.
    Loss {
        /// Target loss × [`LOSS_ONE`].
        target: u64,
        /// Absolute deadline, µs since boot.
        deadline_us: Microseconds,
    },
}

/// Why a declaration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectiveError {
    /// A zero or too large latency target.
    BadTarget,
    /// A deadline of zero or beyond [`MAX_DEADLINE_US`].
    BadDeadline,
}

impl Objective {
    /// Returns a latency objective, if `target_us` is in `1..=MAX_LATENCY_TARGET_US`.
    pub const fn latency(target_us: Microseconds) -> Result<Self, ObjectiveError> {
        if target_us == 0 || target_us > MAX_LATENCY_TARGET_US {
            return Err(ObjectiveError::BadTarget);
        }
        Ok(Self::Latency { target_us })
    }

    /// Returns a loss objective declared at `now`: `target` (× [`LOSS_ONE`])
    /// within `within_us` (in `1..=MAX_DEADLINE_US`).
    pub const fn loss(
        target: u64,
        within_us: Microseconds,
        now: Microseconds,
    ) -> Result<Self, ObjectiveError> {
        if within_us == 0 || within_us > MAX_DEADLINE_US {
            return Err(ObjectiveError::BadDeadline);
        }
        Ok(Self::Loss {
            target,
            deadline_us: now.saturating_add(within_us),
        })
    }
}

/// Where an agent stands against its objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectiveStatus {
    /// Declared, nothing observed or reported yet.
    Pending,
    /// Meeting it so far.
    OnTrack,
    /// Behind it: the agent is more urgent than its behaviour alone says.
    Behind,
    /// A loss objective reached before its deadline (final).
    Met,
    /// A loss objective's deadline passed first (final).
    Missed,
}

impl ObjectiveStatus {
    /// Returns a short label for status tables.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::OnTrack => "on track",
            Self::Behind => "BEHIND",
            Self::Met => "met",
            Self::Missed => "MISSED",
        }
    }

    /// Returns true when the agent is behind a live objective.
    pub const fn is_behind(self) -> bool {
        matches!(self, Self::Behind)
    }
}

impl Objective {
    /// Returns true when progress against it is measured by the kernel
    /// (latency), false when the agent reports it (loss).
    pub const fn is_observed(self) -> bool {
        matches!(self, Self::Latency { .. })
    }
}

/// What a scheduler hears about an agent's objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectiveSignal {
    /// The agent declared `Objective` (a claim: the target is the agent's).
    Declared(Objective),
    /// The agent fell behind its objective or is no longer behind.
    Behind {
        /// Behind now.
        behind: bool,
        /// The status rests on what the kernel measured (a latency
        /// objective's requests), not on what the agent reported (a
        /// training loss): the two are kept apart so that a lie cannot
        /// borrow the value an honest observation earned.
        observed: bool,
    },
    /// The kernel measured one request the agent served; `met` when it was
    /// answered within the declared target. Observed, not claimed.
    RequestServed {
        /// Answered within the target.
        met: bool,
    },
}

/// An objective and everything observed or reported against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectiveTracker {
    objective: Objective,
    declared_us: Microseconds,
    requests: u64,
    requests_met: u64,
    met_share: Fixed,
    last_latency_us: Microseconds,
    worst_latency_us: Microseconds,
    first_loss: Option<(Microseconds, u64)>,
    last_loss: Option<(Microseconds, u64)>,
    settled: Option<(ObjectiveStatus, Microseconds)>,
}

impl ObjectiveTracker {
    /// Starts tracking `objective`, declared at `now`.
    pub const fn new(objective: Objective, now: Microseconds) -> Self {
        Self {
            objective,
            declared_us: now,
            requests: 0,
            requests_met: 0,
            met_share: Fixed::ONE,
            last_latency_us: 0,
            worst_latency_us: 0,
            first_loss: None,
            last_loss: None,
            settled: None,
        }
    }

    /// Returns the objective.
    pub const fn objective(&self) -> Objective {
        self.objective
    }

    /// Returns when it was declared.
    pub const fn declared_us(&self) -> Microseconds {
        self.declared_us
    }

    /// Records one request answered after `latency_us`; returns whether it
    /// met the target (always false for a loss objective, which serves none).
    pub fn request(&mut self, latency_us: Microseconds) -> bool {
        let met = match self.objective {
            Objective::Latency { target_us } => latency_us <= target_us,
            Objective::Loss { .. } => false,
        };
        self.requests += 1;
        self.requests_met += u64::from(met);
        self.last_latency_us = latency_us;
        self.worst_latency_us = self.worst_latency_us.max(latency_us);
        let target = if met { Fixed::ONE } else { Fixed::ZERO };
        self.met_share = self.met_share + (target - self.met_share).mul(LATENCY_SHARE_WEIGHT);
        met
    }

    /// Records a loss (× [`LOSS_ONE`]) the agent reported at `now`.
    pub fn report_loss(&mut self, loss: u64, now: Microseconds) {
        if self.first_loss.is_none() {
            self.first_loss = Some((now, loss));
        }
        self.last_loss = Some((now, loss));
        if let Objective::Loss {
            target,
            deadline_us,
        } = self.objective
            && self.settled.is_none()
            && loss <= target
            && now <= deadline_us
        {
            self.settled = Some((ObjectiveStatus::Met, now));
        }
    }

    /// Returns requests served and how many of them met the target.
    pub const fn requests(&self) -> (u64, u64) {
        (self.requests, self.requests_met)
    }

    /// Returns the latency of the last request and the worst one, µs.
    pub const fn latencies_us(&self) -> (Microseconds, Microseconds) {
        (self.last_latency_us, self.worst_latency_us)
    }

    /// Returns the latest reported loss (× [`LOSS_ONE`]).
    pub fn loss(&self) -> Option<u64> {
        self.last_loss.map(|(_, loss)| loss)
    }

    /// Returns the signal a scheduler should get for the status at `now`.
    pub fn signal(&self, now: Microseconds) -> ObjectiveSignal {
        ObjectiveSignal::Behind {
            behind: self.status(now).is_behind(),
            observed: self.objective.is_observed(),
        }
    }

    /// Returns the status at `now`.
    pub fn status(&self, now: Microseconds) -> ObjectiveStatus {
        if let Some((status, _)) = self.settled {
            return status;
        }
        match self.objective {
            Objective::Latency { .. } if self.requests == 0 => ObjectiveStatus::Pending,
            Objective::Latency { .. } if self.met_share >= LATENCY_ON_TRACK => {
                ObjectiveStatus::OnTrack
            }
            Objective::Latency { .. } => ObjectiveStatus::Behind,
            Objective::Loss { deadline_us, .. } if now > deadline_us => ObjectiveStatus::Missed,
            Objective::Loss {
                target,
                deadline_us,
            } => match (self.first_loss, self.last_loss) {
                (Some((start_us, start)), Some((_, latest))) => {
                    let expected = expected_loss(start_us, start, deadline_us, target, now);
                    if latest > expected {
                        ObjectiveStatus::Behind
                    } else {
                        ObjectiveStatus::OnTrack
                    }
                }
                _ => ObjectiveStatus::Pending,
            },
        }
    }

    /// Returns progress in thousandths: for latency the share of recent
    /// requests within target (0 before the first); for loss the part of the way from the first
    /// reported loss to the target (clamped to `0..=1000`).
    pub fn progress_permille(&self) -> u64 {
        match self.objective {
            Objective::Latency { .. } if self.requests == 0 => 0,
            Objective::Latency { .. } => self.met_share.to_thousandths().clamp(0, 1000) as u64,
            Objective::Loss { target, .. } => match (self.first_loss, self.last_loss) {
                (Some((_, start)), Some((_, latest))) if start > target => {
                    let done = start.saturating_sub(latest.max(target));
                    ((u128::from(done) * 1000) / u128::from(start - target)) as u64
                }
                (Some(_), Some((_, latest))) if latest <= target => 1000,
                _ => 0,
            },
        }
    }
}

/// Returns the loss expected at `now` on the straight line from
/// `(start_us, start)` to `(deadline_us, target)`.
fn expected_loss(
    start_us: Microseconds,
    start: u64,
    deadline_us: Microseconds,
    target: u64,
    now: Microseconds,
) -> u64 {
    if start <= target || deadline_us <= start_us {
        return target;
    }
    let span = u128::from(deadline_us - start_us);
    let elapsed = u128::from(now.saturating_sub(start_us)).min(span);
    let drop = u128::from(start - target) * elapsed / span;
    start - drop as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_checked() {
        assert_eq!(Objective::latency(0), Err(ObjectiveError::BadTarget));
        assert_eq!(
            Objective::latency(MAX_LATENCY_TARGET_US + 1),
            Err(ObjectiveError::BadTarget)
        );
        assert!(Objective::latency(2_000).is_ok());
        assert_eq!(Objective::loss(1, 0, 5), Err(ObjectiveError::BadDeadline));
        assert_eq!(
            Objective::loss(1, MAX_DEADLINE_US + 1, 5),
            Err(ObjectiveError::BadDeadline)
        );
        assert_eq!(
            Objective::loss(7, 10, u64::MAX),
            Ok(Objective::Loss {
                target: 7,
                deadline_us: u64::MAX
            })
        );
    }

    #[test]
    fn latency_falls_behind_and_recovers() {
        let mut tracker = ObjectiveTracker::new(Objective::latency(1_000).unwrap(), 0);
        assert_eq!(tracker.status(0), ObjectiveStatus::Pending);
        assert!(tracker.request(900));
        assert_eq!(tracker.status(0), ObjectiveStatus::OnTrack);
        // One miss in eight keeps it on track; a run of misses does not.
        assert!(!tracker.request(1_001));
        assert_eq!(tracker.status(0), ObjectiveStatus::OnTrack);
        for _ in 0..3 {
            tracker.request(5_000);
        }
        assert_eq!(tracker.status(0), ObjectiveStatus::Behind);
        for _ in 0..20 {
            tracker.request(100);
        }
        assert_eq!(tracker.status(0), ObjectiveStatus::OnTrack);
        assert_eq!(tracker.requests(), (25, 21));
        assert_eq!(tracker.latencies_us(), (100, 5_000));
        assert!(tracker.progress_permille() > 900);
    }

    #[test]
    fn loss_follows_the_line_to_the_deadline() {
        // From loss 2.0 at t = 0 down to 0.5 by t = 1000.
        let mut tracker =
            ObjectiveTracker::new(Objective::loss(LOSS_ONE / 2, 1_000, 0).unwrap(), 0);
        assert_eq!(tracker.status(0), ObjectiveStatus::Pending);
        tracker.report_loss(2 * LOSS_ONE, 0);
        assert_eq!(tracker.status(0), ObjectiveStatus::OnTrack);
        assert_eq!(tracker.progress_permille(), 0);
        // Halfway in time the line is at 1.25: 1.5 is behind, 1.0 on track.
        tracker.report_loss(3 * LOSS_ONE / 2, 500);
        assert_eq!(tracker.status(500), ObjectiveStatus::Behind);
        tracker.report_loss(LOSS_ONE, 500);
        assert_eq!(tracker.status(500), ObjectiveStatus::OnTrack);
        assert_eq!(tracker.progress_permille(), 666);
        tracker.report_loss(LOSS_ONE / 2, 900);
        assert_eq!(tracker.status(2_000), ObjectiveStatus::Met);
        assert_eq!(tracker.progress_permille(), 1000);
        // Met is final, even if a later loss rises again.
        tracker.report_loss(3 * LOSS_ONE, 950);
        assert_eq!(tracker.status(2_000), ObjectiveStatus::Met);
    }

    #[test]
    fn a_loss_deadline_can_pass() {
        let mut tracker = ObjectiveTracker::new(Objective::loss(10, 100, 0).unwrap(), 0);
        tracker.report_loss(50, 10);
        assert_eq!(tracker.status(100), ObjectiveStatus::Behind);
        assert_eq!(tracker.status(101), ObjectiveStatus::Missed);
        // Reaching the target late does not make it met.
        tracker.report_loss(5, 200);
        assert_eq!(tracker.status(300), ObjectiveStatus::Missed);
        // A loss objective serves no requests.
        assert!(!tracker.request(1));
    }

    #[test]
    fn hostile_numbers_do_not_overflow() {
        let mut tracker =
            ObjectiveTracker::new(Objective::loss(0, MAX_DEADLINE_US, u64::MAX).unwrap(), 0);
        tracker.report_loss(u64::MAX, 0);
        tracker.report_loss(u64::MAX - 1, u64::MAX);
        let _ = tracker.status(u64::MAX);
        let _ = tracker.progress_permille();
        let mut latency = ObjectiveTracker::new(Objective::latency(1).unwrap(), u64::MAX);
        latency.request(u64::MAX);
        latency.request(u64::MAX);
        assert_eq!(latency.status(0), ObjectiveStatus::Behind);
    }
}
