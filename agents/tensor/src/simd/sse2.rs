//! SSE2 kernels (compiled in when the target enables SSE2, so always safe to call).
//!
//! - `matmul_bt_f32`: one row of `a` against four rows of `bt` at a time, four 4-wide
//!   accumulators (one per output) sharing each load of `a`; leftover outputs use one
//!   dot product with four accumulators (16 elements per step).
//! - `matmul_f32`: broadcasts `a[i][p]` and accumulates `b[p][j..j + 16]` into four
//!   accumulators per block of 16 output columns (then 4, then scalar).
//! - `matmul_i8_i32`: sign-extends 16 bytes to two vectors of i16 (unpack with the
//!   `0 > x` mask) and multiplies-adds pairs with `_mm_madd_epi16` into i32 lanes; the
//!   products of two i8 are at most `2^14`, so the pair sums cannot overflow, and the
//!   wrapping i32 sums equal the scalar ones in any order.
//! - The convolutions: im2col, then the matrix product above.

use core::arch::x86_64::*;

use crate::conv::im2col;
use crate::math::{EXP_POLY, LN2_HI, LN2_LO, LOG2E, ROUND_MAGIC, exp_f32};
use crate::simd::add_channel_bias;
use crate::{Conv2dShape, check_bias, check_matmul, ln_f32, scalar};

#[target_feature(enable = "sse2")]
#[inline]
pub(crate) fn ld(c: &[f32; 4]) -> __m128 {
    // SAFETY: `c` is 16 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm_loadu_ps(c.as_ptr()) }
}

#[target_feature(enable = "sse2")]
#[inline]
fn st(c: &mut [f32; 4], v: __m128) {
    // SAFETY: `c` is 16 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm_storeu_ps(c.as_mut_ptr(), v) }
}

#[target_feature(enable = "sse2")]
#[inline]
pub(crate) fn ldi(c: &[i8; 16]) -> __m128i {
    // SAFETY: `c` is 16 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm_loadu_si128(c.as_ptr().cast()) }
}

/// Sum of the four lanes.
#[target_feature(enable = "sse2")]
#[inline]
pub(crate) fn hsum(v: __m128) -> f32 {
    let s = _mm_add_ps(v, _mm_movehl_ps(v, v));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s)))
}

/// Sum of the four i32 lanes (wrapping).
#[target_feature(enable = "sse2")]
#[inline]
pub(crate) fn hsum_i32(v: __m128i) -> i32 {
    let s = _mm_add_epi32(v, _mm_shuffle_epi32::<0b01_00_11_10>(v));
    _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32::<0b00_00_00_01>(s)))
}

/// The 16 bytes sign-extended to i16: (low 8, high 8).
#[target_feature(enable = "sse2")]
#[inline]
fn widen(v: __m128i) -> (__m128i, __m128i) {
    let sign = _mm_cmpgt_epi8(_mm_setzero_si128(), v);
    (_mm_unpacklo_epi8(v, sign), _mm_unpackhi_epi8(v, sign))
}

/// `[a · b0, a · b1, a · b2, a · b3]`, all slices of one length.
#[target_feature(enable = "sse2")]
#[inline]
fn dot4_f32(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    let (ac, at) = a.as_chunks::<4>();
    let (b0, t0) = b[0].as_chunks::<4>();
    let (b1, t1) = b[1].as_chunks::<4>();
    let (b2, t2) = b[2].as_chunks::<4>();
    let (b3, t3) = b[3].as_chunks::<4>();
    let mut s = [_mm_setzero_ps(); 4];
    for ((((x, y0), y1), y2), y3) in ac.iter().zip(b0).zip(b1).zip(b2).zip(b3) {
        let xv = ld(x);
        s[0] = _mm_add_ps(s[0], _mm_mul_ps(xv, ld(y0)));
        s[1] = _mm_add_ps(s[1], _mm_mul_ps(xv, ld(y1)));
        s[2] = _mm_add_ps(s[2], _mm_mul_ps(xv, ld(y2)));
        s[3] = _mm_add_ps(s[3], _mm_mul_ps(xv, ld(y3)));
    }
    let mut r = [hsum(s[0]), hsum(s[1]), hsum(s[2]), hsum(s[3])];
    for (i, &x) in at.iter().enumerate() {
        r[0] += x * t0[i];
        r[1] += x * t1[i];
        r[2] += x * t2[i];
        r[3] += x * t3[i];
    }
    r
}

