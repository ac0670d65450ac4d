//! Helpers shared by the agent programs in `src/bin/`.
#![no_std]
#![forbid(unsafe_code)]

pub mod cycle;
pub mod flood;

/// A small xorshift generator: deterministic for a given seed.
pub struct Random(u64);

impl Random {
    /// Returns a generator seeded with `seed` (0 is replaced by a constant).
    pub const fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Returns the next pseudo-random word.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Work an agent can check: the sum of the first `n` squares modulo 2^64,
/// computed step by step with a yield every `yield_every` steps.
pub fn checked_work(n: u64, yield_every: u64) -> u64 {
    let mut sum = 0u64;
    for index in 1..=n {
        sum = sum.wrapping_add(index.wrapping_mul(index));
        if yield_every != 0 && index % yield_every == 0 {
            agent_lib::yield_now();
        }
    }
    sum
}

/// The closed form of [`checked_work`], to compare against.
pub fn expected_work(n: u64) -> u64 {
    // n(n+1)(2n+1)/6 computed in 128 bits to stay exact.
    let n = u128::from(n);
    (n * (n + 1) * (2 * n + 1) / 6) as u64
}
