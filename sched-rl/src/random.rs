//! A small deterministic pseudo-random generator (SplitMix64) for exploration.
//!
//! Policies never read hardware entropy: given the same seed and the same
//! sequence of calls they make the same decisions, which is what makes the
//! learner's tests and benchmarks reproducible.

use crate::fixed::{FRACTION_BITS, Fixed};

/// The SplitMix64 increment (the golden-ratio constant).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// A SplitMix64 generator: 64 bits of state, full period, no allocation.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// Returns a generator whose sequence is fixed by `seed`.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Returns the next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// Returns a value uniformly distributed in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        // Multiply-shift (Lemire) maps 64 random bits onto the range; the
        // bias is below 2^-64 × bound, irrelevant here.
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Returns a value uniformly distributed in `minimum..=maximum`.
    pub fn between(&mut self, minimum: u64, maximum: u64) -> u64 {
        if maximum <= minimum {
            return minimum;
        }
        minimum + self.below(maximum - minimum + 1)
    }

    /// Returns true with probability `probability` (clamped to `[0, 1]`).
    pub fn chance(&mut self, probability: Fixed) -> bool {
        let draw = self.next_u64() >> (64 - FRACTION_BITS);
        (draw as i64) < probability.raw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut first = Rng::new(7);
        let mut second = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(first.next_u64(), second.next_u64());
        }
    }

    #[test]
    fn draws_stay_in_range() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            assert!(rng.below(10) < 10);
            let value = rng.between(5, 8);
            assert!((5..=8).contains(&value));
        }
        assert!(!rng.chance(Fixed::ZERO));
        assert!(rng.chance(Fixed::ONE));
    }
}