/// `a · b`, slices of one length, four accumulators.
#[target_feature(enable = "sse2")]
#[inline]
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let (ac, at) = a.as_chunks::<16>();
    let (bc, bt) = b.as_chunks::<16>();
    let mut s = [_mm_setzero_ps(); 4];
    for (x, y) in ac.iter().zip(bc) {
        let (x, y) = (x.as_chunks::<4>().0, y.as_chunks::<4>().0);
        for q in 0..4 {
            s[q] = _mm_add_ps(s[q], _mm_mul_ps(ld(&x[q]), ld(&y[q])));
        }
    }
    let (a4, at) = at.as_chunks::<4>();
    let (b4, bt) = bt.as_chunks::<4>();
    for (x, y) in a4.iter().zip(b4) {
        s[0] = _mm_add_ps(s[0], _mm_mul_ps(ld(x), ld(y)));
    }
    let v = _mm_add_ps(_mm_add_ps(s[0], s[1]), _mm_add_ps(s[2], s[3]));
    let mut r = hsum(v);
    for (&x, &y) in at.iter().zip(bt) {
        r += x * y;
    }
    r
}

/// [`scalar::matmul_bt_f32`] with SSE2.
pub fn matmul_bt_f32(a: &[f32], bt: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    // SAFETY: SSE2 is enabled at compile time (this module is compiled only then).
    unsafe { matmul_bt_f32_imp(a, bt, out, m, k, n) }
}

#[target_feature(enable = "sse2")]
fn matmul_bt_f32_imp(a: &[f32], bt: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    check_matmul(a.len(), bt.len(), out.len(), m, k, n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    for (arow, orow) in a.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        let (quads, rest) = orow.as_chunks_mut::<4>();
        let mut rows = bt.chunks_exact(k);
        for q in quads {
            let mut next = || rows.next().unwrap_or_default();
            let b = [next(), next(), next(), next()];
            *q = dot4_f32(arow, b);
        }
        for (o, brow) in rest.iter_mut().zip(rows) {
            *o = dot_f32(arow, brow);
        }
    }
}

/// [`scalar::matmul_f32`] with SSE2.
pub fn matmul_f32(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    // SAFETY: SSE2 is enabled at compile time (this module is compiled only then).
    unsafe { matmul_f32_imp(a, b, out, m, k, n) }
}

#[target_feature(enable = "sse2")]
fn matmul_f32_imp(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    check_matmul(a.len(), b.len(), out.len(), m, k, n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    for (arow, orow) in a.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        let mut j = 0;
        while j + 16 <= n {
            let mut s = [_mm_setzero_ps(); 4];
            for (&av, brow) in arow.iter().zip(b.chunks_exact(n)) {
                let x = _mm_set1_ps(av);
                let q = brow[j..j + 16].as_chunks::<4>().0;
                for t in 0..4 {
                    s[t] = _mm_add_ps(s[t], _mm_mul_ps(x, ld(&q[t])));
                }
            }
            let oq = orow[j..j + 16].as_chunks_mut::<4>().0;
            for t in 0..4 {
                st(&mut oq[t], s[t]);
            }
            j += 16;
        }
        while j + 4 <= n {
            let mut s = _mm_setzero_ps();
            for (&av, brow) in arow.iter().zip(b.chunks_exact(n)) {
                let blk = &brow[j..j + 4].as_chunks::<4>().0[0];
                s = _mm_add_ps(s, _mm_mul_ps(_mm_set1_ps(av), ld(blk)));
            }
            st(&mut orow[j..j + 4].as_chunks_mut::<4>().0[0], s);
            j += 4;
        }
        for jj in j..n {
            let mut acc = 0.0f32;
            for (&av, brow) in arow.iter().zip(b.chunks_exact(n)) {
                acc += av * brow[jj];
            }
            orow[jj] = acc;
        }
    }
}

/// `[a · b0, ..., a · b3]` in int8 with i32 accumulation, slices of one length.
#[target_feature(enable = "sse2")]
#[inline]
fn dot4_i8(a: &[i8], b: [&[i8]; 4]) -> [i32; 4] {
    let (ac, at) = a.as_chunks::<16>();
    let bc = [
        b[0].as_chunks::<16>(),
        b[1].as_chunks::<16>(),
        b[2].as_chunks::<16>(),
        b[3].as_chunks::<16>(),
    ];
    let mut s = [_mm_setzero_si128(); 4];
    for (c, x) in ac.iter().enumerate() {
        let (xl, xh) = widen(ldi(x));
        for r in 0..4 {
            let (yl, yh) = widen(ldi(&bc[r].0[c]));
            let p = _mm_add_epi32(_mm_madd_epi16(xl, yl), _mm_madd_epi16(xh, yh));
            s[r] = _mm_add_epi32(s[r], p);
        }
    }
    let mut out = [0i32; 4];
    for r in 0..4 {
        let mut acc = hsum_i32(s[r]);
        for (&x, &y) in at.iter().zip(bc[r].1) {
            acc = acc.wrapping_add(i32::from(x) * i32::from(y));
        }
        out[r] = acc;
    }
    out
}

