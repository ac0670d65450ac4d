//! The shape of a 2-D convolution and the im2col rearrangement the vector paths use.

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use alloc::{vec, vec::Vec};

use crate::TensorError;

/// Shape of a 2-D convolution over one NCHW image.
///
/// Input `[c_in * h * w]`, weights `[c_out * c_in * kh * kw]`, bias `[c_out]`, output
/// `[c_out * out_h() * out_w()]`; `pad` zeros on every side, the kernel moved by
/// `stride` in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dShape {
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Step between kernel positions (both directions).
    pub stride: usize,
    /// Zero padding on each side (both directions).
    pub pad: usize,
}

/// `(size + 2 pad - k) / stride + 1`, or 0 if the kernel does not fit or `stride` is 0.
fn out_len(size: usize, k: usize, stride: usize, pad: usize) -> usize {
    let Some(padded) = pad.checked_mul(2).and_then(|p| p.checked_add(size)) else {
        return 0;
    };
    if stride == 0 || k == 0 || k > padded {
        return 0;
    }
    (padded - k) / stride + 1
}

impl Conv2dShape {
    /// Output height, 0 for a shape whose kernel does not fit (see [`Self::validate`]).
    pub fn out_h(&self) -> usize {
        out_len(self.h, self.kh, self.stride, self.pad)
    }

    /// Output width, 0 for a shape whose kernel does not fit (see [`Self::validate`]).
    pub fn out_w(&self) -> usize {
        out_len(self.w, self.kw, self.stride, self.pad)
    }

    /// Input length `c_in * h * w` (unchecked: call [`Self::validate`] first).
    pub fn input_len(&self) -> usize {
        self.c_in * self.h * self.w
    }

    /// Weights length `c_out * c_in * kh * kw` (unchecked: call [`Self::validate`] first).
    pub fn weights_len(&self) -> usize {
        self.c_out * self.patch_len()
    }

    /// Output length `c_out * out_h * out_w` (unchecked: call [`Self::validate`] first).
    pub fn output_len(&self) -> usize {
        self.c_out * self.out_h() * self.out_w()
    }

    /// One kernel's length `c_in * kh * kw`.
    pub(crate) fn patch_len(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Checks that every dimension and the stride are non-zero, the kernel fits the
    /// padded input, and no buffer size (im2col's included) overflows `usize`.
    pub fn validate(&self) -> Result<(), TensorError> {
        let dims = [
            self.c_in,
            self.h,
            self.w,
            self.c_out,
            self.kh,
            self.kw,
            self.stride,
        ];
        if dims.contains(&0) {
            return Err(TensorError::BadShape);
        }
        let (oh, ow) = (self.out_h(), self.out_w());
        if oh == 0 || ow == 0 {
            return Err(TensorError::BadShape);
        }
        let mul = |xs: &[usize]| xs.iter().try_fold(1usize, |acc, &x| acc.checked_mul(x));
        let sizes = [
            mul(&[self.c_in, self.h, self.w]),
            mul(&[self.c_out, self.c_in, self.kh, self.kw]),
            mul(&[self.c_out, oh, ow]),
            mul(&[oh, ow, self.c_in, self.kh, self.kw]),
        ];
        if sizes.contains(&None) {
            return Err(TensorError::BadShape);
        }
        Ok(())
    }

    /// Panics unless the shape is valid and the slices have its lengths.
    pub(crate) fn check(&self, input: usize, weights: usize, bias: usize, out: usize) {
        assert_eq!(self.validate(), Ok(()), "conv2d: invalid shape");
        assert_eq!(input, self.input_len(), "conv2d: input length");
        assert_eq!(weights, self.weights_len(), "conv2d: weights length");
        assert_eq!(bias, self.c_out, "conv2d: bias length");
        assert_eq!(out, self.output_len(), "conv2d: output length");
    }
}

/// Rearranges the input into one row per output position, `[out_h * out_w][c_in * kh *
/// kw]`, each row the (zero-padded) patch under the kernel in weight order. The
/// convolution is then `out[c_out][pos] = weights · patchesᵀ`, a `_bt` matrix product.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub(crate) fn im2col<T: Copy + Default>(input: &[T], s: &Conv2dShape) -> Vec<T> {
    let (oh, ow, plen) = (s.out_h(), s.out_w(), s.patch_len());
    let mut patches = vec![T::default(); oh * ow * plen];
    for oy in 0..oh {
        for ox in 0..ow {
            let row = &mut patches[(oy * ow + ox) * plen..][..plen];
            for ci in 0..s.c_in {
                for ky in 0..s.kh {
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
                        row[(ci * s.kh + ky) * s.kw + kx] = input[(ci * s.h + iy) * s.w + ix];
                    }
                }
            }
        }
    }
    patches
}
