//! Exploration (epsilon-greedy with decay) and learning-rate schedules.
//!
//! Both are integer-only: rates are Q16.16 [`Fixed`] values in `[0, 1]`.

use crate::fixed::Fixed;
use crate::random::Rng;

/// Epsilon-greedy exploration whose rate decays with the number of decisions:
/// `epsilon(t) = max(floor, start × half_life / (half_life + t))`, so after
/// `half_life` decisions the rate has halved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpsilonGreedy {
    start: Fixed,
    floor: Fixed,
    half_life: u64,
    steps: u64,
}

impl EpsilonGreedy {
    /// Returns a schedule starting at `start`, never below `floor`.
    pub const fn new(start: Fixed, floor: Fixed, half_life: u64) -> Self {
        Self {
            start,
            floor,
            half_life,
            steps: 0,
        }
    }

    /// Returns the current exploration probability.
    pub fn epsilon(&self) -> Fixed {
        let decayed = Fixed::from_raw(
            (i128::from(self.start.raw()) * i128::from(self.half_life)
                / i128::from(self.half_life.saturating_add(self.steps)).max(1)) as i64,
        );
        decayed.max(self.floor)
    }

    /// Advances one decision and returns true when it should explore.
    pub fn explore(&mut self, rng: &mut Rng) -> bool {
        let epsilon = self.epsilon();
        self.steps = self.steps.saturating_add(1);
        rng.chance(epsilon)
    }

    /// Returns the number of decisions taken so far.
    pub const fn steps(&self) -> u64 {
        self.steps
    }
}

/// How large a step each TD update takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LearningRate {
    /// The same `alpha` forever: tracks a changing world, never settles.
    Constant(Fixed),
    /// `alpha = max(floor, 1 / (visits + 1))` per state-action pair: the
    /// sample average at first (the Robbins–Monro conditions hold until the
    /// floor), then a constant step so a changed world is still followed.
    InverseVisits {
        /// The smallest step ever taken.
        floor: Fixed,
    },
}

impl LearningRate {
    /// Returns the step size for a pair that has been updated `visits` times.
    pub fn alpha(self, visits: u32) -> Fixed {
        match self {
            Self::Constant(alpha) => alpha,
            Self::InverseVisits { floor } => Fixed::from_ratio(1, i64::from(visits) + 1).max(floor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epsilon_halves_after_half_life_and_respects_floor() {
        let mut schedule = EpsilonGreedy::new(Fixed::ONE, Fixed::from_ratio(1, 100), 10);
        let mut rng = Rng::new(3);
        for _ in 0..10 {
            schedule.explore(&mut rng);
        }
        assert_eq!(schedule.epsilon(), Fixed::from_ratio(1, 2));
        for _ in 0..10_000 {
            schedule.explore(&mut rng);
        }
        assert_eq!(schedule.epsilon(), Fixed::from_ratio(1, 100));
    }

    #[test]
    fn inverse_visits_rate() {
        let rate = LearningRate::InverseVisits {
            floor: Fixed::from_ratio(1, 10),
        };
        assert_eq!(rate.alpha(0), Fixed::ONE);
        assert_eq!(rate.alpha(3), Fixed::from_ratio(1, 4));
        assert_eq!(rate.alpha(1000), Fixed::from_ratio(1, 10));
    }
}