/// `a · b` in int8 with i32 accumulation, two accumulators.
#[target_feature(enable = "sse2")]
#[inline]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let (ac, at) = a.as_chunks::<16>();
    let (bc, bt) = b.as_chunks::<16>();
    let mut s0 = _mm_setzero_si128();
    let mut s1 = _mm_setzero_si128();
    for (x, y) in ac.iter().zip(bc) {
        let (xl, xh) = widen(ldi(x));
        let (yl, yh) = widen(ldi(y));
        s0 = _mm_add_epi32(s0, _mm_madd_epi16(xl, yl));
        s1 = _mm_add_epi32(s1, _mm_madd_epi16(xh, yh));
    }
    let mut acc = hsum_i32(_mm_add_epi32(s0, s1));
    for (&x, &y) in at.iter().zip(bt) {
        acc = acc.wrapping_add(i32::from(x) * i32::from(y));
    }
    acc
}

/// [`scalar::matmul_i8_i32`] with SSE2 (bit-identical).
pub fn matmul_i8_i32(a: &[i8], bt: &[i8], out: &mut [i32], m: usize, k: usize, n: usize) {
    // SAFETY: SSE2 is enabled at compile time (this module is compiled only then).
    unsafe { matmul_i8_i32_imp(a, bt, out, m, k, n) }
}

#[target_feature(enable = "sse2")]
fn matmul_i8_i32_imp(a: &[i8], bt: &[i8], out: &mut [i32], m: usize, k: usize, n: usize) {
    check_matmul(a.len(), bt.len(), out.len(), m, k, n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0);
        return;
    }
    for (arow, orow) in a.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        let (quads, rest) = orow.as_chunks_mut::<4>();
        let mut rows = bt.chunks_exact(k);
        for q in quads {
            let mut next = || rows.next().unwrap_or_default();
            let b = [next(), next(), next(), next()];
            *q = dot4_i8(arow, b);
        }
        for (o, brow) in rest.iter_mut().zip(rows) {
            *o = dot_i8(arow, brow);
        }
    }
}

/// [`scalar::conv2d_f32`] as im2col + [`matmul_bt_f32`].
pub fn conv2d_f32(
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    shape: &Conv2dShape,
    out: &mut [f32],
) {
    shape.check(input.len(), weights.len(), bias.len(), out.len());
    let patches = im2col(input, shape);
    let positions = shape.out_h() * shape.out_w();
    matmul_bt_f32(
        weights,
        &patches,
        out,
        shape.c_out,
        shape.patch_len(),
        positions,
    );
    add_channel_bias(out, bias, |o, b| o + b);
}

/// [`scalar::conv2d_i8`] as im2col + [`matmul_i8_i32`] (bit-identical).
pub fn conv2d_i8(input: &[i8], weights: &[i8], bias: &[i32], shape: &Conv2dShape, out: &mut [i32]) {
    shape.check(input.len(), weights.len(), bias.len(), out.len());
    let patches = im2col(input, shape);
    let positions = shape.out_h() * shape.out_w();
    matmul_i8_i32(
        weights,
        &patches,
        out,
        shape.c_out,
        shape.patch_len(),
        positions,
    );
    add_channel_bias(out, bias, i32::wrapping_add);
}

/// [`scalar::add_bias_f32`] with SSE2 (bit-identical).
pub fn add_bias_f32(x: &mut [f32], bias: &[f32]) {
    // SAFETY: SSE2 is enabled at compile time (this module is compiled only then).
    unsafe { add_bias_f32_imp(x, bias) }
}

#[target_feature(enable = "sse2")]
fn add_bias_f32_imp(x: &mut [f32], bias: &[f32]) {
    check_bias(x.len(), bias.len());
    if bias.is_empty() {
        return;
    }
    let (bq, bt) = bias.as_chunks::<4>();
    for row in x.chunks_exact_mut(bias.len()) {
        let (xq, xt) = row.as_chunks_mut::<4>();
        for (v, b) in xq.iter_mut().zip(bq) {
            let s = _mm_add_ps(ld(v), ld(b));
            st(v, s);
        }
        for (v, &b) in xt.iter_mut().zip(bt) {
            *v += b;
        }
    }
}

/// [`scalar::relu_f32`] with SSE2 (bit-identical: `maxps` returns its second operand,
/// 0, for NaN and for -0).
pub fn relu_f32(x: &mut [f32]) {
    // SAFETY: SSE2 is enabled at compile time (this module is compiled only then).
    unsafe { relu_f32_imp(x) }
}

