//! Factorials wrapping at 32 and 64 bits in constant time.
//!
//! `n!` contains `n/2 + n/4 + n/8 + …` factors of two. From `34!` on there
//! are at least 32 of them, so `n! mod 2^32 = 0` for every `n >= 34`; from
//! `66!` on at least 64, so `n! mod 2^64 = 0`. The functions here loop at
//! most 33 (or 65) times whatever the input, which bounds the cost of the
//! accelerator syscall's CPU route and lets the kernel answer large inputs
//! without sending them to a device that would loop `n` times.

/// Smallest `n` with `n! mod 2^32 = 0`.
pub const U32_ZERO_FROM: u32 = 34;
/// Smallest `n` with `n! mod 2^64 = 0`.
pub const U64_ZERO_FROM: u64 = 66;

/// Returns `n!` wrapping at 32 bits, in at most 33 multiplications.
pub fn wrapping_u32(n: u32) -> u32 {
    if n >= U32_ZERO_FROM {
        return 0;
    }
    (1..=n).fold(1u32, |product, factor| product.wrapping_mul(factor))
}

/// Returns `n!` wrapping at 64 bits, in at most 65 multiplications.
pub fn wrapping_u64(n: u64) -> u64 {
    if n >= U64_ZERO_FROM {
        return 0;
    }
    (1..=n).fold(1u64, |product, factor| product.wrapping_mul(factor))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain loop the device runs, for reference (only for small `n`).
    fn reference_u32(n: u32) -> u32 {
        (1..=n).fold(1u32, |product, factor| product.wrapping_mul(factor))
    }

    fn reference_u64(n: u64) -> u64 {
        (1..=n).fold(1u64, |product, factor| product.wrapping_mul(factor))
    }

    #[test]
    fn matches_the_loop_below_forty_and_beyond() {
        for n in 0..40 {
            assert_eq!(wrapping_u32(n), reference_u32(n), "{n}!");
        }
        for n in [40, 100, 1_000, 65_535, 1 << 20, 10_000_000] {
            assert_eq!(wrapping_u32(n), reference_u32(n), "{n}!");
        }
        for n in 0..80 {
            assert_eq!(wrapping_u64(n), reference_u64(n), "{n}! (64 bits)");
        }
        for n in [100, 1_000, 1 << 20, 10_000_000] {
            assert_eq!(wrapping_u64(n), reference_u64(n), "{n}! (64 bits)");
        }
    }

    #[test]
    fn the_boundaries_are_the_first_zeros() {
        assert_ne!(reference_u32(U32_ZERO_FROM - 1), 0);
        assert_eq!(reference_u32(U32_ZERO_FROM), 0);
        assert_ne!(reference_u64(U64_ZERO_FROM - 1), 0);
        assert_eq!(reference_u64(U64_ZERO_FROM), 0);
    }

    #[test]
    fn largest_inputs_answer_zero() {
        assert_eq!(wrapping_u32(u32::MAX), 0);
        assert_eq!(wrapping_u64(u64::MAX), 0);
        assert_eq!(wrapping_u32(0), 1);
        assert_eq!(wrapping_u32(12), 479_001_600);
    }
}
