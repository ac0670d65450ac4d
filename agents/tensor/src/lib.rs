//! Small tensor kernels and multilayer perceptrons for agent programs.
//!
//! `no_std` with `alloc`, no dependencies. The crate is built on the host (tests, the
//! build tool) and for the ring-3 agent target (hard-float, `+sse,+sse2`, no AVX at
//! compile time), and it must also build for the soft-float `x86_64-unknown-none`.
//!
//! # Layout
//! Every tensor is a flat, row-major `f32`, `i8` or `i32` slice; the shape travels as
//! plain `usize` arguments (or a [`Conv2dShape`]). A matrix product's `b` operand can be
//! given transposed (`bt[n * k]`, the `_bt` kernels): that is how weights are stored,
//! one output unit per row, so every output element is a contiguous dot product.
//!
//! # Three tiers of kernels
//! - [`scalar`]: the reference versions, plain loops in a fixed summation order.
//! - [`simd`]: the same signatures through `core::arch::x86_64`. SSE2 is the baseline
//!   whenever the target enables it at compile time (`cfg(target_feature = "sse2")`);
//!   the matrix products (and the convolutions, which run as im2col + matrix product)
//!   also have AVX2 + FMA paths chosen at run time from a hand-written CPUID/XGETBV check
//!   ([`features`]). On targets without SSE2 (the soft-float kernel target) every
//!   [`simd`] function is the [`scalar`] one. The explicit paths are public too
//!   ([`simd::sse2`], [`simd::avx2`]) so tests and benches can compare each with the
//!   reference.
//! - The crate-level functions ([`matmul_f32`], [`softmax_f32`], ...) dispatch: the
//!   [`simd`] version unless [`force_scalar`] is switched on.
//!
//! Integer kernels (`matmul_i8_i32`, `conv2d_i8`) are exact: every path gives the same
//! bits (i32 accumulation wraps on overflow, identically everywhere; it cannot overflow
//! while `k * 128 * 128 < 2^31`, i.e. for `k < 131072`). Float kernels agree with the
//! reference up to rounding: the vector paths sum in a different order, and the FMA
//! path rounds once per multiply-add.
//!
//! # Math without libm
//! `core` has no `exp`, `ln` or `sqrt` for `f32`. [`exp_f32`] and [`ln_f32`] are
//! implemented here with range reduction and short polynomials in plain IEEE arithmetic
//! (no FMA contraction in Rust), so they give the same bits on every machine and on the
//! soft-float target; relative error is about `2e-7`.
//!
//! # Models
//! [`Mlp`] is a float multilayer perceptron (ReLU between layers, logits out) trained
//! by minibatch SGD on softmax cross-entropy with a hand-written backward pass
//! ([`Mlp::train_epoch`]). [`QuantMlp`] is its post-training int8 quantization
//! (per-tensor symmetric weights, calibrated activation scales, fixed-point
//! requantization by a [`Requant`] multiplier as in gemmlowp/TFLite); its
//! [`QuantMlp::forward`] is integer only and therefore bit-identical on every path and
//! machine.
//!
//! # Errors and panics
//! Kernels take slices whose lengths must match the shape arguments exactly; a
//! mismatch is a programming error and panics (like `copy_from_slice`), which also keeps
//! the vector loads in bounds. Shapes coming from outside (a model file) are checked with
//! [`Conv2dShape::validate`] and [`QuantMlp::validate`], which return a [`TensorError`].

#![no_std]

extern crate alloc;

mod conv;
mod math;
mod model;
mod qmodel;
mod quant;
pub mod scalar;
pub mod simd;

use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

pub use conv::Conv2dShape;
pub use math::{exp_f32, ln_f32};
pub use model::{Dense, Mlp, Rng};
pub use qmodel::{DenseOutput, Local, MatmulI8, QuantDense, QuantMlp};
pub use quant::{Requant, quantize_symmetric, quantize_with_scale};

/// What went wrong with a shape or a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorError {
    /// Two lengths or dimensions that must agree do not.
    ShapeMismatch,
    /// A dimension is zero where it must not be, a kernel does not fit its input, or a
    /// size overflows `usize`.
    BadShape,
    /// There is nothing to work on (no layers, no samples).
    Empty,
    /// A scale is zero, negative, infinite or NaN.
    BadScale,
    /// A requantization multiplier or shift is out of range.
    BadRequant,
}

impl core::fmt::Display for TensorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TensorError::ShapeMismatch => "tensor shapes do not match",
            TensorError::BadShape => "bad tensor shape",
            TensorError::Empty => "empty tensor or model",
            TensorError::BadScale => "quantization scale not finite and positive",
            TensorError::BadRequant => "requantization multiplier out of range",
        })
    }
}

impl core::error::Error for TensorError {}

/// CPU features the vector kernels can use (see [`features`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// SSE2 is enabled at compile time (always on the host and the agent target).
    pub sse2: bool,
    /// AVX2 is present and the OS saves the YMM state (XCR0 bits 1 and 2).
    pub avx2: bool,
    /// FMA3 is present and usable (same OS condition as AVX).
    pub fma: bool,
}

const FEAT_KNOWN: u8 = 1 << 7;
const FEAT_SSE2: u8 = 1 << 0;
const FEAT_AVX2: u8 = 1 << 1;
const FEAT_FMA: u8 = 1 << 2;

static FEATURES: AtomicU8 = AtomicU8::new(0);
static FORCE_SCALAR: AtomicBool = AtomicBool::new(false);

