//! Scalar reference kernels: plain loops in a fixed summation order.
//!
//! These define the results the vector paths in [`crate::simd`] are tested against.
//! Every kernel panics if a slice length does not match its shape arguments.

use crate::math::exp_f32;
use crate::{Conv2dShape, check_bias, check_matmul, ln_f32};

/// `out[m * n] = a[m * k] · b[k * n]`, each output summed over `p = 0..k` in order.
///
/// # Panics
/// If `a.len() != m * k`, `b.len() != k * n` or `out.len() != m * n`.
pub fn matmul_f32(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    check_matmul(a.len(), b.len(), out.len(), m, k, n);
    for i in 0..m {
        let arow = &a[i * k..][..k];
        let orow = &mut out[i * n..][..n];
        for (j, o) in orow.iter_mut().enumerate() {
            let mut acc = 0.0f32;
            for (p, &av) in arow.iter().enumerate() {
                acc += av * b[p * n + j];
            }
            *o = acc;
        }
    }
}

/// `out[m * n] = a[m * k] · btᵀ` with `bt[n * k]` (row `j` of `bt` is column `j` of `b`).
///
/// # Panics
/// If `a.len() != m * k`, `bt.len() != n * k` or `out.len() != m * n`.
pub fn matmul_bt_f32(a: &[f32], bt: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    check_matmul(a.len(), bt.len(), out.len(), m, k, n);
    for i in 0..m {
        let arow = &a[i * k..][..k];
        for j in 0..n {
            let brow = &bt[j * k..][..k];
            let mut acc = 0.0f32;
            for (&x, &y) in arow.iter().zip(brow) {
                acc += x * y;
            }
            out[i * n + j] = acc;
        }
    }
}

/// Adds `bias` to every row of `x`.
///
/// # Panics
/// If `x.len()` is not a multiple of `bias.len()` (an empty `bias` needs an empty `x`).
pub fn add_bias_f32(x: &mut [f32], bias: &[f32]) {
    check_bias(x.len(), bias.len());
    if bias.is_empty() {
        return;
    }
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// `x = max(x, 0)` element-wise (NaN becomes 0).
pub fn relu_f32(x: &mut [f32]) {
    for v in x {
        if v.is_nan() || *v <= 0.0 {
            *v = 0.0;
        }
    }
}

/// Softmax of one row in place: `exp(x - max) / sum`. An empty row is left alone.
pub fn softmax_f32(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let max = x[argmax_f32(x)];
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = exp_f32(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Index of the largest element, the first of equal maxima; 0 for an empty slice.
/// NaN never compares larger (a NaN at index 0 makes the result 0).
pub fn argmax_f32(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate().skip(1) {
        if v > x[best] {
            best = i;
        }
    }
    best
}

/// Index of the largest element, the first of equal maxima; 0 for an empty slice.
pub fn argmax_i32(x: &[i32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate().skip(1) {
        if v > x[best] {
            best = i;
        }
    }
    best
}

/// Softmax cross-entropy of one sample: `ln(sum exp(logits - max)) + max - logits[label]`.
///
/// # Panics
/// If `label >= logits.len()`.
pub fn cross_entropy(logits: &[f32], label: usize) -> f32 {
    assert!(label < logits.len(), "cross_entropy: label out of range");
    let max = logits[argmax_f32(logits)];
    let mut sum = 0.0f32;
    for &v in logits {
        sum += exp_f32(v - max);
    }
    ln_f32(sum) + (max - logits[label])
}

/// Direct 2-D convolution of one NCHW image; each output is `bias + sum` over
/// `(ci, ky, kx)` in that order, with zero padding.
///
/// # Panics
/// If `shape` is invalid ([`Conv2dShape::validate`]) or a slice length does not match.
pub fn conv2d_f32(
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    shape: &Conv2dShape,
    out: &mut [f32],
) {
    shape.check(input.len(), weights.len(), bias.len(), out.len());
    conv_direct(
        input,
        weights,
        shape,
        out,
        0.0f32,
        |acc, x, w| acc + x * w,
        |o, c| *o += bias[c],
    );
}

/// Direct 2-D convolution of one NCHW int8 image with exact (wrapping) i32
/// accumulation; zero padding (the zero point of symmetric quantization).
///
/// # Panics
/// If `shape` is invalid ([`Conv2dShape::validate`]) or a slice length does not match.
pub fn conv2d_i8(input: &[i8], weights: &[i8], bias: &[i32], shape: &Conv2dShape, out: &mut [i32]) {
    shape.check(input.len(), weights.len(), bias.len(), out.len());
    conv_direct(
        input,
        weights,
        shape,
        out,
        0i32,
        |acc, x, w| acc.wrapping_add(i32::from(x) * i32::from(w)),
        |o, c| *o = o.wrapping_add(bias[c]),
    );
}

/// The loops of the direct convolution, generic over the element types.
fn conv_direct<T: Copy, A: Copy>(
    input: &[T],
    weights: &[T],
    s: &Conv2dShape,
    out: &mut [A],
    zero: A,
    mac: impl Fn(A, T, T) -> A,
    add_bias: impl Fn(&mut A, usize),
) {
    let (oh, ow) = (s.out_h(), s.out_w());
    for co in 0..s.c_out {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = zero;
                for ci in 0..s.c_in {
                    for ky in 0..s.kh {
                        // Input row, skipped when it falls in the padding.
                        let Some(iy) = (oy * s.stride + ky).checked_sub(s.pad) else {
                            continue;
                        };
                        if iy >= s.h {
                            continue;
                        }
                        for kx in 0..s.kw {
                            let Some(ix) = (ox * s.stride + kx).checked_sub(s.pad) else {
                                continue;
                            };
                            if ix >= s.w {
                                continue;
                            }
                            let x = input[(ci * s.h + iy) * s.w + ix];
                            let w = weights[((co * s.c_in + ci) * s.kh + ky) * s.kw + kx];
                            acc = mac(acc, x, w);
                        }
                    }
                }
                let o = &mut out[(co * oh + oy) * ow + ox];
                *o = acc;
                add_bias(o, co);
            }
        }
    }
}

/// `out[m * n] = a[m * k] · btᵀ` in int8, `bt[n * k]`, exact i32 accumulation (wrapping
/// on overflow, which needs `k >= 131072`).
///
/// # Panics
/// If `a.len() != m * k`, `bt.len() != n * k` or `out.len() != m * n`.
pub fn matmul_i8_i32(a: &[i8], bt: &[i8], out: &mut [i32], m: usize, k: usize, n: usize) {
    check_matmul(a.len(), bt.len(), out.len(), m, k, n);
    for i in 0..m {
        let arow = &a[i * k..][..k];
        for j in 0..n {
            let brow = &bt[j * k..][..k];
            let mut acc = 0i32;
            for (&x, &y) in arow.iter().zip(brow) {
                acc = acc.wrapping_add(i32::from(x) * i32::from(y));
            }
            out[i * n + j] = acc;
        }
    }
}
