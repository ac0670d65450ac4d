//! The scalar reference of every op: what a backend's results are checked against.
//!
//! - `MatmulI8`: a backend must equal [`matmul_i8`] bit for bit (integer sums do not
//!   depend on their order; accumulation wraps in `i32` in both).
//! - `MatmulF32`: a backend may sum in another order and fuse multiply-adds, so it
//!   must lie within a tolerance of [`matmul_f32`] element by element
//!   ([`first_f32_mismatch`] checks it): the classic bound for a length-`k` dot
//!   product, `|c - c_ref| <= 2 k eps sum_p |a_ip b_pj|` (`eps` = [`f32::EPSILON`];
//!   both results carry rounding, hence [`F32_TOLERANCE_FACTOR`] = 2), plus
//!   [`f32::MIN_POSITIVE`] for products in the subnormal range.
//!
//! Operands are row-major: `A[i][p]` is `a[i * k + p]`. The functions check every
//! length first and return [`ShapeMismatch`] instead of indexing out of range.

/// The lengths of `a`, `b` or `c` do not match the shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeMismatch;

/// A matmul shape: `C[m x n] = A[m x k] * B[k x n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Rows of A and C.
    pub m: usize,
    /// Columns of A, rows of B.
    pub k: usize,
    /// Columns of B and C.
    pub n: usize,
}

impl Shape {
    /// Returns the element counts of A, B and C, or `None` if one overflows `usize`.
    pub fn lengths(&self) -> Option<[usize; 3]> {
        Some([
            self.m.checked_mul(self.k)?,
            self.k.checked_mul(self.n)?,
            self.m.checked_mul(self.n)?,
        ])
    }

    /// Returns `Ok` if the three slice lengths are the shape's.
    pub fn check(&self, a: usize, b: usize, c: usize) -> Result<(), ShapeMismatch> {
        match self.lengths() {
            Some(lengths) if lengths == [a, b, c] => Ok(()),
            _ => Err(ShapeMismatch),
        }
    }
}

/// Computes `c = a * b` in `f32`, summing `p = 0..k` in order with separate
/// multiply and add.
pub fn matmul_f32(shape: Shape, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<(), ShapeMismatch> {
    shape.check(a.len(), b.len(), c.len())?;
    let Shape { k, n, .. } = shape;
    if n == 0 {
        return Ok(());
    }
    for (i, row) in c.chunks_exact_mut(n).enumerate() {
        for (j, out) in row.iter_mut().enumerate() {
            let mut sum = 0.0f32;
            for p in 0..k {
                sum += a[i * k + p] * b[p * n + j];
            }
            *out = sum;
        }
    }
    Ok(())
}

/// Computes `c = a * b` with `i8` inputs and wrapping `i32` accumulation.
pub fn matmul_i8(shape: Shape, a: &[i8], b: &[i8], c: &mut [i32]) -> Result<(), ShapeMismatch> {
    shape.check(a.len(), b.len(), c.len())?;
    let Shape { k, n, .. } = shape;
    if n == 0 {
        return Ok(());
    }
    for (i, row) in c.chunks_exact_mut(n).enumerate() {
        for (j, out) in row.iter_mut().enumerate() {
            let mut sum = 0i32;
            for p in 0..k {
                sum = sum.wrapping_add(i32::from(a[i * k + p]) * i32::from(b[p * n + j]));
            }
            *out = sum;
        }
    }
    Ok(())
}

/// The factor of the `f32` tolerance: `|c - c_ref| <= F32_TOLERANCE_FACTOR * k * eps *
/// sum_p |a_ip b_pj| + f32::MIN_POSITIVE`.
pub const F32_TOLERANCE_FACTOR: f32 = 2.0;

/// Returns the index of the first element of `actual` that is not within the `f32`
/// tolerance of the reference, or `None` if every element is. A NaN matches only a
/// NaN, an infinity only the same infinity. `Err` if the lengths do not match.
pub fn first_f32_mismatch(
    shape: Shape,
    a: &[f32],
    b: &[f32],
    actual: &[f32],
) -> Result<Option<usize>, ShapeMismatch> {
    shape.check(a.len(), b.len(), actual.len())?;
    let Shape { m, k, n } = shape;
    let scale = F32_TOLERANCE_FACTOR * k as f32 * f32::EPSILON;
    for i in 0..m {
        for j in 0..n {
            let mut expected = 0.0f32;
            let mut magnitude = 0.0f32;
            for p in 0..k {
                let product = a[i * k + p] * b[p * n + j];
                expected += product;
                magnitude += product.abs();
            }
            let got = actual[i * n + j];
            let close = got == expected
                || (got.is_nan() && expected.is_nan())
                || (got - expected).abs() <= scale * magnitude + f32::MIN_POSITIVE;
            if !close {
                return Ok(Some(i * n + j));
            }
        }
    }
    Ok(None)
}

/// `round(a * b / 2^31)` with ties away from zero, saturating the one overflow
/// (`i32::MIN * i32::MIN`): gemmlowp's `SaturatingRoundingDoublingHighMul`.
fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge = if ab >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `round(x / 2^exponent)` with ties away from zero: gemmlowp's `RoundingDivideByPOT`.
fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    let x = i64::from(x);
    let mask = (1i64 << exponent) - 1;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i64::from(x < 0);
    ((x >> exponent) + i64::from(remainder > threshold)) as i32
}

