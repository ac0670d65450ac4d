//! Q16.16 fixed-point numbers: the learner's only number type (no floats).
//!
//! The kernel target is soft-float, so values the per-tick path computes
//! (Q-values, rewards, learning and exploration rates) are [`Fixed`]:
//! a signed Q16.16 number stored in an `i64`. The raw integer is the real
//! value times 2^16, so `Fixed::ONE.raw() == 65_536` and the resolution is
//! 1/65_536 ≈ 0.000_015. Products are computed in `i128` and rounded to
//! nearest; sums saturate instead of wrapping.

use core::fmt;
use core::ops::{Add, Neg, Sub};

/// Number of fractional bits in the Q16.16 format.
pub const FRACTION_BITS: u32 = 16;

/// A signed Q16.16 fixed-point number (raw `i64` = value × 2^16).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed(i64);

impl Fixed {
    /// Zero.
    pub const ZERO: Self = Self(0);
    /// One.
    pub const ONE: Self = Self(1 << FRACTION_BITS);
    /// The largest representable value.
    pub const MAX: Self = Self(i64::MAX);
    /// The smallest representable value.
    pub const MIN: Self = Self(i64::MIN);

    /// Returns the number whose raw Q16.16 representation is `raw`.
    pub const fn from_raw(raw: i64) -> Self {
        Self(raw)
    }

    /// Returns the raw Q16.16 representation (value × 2^16).
    pub const fn raw(self) -> i64 {
        self.0
    }

    /// Returns the integer `value` as a fixed-point number.
    pub const fn from_int(value: i64) -> Self {
        Self(value.saturating_mul(1 << FRACTION_BITS))
    }

    /// Returns `numerator / denominator`, rounded toward zero.
    ///
    /// A zero denominator returns zero rather than panicking.
    pub const fn from_ratio(numerator: i64, denominator: i64) -> Self {
        if denominator == 0 {
            return Self::ZERO;
        }
        let scaled = (numerator as i128) << FRACTION_BITS;
        Self(saturate(scaled / denominator as i128))
    }

    /// Returns `self × other`, rounded to nearest and saturated.
    pub const fn mul(self, other: Self) -> Self {
        let product = self.0 as i128 * other.0 as i128;
        let half = 1i128 << (FRACTION_BITS - 1);
        Self(saturate((product + half) >> FRACTION_BITS))
    }

    /// Returns the integer part, rounded toward negative infinity.
    pub const fn floor_int(self) -> i64 {
        self.0 >> FRACTION_BITS
    }

    /// Returns the value in thousandths, rounded toward zero (for printing
    /// without floats).
    pub const fn to_thousandths(self) -> i64 {
        saturate((self.0 as i128 * 1000) >> FRACTION_BITS)
    }
}

/// Returns `value` clamped into the `i64` range.
const fn saturate(value: i128) -> i64 {
    if value > i64::MAX as i128 {
        i64::MAX
    } else if value < i64::MIN as i128 {
        i64::MIN
    } else {
        value as i64
    }
}

impl Add for Fixed {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl Sub for Fixed {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }
}

impl Neg for Fixed {
    type Output = Self;
    fn neg(self) -> Self {
        Self(self.0.saturating_neg())
    }
}

impl fmt::Display for Fixed {
    /// Prints the value with three decimals, without floating point.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let thousandths = self.to_thousandths();
        let sign = if thousandths < 0 { "-" } else { "" };
        let magnitude = thousandths.unsigned_abs();
        write!(
            formatter,
            "{sign}{}.{:03}",
            magnitude / 1000,
            magnitude % 1000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_round_trips() {
        let half = Fixed::from_ratio(1, 2);
        assert_eq!(half.raw(), 32_768);
        assert_eq!(half.mul(half), Fixed::from_ratio(1, 4));
        assert_eq!(Fixed::from_int(3) - Fixed::ONE, Fixed::from_int(2));
        assert_eq!(Fixed::from_int(-3).floor_int(), -3);
        assert_eq!(Fixed::from_ratio(1, 0), Fixed::ZERO);
        assert_eq!(Fixed::MAX + Fixed::ONE, Fixed::MAX);
    }

    #[test]
    fn displays_three_decimals() {
        assert_eq!(format!("{}", Fixed::from_ratio(-5, 4)), "-1.250");
        assert_eq!(format!("{}", Fixed::from_ratio(1, 3)), "0.333");
    }
}