/// The CPU features of this machine, detected on the first call and cached.
///
/// AVX2 and FMA count only if CPUID reports them, reports OSXSAVE, and XCR0 shows the
/// OS saving both the XMM and YMM state: a kernel that does not enable AVX in XCR0 gets
/// the SSE2 paths.
pub fn features() -> Features {
    let mut bits = FEATURES.load(Ordering::Relaxed);
    if bits & FEAT_KNOWN == 0 {
        bits = detect() | FEAT_KNOWN;
        FEATURES.store(bits, Ordering::Relaxed);
    }
    Features {
        sse2: bits & FEAT_SSE2 != 0,
        avx2: bits & FEAT_AVX2 != 0,
        fma: bits & FEAT_FMA != 0,
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn detect() -> u8 {
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    let mut bits = FEAT_SSE2;
    let max_leaf = __cpuid(0).eax;
    if max_leaf < 7 {
        return bits;
    }
    let leaf1 = __cpuid(1);
    let osxsave = leaf1.ecx & (1 << 27) != 0;
    let avx = leaf1.ecx & (1 << 28) != 0;
    let fma = leaf1.ecx & (1 << 12) != 0;
    if !(osxsave && avx) {
        return bits;
    }
    // SAFETY: CPUID.1:ECX.OSXSAVE is set, so the OS has enabled XSAVE (CR4.OSXSAVE) and
    // XGETBV with ECX = 0 is defined at every privilege level.
    let xcr0 = unsafe { _xgetbv(0) };
    if xcr0 & 0b110 != 0b110 {
        return bits;
    }
    let avx2 = __cpuid_count(7, 0).ebx & (1 << 5) != 0;
    if avx2 {
        bits |= FEAT_AVX2;
    }
    if fma {
        bits |= FEAT_FMA;
    }
    bits
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn detect() -> u8 {
    0
}

/// Makes the crate-level kernels use the [`scalar`] reference (`true`) or the best
/// [`simd`] path (`false`, the default). Global, for tests and benches.
pub fn force_scalar(on: bool) {
    FORCE_SCALAR.store(on, Ordering::Relaxed);
}

/// Whether [`force_scalar`] is switched on.
pub fn scalar_forced() -> bool {
    FORCE_SCALAR.load(Ordering::Relaxed)
}

macro_rules! dispatch {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        $(#[$doc])*
        ///
        /// Dispatches to [`simd`] unless [`force_scalar`] is on; see [`scalar`] for the
        /// reference and its panics.
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            if scalar_forced() {
                scalar::$name($($arg),*)
            } else {
                simd::$name($($arg),*)
            }
        }
    };
}

dispatch!(
    /// `out[m * n] = a[m * k] · b[k * n]`.
    fn matmul_f32(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize)
);
dispatch!(
    /// `out[m * n] = a[m * k] · btᵀ` with `b` given transposed, `bt[n * k]`.
    fn matmul_bt_f32(a: &[f32], bt: &[f32], out: &mut [f32], m: usize, k: usize, n: usize)
);
dispatch!(
    /// Adds `bias` to every row of `x` (rows of `bias.len()`).
    fn add_bias_f32(x: &mut [f32], bias: &[f32])
);
dispatch!(
    /// `x = max(x, 0)` element-wise.
    fn relu_f32(x: &mut [f32])
);
dispatch!(
    /// Numerically stable softmax of one row, in place.
    fn softmax_f32(x: &mut [f32])
);
dispatch!(
    /// Index of the largest element; the first of equal maxima wins.
    fn argmax_f32(x: &[f32]) -> usize
);
dispatch!(
    /// Index of the largest element; the first of equal maxima wins.
    fn argmax_i32(x: &[i32]) -> usize
);
dispatch!(
    /// Softmax cross-entropy `-ln softmax(logits)[label]`.
    fn cross_entropy(logits: &[f32], label: usize) -> f32
);
dispatch!(
    /// 2-D convolution of one NCHW image (see [`Conv2dShape`]).
    fn conv2d_f32(input: &[f32], weights: &[f32], bias: &[f32], shape: &Conv2dShape, out: &mut [f32])
);
dispatch!(
    /// 2-D convolution of one NCHW int8 image with i32 accumulation (exact).
    fn conv2d_i8(input: &[i8], weights: &[i8], bias: &[i32], shape: &Conv2dShape, out: &mut [i32])
);
dispatch!(
    /// `out[m * n] = a[m * k] · btᵀ` in int8 with exact i32 accumulation, `bt[n * k]`.
    fn matmul_i8_i32(a: &[i8], bt: &[i8], out: &mut [i32], m: usize, k: usize, n: usize)
);

/// `a * b`, panicking on overflow (sizes derived from shape arguments).
#[inline]
pub(crate) fn dim(a: usize, b: usize) -> usize {
    a.checked_mul(b).expect("tensor size overflows usize")
}

/// Panics unless the matrix-product operands have the lengths of their shapes.
#[inline]
pub(crate) fn check_matmul(a: usize, b: usize, out: usize, m: usize, k: usize, n: usize) {
    assert_eq!(a, dim(m, k), "matmul: a.len() != m * k");
    assert_eq!(b, dim(k, n), "matmul: b.len() != k * n");
    assert_eq!(out, dim(m, n), "matmul: out.len() != m * n");
}

/// Panics unless `x` is whole rows of `bias.len()`.
#[inline]
pub(crate) fn check_bias(x: usize, bias: usize) {
    if bias == 0 {
        assert_eq!(x, 0, "add_bias: empty bias for a non-empty x");
    } else {
        assert_eq!(
            x % bias,
            0,
            "add_bias: x.len() is not a multiple of bias.len()"
        );
    }
}