/// `round(acc * M)` for the fixed-point multiplier `M = multiplier * 2^(shift - 31)`,
/// integers only: TFLite's `MultiplyByQuantizedMultiplier` (a left shift by
/// `max(shift, 0)`, the saturating rounding doubling high multiply, a rounding right
/// shift by `max(-shift, 0)`, clamped to 31). Where TFLite's 32-bit left shift would
/// overflow (`M > 1` and a large `acc`), the product is taken in wider integers and
/// the result saturates to the `i32` range instead. The requantization of an int8
/// layer's accumulators, the same bits in the agents' runtime, the kernel and the
/// backend.
pub fn requantize(acc: i32, multiplier: i32, shift: i32) -> i32 {
    if shift > 0 {
        let x = i64::from(acc) << shift.min(31);
        if let Ok(x) = i32::try_from(x) {
            return saturating_rounding_doubling_high_mul(x, multiplier);
        }
        let ab = i128::from(x) * i128::from(multiplier);
        let nudge = if ab >= 0 {
            1i128 << 30
        } else {
            1 - (1i128 << 30)
        };
        let r = (ab + nudge) / (1i128 << 31);
        return r.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32;
    }
    let right = (-shift).min(31) as u32;
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(acc, multiplier),
        right,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_mul_and_shift() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
    }

    const SHAPE: Shape = Shape { m: 2, k: 3, n: 2 };
    const A: [i8; 6] = [1, -2, 3, -128, 127, 0];
    const B: [i8; 6] = [4, 5, -6, 7, -128, -128];

    #[test]
    fn int8_matches_a_hand_computed_product() {
        let mut c = [0i32; 4];
        matmul_i8(SHAPE, &A, &B, &mut c).unwrap();
        // Row 0: [1*4 + -2*-6 + 3*-128, 1*5 + -2*7 + 3*-128]
        // Row 1: [-128*4 + 127*-6 + 0, -128*5 + 127*7 + 0]
        assert_eq!(c, [-368, -393, -1274, 249]);
    }

    #[test]
    fn f32_matches_the_int8_product_of_the_same_numbers() {
        let a = A.map(f32::from);
        let b = B.map(f32::from);
        let mut c = [0.0f32; 4];
        matmul_f32(SHAPE, &a, &b, &mut c).unwrap();
        assert_eq!(c, [-368.0, -393.0, -1274.0, 249.0]);
        assert_eq!(first_f32_mismatch(SHAPE, &a, &b, &c), Ok(None));
        let mut off = c;
        off[3] += 1.0;
        assert_eq!(first_f32_mismatch(SHAPE, &a, &b, &off), Ok(Some(3)));
        off[3] = f32::NAN;
        assert_eq!(first_f32_mismatch(SHAPE, &a, &b, &off), Ok(Some(3)));
    }

    #[test]
    fn the_tolerance_admits_reordered_sums_only() {
        // 1 + 2^-24 + 2^-24 summed left to right gives 1, right to left 1 + 2^-23.
        let shape = Shape { m: 1, k: 3, n: 1 };
        let a = [1.0, f32::EPSILON / 2.0, f32::EPSILON / 2.0];
        let b = [1.0; 3];
        let reordered = [1.0 + f32::EPSILON];
        assert_eq!(first_f32_mismatch(shape, &a, &b, &reordered), Ok(None));
        let wrong = [1.0 + 16.0 * f32::EPSILON];
        assert_eq!(first_f32_mismatch(shape, &a, &b, &wrong), Ok(Some(0)));
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let mut c = [0i32; 3];
        assert_eq!(matmul_i8(SHAPE, &A, &B, &mut c), Err(ShapeMismatch));
        let mut c = [0.0f32; 4];
        assert_eq!(
            matmul_f32(SHAPE, &[0.0; 5], &[0.0; 6], &mut c),
            Err(ShapeMismatch)
        );
        let huge = Shape {
            m: usize::MAX,
            k: 2,
            n: 1,
        };
        assert_eq!(huge.lengths(), None);
        assert_eq!(first_f32_mismatch(huge, &[], &[], &[]), Err(ShapeMismatch));
        // Empty shapes are fine.
        let empty = Shape { m: 0, k: 5, n: 0 };
        assert_eq!(matmul_f32(empty, &[], &[], &mut []), Ok(()));
    }
}
