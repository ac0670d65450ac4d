//! Elementary functions `core` lacks for `f32`: `exp`, `ln`, `sqrt`, rounding.
//!
//! Plain IEEE operations only (no FMA, no table), so every machine, the vector paths
//! and the soft-float target produce the same bits.

/// `log2(e)`.
pub(crate) const LOG2E: f32 = core::f32::consts::LOG2_E;
/// High part of `ln 2` (9 significant bits: `n * LN2_HI` is exact for `|n| < 2^15`).
pub(crate) const LN2_HI: f32 = 0.693_359_4;
/// `ln 2 - LN2_HI`.
pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding and subtracting `1.5 * 2^23` rounds an `f32` below `2^22` to the nearest integer.
pub(crate) const ROUND_MAGIC: f32 = 12_582_912.0;
/// Taylor coefficients `1/i!` for `i = 7, 6, ..., 2` (then `1`, `1`): Horner order.
pub(crate) const EXP_POLY: [f32; 6] = [
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
];
/// Above this `exp` overflows to infinity.
pub(crate) const EXP_MAX: f32 = 88.722_84;
/// Below this `exp` underflows to zero.
pub(crate) const EXP_MIN: f32 = -103.972_08;

/// `e^r` for `|r| <= ln(2) / 2`: degree-7 Taylor polynomial (truncation below `6e-9`).
#[inline]
pub(crate) fn exp_poly(r: f32) -> f32 {
    let mut p = EXP_POLY[0];
    for c in &EXP_POLY[1..] {
        p = p * r + c;
    }
    p = p * r + 1.0;
    p * r + 1.0
}

/// `2^n` for `-126 <= n <= 127`.
#[inline]
pub(crate) fn pow2i(n: i32) -> f32 {
    debug_assert!((-126..=127).contains(&n));
    f32::from_bits(((n + 127) as u32) << 23)
}

/// `e^x` for `f32`, deterministic, relative error about `2e-7` over the whole range
/// (subnormal results included), `exp(NaN) = NaN`, `exp(-inf) = 0`, `exp(inf) = inf`.
///
/// `x = n ln 2 + r` with `n` the nearest integer to `x log2 e` and `r` computed in two
/// parts (Cody-Waite), then `e^x = 2^n e^r` with a polynomial for `e^r`.
pub fn exp_f32(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > EXP_MAX {
        return f32::INFINITY;
    }
    if x < EXP_MIN {
        return 0.0;
    }
    let nf = (x * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    let p = exp_poly(r);
    let n = nf as i32;
    if n > 127 {
        p * pow2i(127) * pow2i(n - 127)
    } else if n < -126 {
        p * pow2i(n + 100) * pow2i(-100)
    } else {
        p * pow2i(n)
    }
}

/// Natural logarithm for `f32`, deterministic, relative error about `2e-7`;
/// `ln(0) = -inf`, `ln(x < 0) = NaN`, `ln(inf) = inf`.
///
/// `x = 2^e m` with `m` in `[sqrt(1/2), sqrt(2))`, then `ln m = 2 atanh(s)` with
/// `s = (m - 1) / (m + 1)` (`|s| < 0.172`) by its odd series to `s^9`.
pub fn ln_f32(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return x;
    }
    let mut bits = x.to_bits();
    let mut e: i32 = 0;
    if bits < 0x0080_0000 {
        // Subnormal: scale into the normal range first.
        bits = (x * 8_388_608.0).to_bits();
        e = -23;
    }
    e += ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    if m > core::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let series = z * (1.0 / 3.0 + z * (1.0 / 5.0 + z * (1.0 / 7.0 + z * (1.0 / 9.0))));
    let two_s = s + s;
    let ln_m = two_s + two_s * series;
    let ef = e as f32;
    ef * LN2_HI + (ln_m + ef * LN2_LO)
}

/// Square root (Newton's method in `f64`); only model initialisation needs it.
pub(crate) fn sqrt_f32(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 || x == f32::INFINITY {
        return x;
    }
    let x = x as f64;
    // Halving the exponent gives a first guess within a factor of 2.
    let mut y = f64::from_bits((x.to_bits() >> 1) + (1023u64 << 51));
    for _ in 0..8 {
        y = 0.5 * (y + x / y);
    }
    y as f32
}

/// Rounds half away from zero and converts, saturating (`NaN` gives 0).
pub(crate) fn round_f32_to_i32(v: f32) -> i32 {
    round_f64_to_i64(v as f64).clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// Rounds half away from zero and converts, saturating (`NaN` gives 0).
pub(crate) fn round_f64_to_i64(v: f64) -> i64 {
    if v.is_nan() {
        return 0;
    }
    let a = v.abs();
    if a >= 9.0e18 {
        return if v < 0.0 { i64::MIN } else { i64::MAX };
    }
    let t = a as i64;
    // `a - t` is exact: both are within a factor of two of each other or `t` is 0.
    let r = if a - t as f64 >= 0.5 { t + 1 } else { t };
    if v < 0.0 { -r } else { r }
}

/// `x = q * 2^e` with `q` in `[0.5, 1)` for finite `x > 0` (normal or subnormal).
pub(crate) fn frexp_f64(x: f64) -> (f64, i32) {
    debug_assert!(x > 0.0 && x.is_finite());
    let (x, bias) = if x < f64::MIN_POSITIVE {
        (x * (1u64 << 54) as f64, -54)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i32 - 1022;
    let q = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1022u64 << 52));
    (q, e + bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!(round_f64_to_i64(0.5), 1);
        assert_eq!(round_f64_to_i64(-0.5), -1);
        assert_eq!(round_f64_to_i64(0.499_999_999_999_999_94), 0);
        assert_eq!(round_f64_to_i64(2.5), 3);
        assert_eq!(round_f64_to_i64(-2.4), -2);
        assert_eq!(round_f32_to_i32(0.499_999_97), 0);
        assert_eq!(round_f32_to_i32(1.0e20), i32::MAX);
        assert_eq!(round_f32_to_i32(f32::NAN), 0);
    }

    #[test]
    fn frexp() {
        assert_eq!(frexp_f64(1.0), (0.5, 1));
        assert_eq!(frexp_f64(0.75), (0.75, 0));
        assert_eq!(frexp_f64(3.0), (0.75, 2));
        let tiny = f64::from_bits(1);
        let (q, e) = frexp_f64(tiny);
        assert_eq!(q, 0.5);
        assert_eq!(e, -1073);
    }

    #[test]
    fn sqrt() {
        for &x in &[1.0f32, 2.0, 6.0, 0.01, 1e-30, 3e30] {
            let s = sqrt_f32(x) as f64;
            assert!((s * s / x as f64 - 1.0).abs() < 1e-6, "{x}");
        }
    }
}
