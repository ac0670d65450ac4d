//! Vector kernels through `core::arch::x86_64`, with the signatures of [`crate::scalar`].
//!
//! Each function here picks the best path for this machine:
//! - AVX2 + FMA ([`avx2`]) for the matrix products and the convolutions when
//!   [`crate::features`] reports both (run-time CPUID/XGETBV check, cached);
//! - otherwise SSE2 ([`sse2`]), compiled in whenever the target enables SSE2
//!   (`cfg(target_feature = "sse2")`: the host and the hard-float agent target);
//! - otherwise (the soft-float kernel target, other architectures) the scalar reference.
//!
//! The element-wise kernels (bias, ReLU, softmax, cross-entropy) have SSE2 versions
//! only: they are memory bound and tiny next to the matrix products. `argmax_*` is the
//! scalar loop everywhere (a handful of logits; a vector version would have to repeat
//! the scalar NaN and first-maximum rules for no gain).
//!
//! Float results differ from the reference only by rounding (other summation order,
//! FMA); integer results are bit-identical on every path.

use crate::{Conv2dShape, scalar};

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub mod avx2;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub mod sse2;

/// Whether the AVX2 + FMA paths may run on this machine.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn use_avx2() -> bool {
    let f = crate::features();
    f.avx2 && f.fma
}

/// AVX2 + FMA if detected, else SSE2, else scalar.
macro_rules! best {
    ($name:ident($($arg:expr),*)) => {{
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            if use_avx2() {
                // SAFETY: `use_avx2` checked CPUID (AVX2, FMA, OSXSAVE) and XCR0 (the OS
                // saves the YMM state), which is all the `avx2` functions require.
                unsafe { avx2::$name($($arg),*) }
            } else {
                sse2::$name($($arg),*)
            }
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            scalar::$name($($arg),*)
        }
    }};
}

/// SSE2 if compiled in, else scalar.
macro_rules! sse {
    ($name:ident($($arg:expr),*)) => {{
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            sse2::$name($($arg),*)
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            scalar::$name($($arg),*)
        }
    }};
}

/// [`scalar::matmul_f32`] on the best vector path.
pub fn matmul_f32(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    best!(matmul_f32(a, b, out, m, k, n))
}

/// [`scalar::matmul_bt_f32`] on the best vector path.
pub fn matmul_bt_f32(a: &[f32], bt: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
    best!(matmul_bt_f32(a, bt, out, m, k, n))
}

/// [`scalar::matmul_i8_i32`] on the best vector path (bit-identical).
pub fn matmul_i8_i32(a: &[i8], bt: &[i8], out: &mut [i32], m: usize, k: usize, n: usize) {
    best!(matmul_i8_i32(a, bt, out, m, k, n))
}

/// [`scalar::conv2d_f32`] as im2col + the best vector `matmul_bt_f32`.
pub fn conv2d_f32(
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    shape: &Conv2dShape,
    out: &mut [f32],
) {
    best!(conv2d_f32(input, weights, bias, shape, out))
}

/// [`scalar::conv2d_i8`] as im2col + the best vector `matmul_i8_i32` (bit-identical).
pub fn conv2d_i8(input: &[i8], weights: &[i8], bias: &[i32], shape: &Conv2dShape, out: &mut [i32]) {
    best!(conv2d_i8(input, weights, bias, shape, out))
}

/// [`scalar::add_bias_f32`] with SSE2.
pub fn add_bias_f32(x: &mut [f32], bias: &[f32]) {
    sse!(add_bias_f32(x, bias))
}

/// [`scalar::relu_f32`] with SSE2 (bit-identical, NaN becomes 0 too).
pub fn relu_f32(x: &mut [f32]) {
    sse!(relu_f32(x))
}

/// [`scalar::softmax_f32`] with a 4-wide `exp` (the same polynomial as [`crate::exp_f32`]).
pub fn softmax_f32(x: &mut [f32]) {
    sse!(softmax_f32(x))
}

/// [`scalar::cross_entropy`] with a 4-wide `exp`.
pub fn cross_entropy(logits: &[f32], label: usize) -> f32 {
    sse!(cross_entropy(logits, label))
}

/// [`scalar::argmax_f32`] (the scalar loop on every path).
pub fn argmax_f32(x: &[f32]) -> usize {
    scalar::argmax_f32(x)
}

/// [`scalar::argmax_i32`] (the scalar loop on every path).
pub fn argmax_i32(x: &[i32]) -> usize {
    scalar::argmax_i32(x)
}

/// Adds `bias[c]` to row `c` of `out` (rows of `out.len() / bias.len()`): the
/// per-channel bias of a convolution computed as `[c_out][positions]`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub(crate) fn add_channel_bias<A: Copy>(out: &mut [A], bias: &[A], add: impl Fn(A, A) -> A) {
    if bias.is_empty() {
        return;
    }
    let row = out.len() / bias.len();
    if row == 0 {
        return;
    }
    for (orow, &b) in out.chunks_exact_mut(row).zip(bias) {
        for o in orow {
            *o = add(*o, b);
        }
    }
}
