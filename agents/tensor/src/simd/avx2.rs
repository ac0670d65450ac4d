//! AVX2 + FMA kernels, for machines where [`crate::features`] reports both.
//!
//! The same blocking as [`super::sse2`] with 8-wide vectors: `matmul_bt_f32` takes four
//! rows of `bt` per row of `a` with one FMA accumulator each; `matmul_f32` accumulates
//! blocks of 32 output columns; `matmul_i8_i32` sign-extends 16 bytes to 16 i16 lanes
//! (`vpmovsxbw`) and multiplies-adds pairs with `_mm256_madd_epi16` (bit-identical to
//! the scalar reference, like the SSE2 path).
//!
//! Every function is `unsafe` only because of the CPU requirement.

use core::arch::x86_64::*;

use super::sse2::{hsum, hsum_i32, ldi};
use crate::conv::im2col;
use crate::simd::add_channel_bias;
use crate::{Conv2dShape, check_matmul};

#[target_feature(enable = "avx2,fma")]
#[inline]
fn ld8(c: &[f32; 8]) -> __m256 {
    // SAFETY: `c` is 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_ps(c.as_ptr()) }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn st8(c: &mut [f32; 8], v: __m256) {
    // SAFETY: `c` is 32 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm256_storeu_ps(c.as_mut_ptr(), v) }
}

/// Sum of the eight lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum8(v: __m256) -> f32 {
    hsum(_mm_add_ps(
        _mm256_castps256_ps128(v),
        _mm256_extractf128_ps::<1>(v),
    ))
}

/// Sum of the eight i32 lanes (wrapping).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum8_i32(v: __m256i) -> i32 {
    hsum_i32(_mm_add_epi32(
        _mm256_castsi256_si128(v),
        _mm256_extracti128_si256::<1>(v),
    ))
}

/// 16 bytes sign-extended to 16 i16 lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn widen16(c: &[i8; 16]) -> __m256i {
    _mm256_cvtepi8_epi16(ldi(c))
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn dot4_f32(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    let (ac, at) = a.as_chunks::<8>();
    let (b0, t0) = b[0].as_chunks::<8>();
    let (b1, t1) = b[1].as_chunks::<8>();
    let (b2, t2) = b[2].as_chunks::<8>();
    let (b3, t3) = b[3].as_chunks::<8>();
    let mut s = [_mm256_setzero_ps(); 4];
    for ((((x, y0), y1), y2), y3) in ac.iter().zip(b0).zip(b1).zip(b2).zip(b3) {
        let xv = ld8(x);
        s[0] = _mm256_fmadd_ps(xv, ld8(y0), s[0]);
        s[1] = _mm256_fmadd_ps(xv, ld8(y1), s[1]);
        s[2] = _mm256_fmadd_ps(xv, ld8(y2), s[2]);
        s[3] = _mm256_fmadd_ps(xv, ld8(y3), s[3]);
    }
    let mut r = [hsum8(s[0]), hsum8(s[1]), hsum8(s[2]), hsum8(s[3])];
    for (i, &x) in at.iter().enumerate() {
        r[0] += x * t0[i];
        r[1] += x * t1[i];
        r[2] += x * t2[i];
        r[3] += x * t3[i];
    }
    r
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let (ac, at) = a.as_chunks::<32>();
    let (bc, bt) = b.as_chunks::<32>();
    let mut s = [_mm256_setzero_ps(); 4];
    for (x, y) in ac.iter().zip(bc) {
        let (x, y) = (x.as_chunks::<8>().0, y.as_chunks::<8>().0);
        for q in 0..4 {
            s[q] = _mm256_fmadd_ps(ld8(&x[q]), ld8(&y[q]), s[q]);
        }
    }
    let (a8, at) = at.as_chunks::<8>();
    let (b8, bt) = bt.as_chunks::<8>();
    for (x, y) in a8.iter().zip(b8) {
        s[0] = _mm256_fmadd_ps(ld8(x), ld8(y), s[0]);
    }
    let v = _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
    let mut r = hsum8(v);
    for (&x, &y) in at.iter().zip(bt) {
        r += x * y;
    }
    r
}

/// [`crate::scalar::matmul_bt_f32`] with AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA and the OS must save the YMM state
/// ([`crate::features`] reports `avx2` and `fma`).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn matmul_bt_f32(a: &[f32], bt: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
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