#[target_feature(enable = "sse2")]
fn relu_f32_imp(x: &mut [f32]) {
    let (xq, xt) = x.as_chunks_mut::<4>();
    let zero = _mm_setzero_ps();
    for v in xq {
        let r = _mm_max_ps(ld(v), zero);
        st(v, r);
    }
    scalar::relu_f32(xt);
}

/// Lower limit of [`exp4`]: `2^n` stays a normal number.
const EXP4_MIN: f32 = -87.0;
/// Upper limit of [`exp4`].
const EXP4_MAX: f32 = 88.0;

/// Four [`exp_f32`]s: the same operations in the same order, so the same bits for
/// `x` in `[-87, 88]`; below that 0 (the scalar function gives at most `2e-38` there),
/// above it clamped (only ever called with `x <= 0`).
#[target_feature(enable = "sse2")]
#[inline]
fn exp4(x: __m128) -> __m128 {
    let keep = _mm_cmpge_ps(x, _mm_set1_ps(EXP4_MIN));
    let x = _mm_min_ps(_mm_max_ps(x, _mm_set1_ps(EXP4_MIN)), _mm_set1_ps(EXP4_MAX));
    let magic = _mm_set1_ps(ROUND_MAGIC);
    let nf = _mm_sub_ps(_mm_add_ps(_mm_mul_ps(x, _mm_set1_ps(LOG2E)), magic), magic);
    let r = _mm_sub_ps(
        _mm_sub_ps(x, _mm_mul_ps(nf, _mm_set1_ps(LN2_HI))),
        _mm_mul_ps(nf, _mm_set1_ps(LN2_LO)),
    );
    let mut p = _mm_set1_ps(EXP_POLY[0]);
    for &c in &EXP_POLY[1..] {
        p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(c));
    }
    let one = _mm_set1_ps(1.0);
    p = _mm_add_ps(_mm_mul_ps(p, r), one);
    p = _mm_add_ps(_mm_mul_ps(p, r), one);
    let n = _mm_cvtps_epi32(nf);
    let scale = _mm_castsi128_ps(_mm_slli_epi32::<23>(_mm_add_epi32(n, _mm_set1_epi32(127))));
    _mm_and_ps(_mm_mul_ps(p, scale), keep)
}

/// `sum exp(x - max)` (the partition function of a softmax), 4 lanes then scalar.
#[target_feature(enable = "sse2")]
fn sum_exp(x: &[f32], max: f32) -> f32 {
    let (xq, xt) = x.as_chunks::<4>();
    let mv = _mm_set1_ps(max);
    let mut s = _mm_setzero_ps();
    for v in xq {
        s = _mm_add_ps(s, exp4(_mm_sub_ps(ld(v), mv)));
    }
    let mut sum = hsum(s);
    for &v in xt {
        sum += exp_f32(v - max);
    }
    sum
}

/// [`scalar::softmax_f32`] with a 4-wide `exp`.
pub fn softmax_f32(x: &mut [f32]) {
    // SAFETY: SSE2 is enabled at compile time (this module is compiled only then).
    unsafe { softmax_f32_imp(x) }
}

#[target_feature(enable = "sse2")]
fn softmax_f32_imp(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let max = x[scalar::argmax_f32(x)];
    let mv = _mm_set1_ps(max);
    let (xq, xt) = x.as_chunks_mut::<4>();
    let mut s = _mm_setzero_ps();
    for v in xq.iter_mut() {
        let e = exp4(_mm_sub_ps(ld(v), mv));
        st(v, e);
        s = _mm_add_ps(s, e);
    }
    let mut sum = hsum(s);
    for v in xt.iter_mut() {
        *v = exp_f32(*v - max);
        sum += *v;
    }
    let inv = _mm_set1_ps(1.0 / sum);
    for v in xq {
        let r = _mm_mul_ps(ld(v), inv);
        st(v, r);
    }
    for v in xt {
        *v *= 1.0 / sum;
    }
}

/// [`scalar::cross_entropy`] with a 4-wide `exp`.
///
/// # Panics
/// If `label >= logits.len()`.
pub fn cross_entropy(logits: &[f32], label: usize) -> f32 {
    // SAFETY: SSE2 is enabled at compile time (this module is compiled only then).
    unsafe { cross_entropy_imp(logits, label) }
}

#[target_feature(enable = "sse2")]
fn cross_entropy_imp(logits: &[f32], label: usize) -> f32 {
    assert!(label < logits.len(), "cross_entropy: label out of range");
    let max = logits[scalar::argmax_f32(logits)];
    ln_f32(sum_exp(logits, max)) + (max - logits[label])
}
