//! Symmetric int8 quantization and fixed-point requantization.

use alloc::vec;
use alloc::vec::Vec;

use crate::math::{frexp_f64, round_f32_to_i32, round_f64_to_i64};

/// Quantizes with a scale from the data: `scale = max|x| / 127` (1.0 if `x` is empty,
/// all zero, or its maximum is not finite or gives no positive scale), then
/// [`quantize_with_scale`]. Returns the codes and the scale (`x ≈ q * scale`).
pub fn quantize_symmetric(x: &[f32]) -> (Vec<i8>, f32) {
    let max = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = max / 127.0;
    let scale = if scale > 0.0 && scale.is_finite() {
        scale
    } else {
        1.0
    };
    let mut q = vec![0i8; x.len()];
    quantize_with_scale(x, scale, &mut q);
    (q, scale)
}

/// `out = clamp(round(x / scale), -127, 127)`, rounding half away from zero (NaN gives
/// 0).
///
/// # Panics
/// If `out.len() != x.len()`.
pub fn quantize_with_scale(x: &[f32], scale: f32, out: &mut [i8]) {
    assert_eq!(x.len(), out.len(), "quantize: out.len() != x.len()");
    for (o, &v) in out.iter_mut().zip(x) {
        *o = round_f32_to_i32(v / scale).clamp(-127, 127) as i8;
    }
}

/// A real multiplier `M` as a fixed-point `multiplier * 2^shift / 2^31`, the
/// requantization of gemmlowp and TFLite (`QuantizeMultiplier`,
/// `MultiplyByQuantizedMultiplier`).
///
/// `multiplier` is in `[2^30, 2^31)` (or 0 for `M = 0`); `shift > 0` shifts left first,
/// `shift < 0` is a rounding right shift after the high multiply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant {
    /// Q31 mantissa of `M`, in `[2^30, 2^31)`, or 0.
    pub multiplier: i32,
    /// Binary exponent of `M`, in `[-31, 30]`.
    pub shift: i32,
}

impl Requant {
    /// The fixed-point form of `m` (TFLite `QuantizeMultiplier`): `m = q 2^shift` with
    /// `q` in `[0.5, 1)`, `multiplier = round(q 2^31)`. `m <= 0`, NaN and `m < 2^-32`
    /// give the zero multiplier; `m >= 2^31` saturates to `(i32::MAX, 30)`.
    pub fn from_real(m: f64) -> Requant {
        const ZERO: Requant = Requant {
            multiplier: 0,
            shift: 0,
        };
        if m.is_nan() || m <= 0.0 {
            return ZERO;
        }
        if !m.is_finite() {
            return Requant {
                multiplier: i32::MAX,
                shift: 30,
            };
        }
        let (q, mut shift) = frexp_f64(m);
        let mut q_fixed = round_f64_to_i64(q * (1u64 << 31) as f64);
        if q_fixed == 1i64 << 31 {
            q_fixed /= 2;
            shift += 1;
        }
        if shift < -31 {
            return ZERO;
        }
        if shift > 30 {
            return Requant {
                multiplier: i32::MAX,
                shift: 30,
            };
        }
        Requant {
            multiplier: q_fixed as i32,
            shift,
        }
    }

    /// The real multiplier this represents, `multiplier * 2^(shift - 31)`.
    pub fn to_real(&self) -> f64 {
        let mut v = f64::from(self.multiplier);
        let e = self.shift - 31;
        let step = if e < 0 { 0.5 } else { 2.0 };
        for _ in 0..e.unsigned_abs() {
            v *= step;
        }
        v
    }

    /// `round(acc * M)`, integer only (TFLite `MultiplyByQuantizedMultiplier`): a left
    /// shift by `max(shift, 0)`, the saturating rounding doubling high multiply, a
    /// rounding right shift by `max(-shift, 0)` (clamped to 31). Where TFLite's 32-bit
    /// left shift would overflow (`M > 1` and a large `acc`), the product is taken in
    /// wider integers and the result saturates to the i32 range instead.
    pub fn apply(&self, acc: i32) -> i32 {
        tensor_ring::reference::requantize(acc, self.multiplier, self.shift)
    }

    /// Whether `multiplier` and `shift` are in the ranges [`Requant::from_real`] produces.
    pub fn is_valid(&self) -> bool {
        let m_ok = self.multiplier == 0 || self.multiplier >= 1 << 30;
        m_ok && (-31..=30).contains(&self.shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_real_ranges() {
        let r = Requant::from_real(0.5);
        assert_eq!(
            r,
            Requant {
                multiplier: 1 << 30,
                shift: 0
            }
        );
        let r = Requant::from_real(0.75);
        assert_eq!(
            r,
            Requant {
                multiplier: 3 << 29,
                shift: 0
            }
        );
        assert_eq!(
            Requant::from_real(1.0),
            Requant {
                multiplier: 1 << 30,
                shift: 1
            }
        );
        assert_eq!(Requant::from_real(0.0).multiplier, 0);
        assert_eq!(Requant::from_real(-1.0).multiplier, 0);
        assert_eq!(Requant::from_real(1e-12).multiplier, 0);
        // Rounds up to 2^31: renormalised.
        let r = Requant::from_real(1.0 - 1e-12);
        assert_eq!(
            r,
            Requant {
                multiplier: 1 << 30,
                shift: 1
            }
        );
        assert!(Requant::from_real(0.0123).is_valid());
        assert!((Requant::from_real(0.0123).to_real() - 0.0123).abs() < 1e-11);
    }
}