/// [`crate::scalar::matmul_f32`] with AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA and the OS must save the YMM state
/// ([`crate::features`] reports `avx2` and `fma`).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn matmul_f32(a: &[f32], b: &[f32], out: &mut [f32], m: usize, k: usize, n: usize) {
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
        while j + 32 <= n {
            let mut s = [_mm256_setzero_ps(); 4];
            for (&av, brow) in arow.iter().zip(b.chunks_exact(n)) {
                let x = _mm256_set1_ps(av);
                let q = brow[j..j + 32].as_chunks::<8>().0;
                for t in 0..4 {
                    s[t] = _mm256_fmadd_ps(x, ld8(&q[t]), s[t]);
                }
            }
            let oq = orow[j..j + 32].as_chunks_mut::<8>().0;
            for t in 0..4 {
                st8(&mut oq[t], s[t]);
            }
            j += 32;
        }
        while j + 8 <= n {
            let mut s = _mm256_setzero_ps();
            for (&av, brow) in arow.iter().zip(b.chunks_exact(n)) {
                let blk = &brow[j..j + 8].as_chunks::<8>().0[0];
                s = _mm256_fmadd_ps(_mm256_set1_ps(av), ld8(blk), s);
            }
            st8(&mut orow[j..j + 8].as_chunks_mut::<8>().0[0], s);
            j += 8;
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

#[target_feature(enable = "avx2,fma")]
#[inline]
fn dot4_i8(a: &[i8], b: [&[i8]; 4]) -> [i32; 4] {
    let (ac, at) = a.as_chunks::<16>();
    let bc = [
        b[0].as_chunks::<16>(),
        b[1].as_chunks::<16>(),
        b[2].as_chunks::<16>(),
        b[3].as_chunks::<16>(),
    ];
    let mut s = [_mm256_setzero_si256(); 4];
    for (c, x) in ac.iter().enumerate() {
        let xv = widen16(x);
        for r in 0..4 {
            let p = _mm256_madd_epi16(xv, widen16(&bc[r].0[c]));
            s[r] = _mm256_add_epi32(s[r], p);
        }
    }
    let mut out = [0i32; 4];
    for r in 0..4 {
        let mut acc = hsum8_i32(s[r]);
        for (&x, &y) in at.iter().zip(bc[r].1) {
            acc = acc.wrapping_add(i32::from(x) * i32::from(y));
        }
        out[r] = acc;
    }
    out
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let (ac, at) = a.as_chunks::<16>();
    let (bc, bt) = b.as_chunks::<16>();
    let mut s = _mm256_setzero_si256();
    for (x, y) in ac.iter().zip(bc) {
        s = _mm256_add_epi32(s, _mm256_madd_epi16(widen16(x), widen16(y)));
    }
    let mut acc = hsum8_i32(s);
    for (&x, &y) in at.iter().zip(bt) {
        acc = acc.wrapping_add(i32::from(x) * i32::from(y));
    }
    acc
}

/// [`crate::scalar::matmul_i8_i32`] with AVX2 (bit-identical).
///
/// # Safety
/// The CPU must support AVX2 and FMA and the OS must save the YMM state
/// ([`crate::features`] reports `avx2` and `fma`).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn matmul_i8_i32(a: &[i8], bt: &[i8], out: &mut [i32], m: usize, k: usize, n: usize) {
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

/// [`crate::scalar::conv2d_f32`] as im2col + [`matmul_bt_f32`].
///
/// # Safety
/// The CPU must support AVX2 and FMA and the OS must save the YMM state
/// ([`crate::features`] reports `avx2` and `fma`).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn conv2d_f32(
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    shape: &Conv2dShape,
    out: &mut [f32],
) {
    shape.check(input.len(), weights.len(), bias.len(), out.len());
    let patches = im2col(input, shape);
    let positions = shape.out_h() * shape.out_w();
    // SAFETY: this function's own requirement.
    unsafe {
        matmul_bt_f32(
            weights,
            &patches,
            out,
            shape.c_out,
            shape.patch_len(),
            positions,
        )
    };
    add_channel_bias(out, bias, |o, b| o + b);
}

/// [`crate::scalar::conv2d_i8`] as im2col + [`matmul_i8_i32`] (bit-identical).
///
/// # Safety
/// The CPU must support AVX2 and FMA and the OS must save the YMM state
/// ([`crate::features`] reports `avx2` and `fma`).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn conv2d_i8(
    input: &[i8],
    weights: &[i8],
    bias: &[i32],
    shape: &Conv2dShape,
    out: &mut [i32],
) {
    shape.check(input.len(), weights.len(), bias.len(), out.len());
    let patches = im2col(input, shape);
    let positions = shape.out_h() * shape.out_w();
    // SAFETY: this function's own requirement.
    unsafe {
        matmul_i8_i32(
            weights,
            &patches,
            out,
            shape.c_out,
            shape.patch_len(),
            positions,
        )
    };
    add_channel_bias(out, bias, i32::wrapping_add);
}
