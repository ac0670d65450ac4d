//! Post-training int8 quantization of an [`Mlp`] and its integer-only forward pass.

use alloc::vec;
use alloc::vec::Vec;

use crate::math::round_f64_to_i64;
use crate::{
    Mlp, Requant, TensorError, argmax_i32, dim, matmul_i8_i32, quantize_symmetric,
    quantize_with_scale,
};

/// Where a quantized model's matrix products run: in the agent ([`Local`])
/// or, say, through the kernel's `tensor` syscall on an accelerator.
pub trait MatmulI8 {
    /// `out[m * n] = a[m * k] · btᵀ` with `bt[n * k]`, exact i32 accumulation
    /// (what [`crate::matmul_i8_i32`] computes; an implementation must give
    /// the same bits).
    fn matmul_i8(&mut self, a: &[i8], bt: &[i8], out: &mut [i32], m: usize, k: usize, n: usize);

    /// One whole layer `layer` on `rows` rows of input codes `h`: `acc = h ·
    /// Wᵀ + bias` (wrapping i32), then the next layer's input codes
    /// `clamp(requant(acc), lo, 127)` or, for the `last` layer, `acc`
    /// itself. The default runs [`MatmulI8::matmul_i8`] and the epilogue
    /// here; an implementation may fuse them (the same bits).
    fn dense(&mut self, layer: &QuantDense, h: &[i8], rows: usize, last: bool) -> DenseOutput {
        let mut acc = vec![0i32; dim(rows, layer.out_dim)];
        self.matmul_i8(h, &layer.w, &mut acc, rows, layer.in_dim, layer.out_dim);
        for row in acc.chunks_exact_mut(layer.out_dim) {
            for (a, &b) in row.iter_mut().zip(&layer.bias) {
                *a = a.wrapping_add(b);
            }
        }
        if last {
            return DenseOutput::Accumulators(acc);
        }
        let lo = if layer.relu { 0 } else { -127 };
        DenseOutput::Codes(
            acc.iter()
                .map(|&a| layer.requant.apply(a).clamp(lo, 127) as i8)
                .collect(),
        )
    }
}

/// What [`MatmulI8::dense`] gives: the next layer's input, or the last layer's
/// accumulators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenseOutput {
    /// `i8` codes, `rows x out_dim`.
    Codes(Vec<i8>),
    /// Biased `i32` accumulators, `rows x out_dim`.
    Accumulators(Vec<i32>),
}

/// The agent's own vector kernels ([`crate::matmul_i8_i32`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Local;

impl MatmulI8 for Local {
    fn matmul_i8(&mut self, a: &[i8], bt: &[i8], out: &mut [i32], m: usize, k: usize, n: usize) {
        matmul_i8_i32(a, bt, out, m, k, n);
    }
}

/// An int8 dense layer: `acc = W_q x_q + bias` in i32, real value `acc * in_scale *
/// w_scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantDense {
    /// Input width.
    pub in_dim: usize,
    /// Output width.
    pub out_dim: usize,
    /// Quantized weights, `out_dim` rows of `in_dim`.
    pub w: Vec<i8>,
    /// Scale of the weights (`w ≈ w_q * w_scale`).
    pub w_scale: f32,
    /// Biases in the accumulator scale `in_scale * w_scale`.
    pub bias: Vec<i32>,
    /// Scale of the i8 input.
    pub in_scale: f32,
    /// Scale of the i8 output (calibrated for the last layer too, where it is unused).
    pub out_scale: f32,
    /// `in_scale * w_scale / out_scale` in fixed point: accumulator to output code.
    pub requant: Requant,
    /// Whether a ReLU follows (output clamped to `[0, 127]` instead of `[-127, 127]`).
    pub relu: bool,
}

/// An int8 [`Mlp`]: symmetric per-tensor quantization, zero points 0.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantMlp {
    /// Scale of the quantized input (`x ≈ x_q * input_scale`).
    pub input_scale: f32,
    /// The layers, input first.
    pub layers: Vec<QuantDense>,
}

/// `max|x| / 127`, or 1 when that is not a positive finite number.
fn act_scale(x: &[f32]) -> f32 {
    let max = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let s = max / 127.0;
    if s > 0.0 && s.is_finite() { s } else { 1.0 }
}

fn scale_ok(s: f32) -> bool {
    s > 0.0 && s.is_finite()
}

impl QuantMlp {
    /// Post-training quantization of `mlp`: per-tensor symmetric weights
    /// ([`quantize_symmetric`]); the input scale and each layer's output scale are the
    /// largest magnitude over the `n` calibration samples (`calib`, `n` rows of
    /// `in_dim`) of the input and of that layer's float output (after the ReLU for
    /// hidden layers) divided by 127 (1 if that is zero). Biases are rounded to the
    /// accumulator scale `in_scale * w_scale` (computed in `f64`); `requant` is
    /// `Requant::from_real(in_scale * w_scale / out_scale)`.
    ///
    /// # Panics
    /// If `calib.len() != n * mlp.in_dim()`.
    pub fn from_mlp(mlp: &Mlp, calib: &[f32], n: usize) -> QuantMlp {
        let outs = mlp.forward_layers(calib, n);
        let input_scale = act_scale(calib);
        let mut in_scale = input_scale;
        let last = mlp.layers.len().saturating_sub(1);
        let layers = mlp
            .layers
            .iter()
            .zip(&outs)
            .enumerate()
            .map(|(l, (d, out))| {
                let (w, w_scale) = quantize_symmetric(&d.w);
                let out_scale = act_scale(out);
                let acc_scale = f64::from(in_scale) * f64::from(w_scale);
                let bias =
                    d.b.iter()
                        .map(|&b| {
                            let q = round_f64_to_i64(f64::from(b) / acc_scale);
                            q.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
                        })
                        .collect();
                let q = QuantDense {
                    in_dim: d.in_dim,
                    out_dim: d.out_dim,
                    w,
                    w_scale,
                    bias,
                    in_scale,
                    out_scale,
                    requant: Requant::from_real(acc_scale / f64::from(out_scale)),
                    relu: l < last,
                };
                in_scale = out_scale;
                q
            })
            .collect();
        QuantMlp {
            input_scale,
            layers,
        }
    }

    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.in_dim)
    }

    /// Output width (number of classes).
    pub fn classes(&self) -> usize {
        self.layers.last().map_or(0, |l| l.out_dim)
    }

    /// `out = quantize(x, input_scale)` ([`quantize_with_scale`]).
    ///
    /// # Panics
    /// If `out.len() != x.len()`.
    pub fn quantize_input(&self, x: &[f32], out: &mut [i8]) {
        quantize_with_scale(x, self.input_scale, out);
    }

    /// Integer forward pass of `n` quantized samples (`xs`, `n` rows of `in_dim()`):
    /// `n * classes()` last-layer accumulators (real logits are these times
    /// `in_scale * w_scale` of the last layer).
    ///
    /// Hidden layers: `acc = W_q x + bias` (wrapping i32), `requant.apply(acc)`, clamped
    /// to `[0, 127]` after a ReLU or `[-127, 127]`, as the next input. No float
    /// arithmetic: bit-identical on every kernel path and machine.
    ///
    /// # Panics
    /// If `xs.len() != n * in_dim()` or the model's vectors do not match its dimensions
    /// (see [`QuantMlp::validate`]).
    pub fn forward_batch(&self, xs: &[i8], n: usize) -> Vec<i32> {
        self.forward_batch_with(xs, n, &mut Local)
    }

    /// [`QuantMlp::forward_batch`] with the layers' matrix products on `matmul`.
    ///
    /// # Panics
    /// As [`QuantMlp::forward_batch`].
    pub fn forward_batch_with(&self, xs: &[i8], n: usize, matmul: &mut impl MatmulI8) -> Vec<i32> {
        assert_eq!(
            xs.len(),
            dim(n, self.in_dim()),
            "QuantMlp: xs.len() != n * in_dim"
        );
        let mut h: Vec<i8> = xs.to_vec();
        let mut acc = Vec::new();
        for (l, d) in self.layers.iter().enumerate() {
            match matmul.dense(d, &h, n, l + 1 == self.layers.len()) {
                DenseOutput::Codes(codes) => h = codes,
                DenseOutput::Accumulators(out) => acc = out,
            }
        }
        acc
    }

    /// Integer forward pass of one quantized sample: the last layer's i32 accumulators
    /// (see [`QuantMlp::forward_batch`]).
    ///
    /// # Panics
    /// If `x.len() != in_dim()`, `logits.len() != classes()`, or the model's vectors do
    /// not match its dimensions.
    pub fn forward(&self, x: &[i8], logits: &mut [i32]) {
        assert_eq!(
            logits.len(),
            self.classes(),
            "QuantMlp::forward: logits.len() != classes"
        );
        logits.copy_from_slice(&self.forward_batch(x, 1));
    }

    /// The predicted class of a float sample: quantize, integer forward, argmax.
    ///
    /// # Panics
    /// If `x.len() != in_dim()`.
    pub fn predict(&self, x: &[f32]) -> usize {
        let mut q = vec![0i8; x.len()];
        self.quantize_input(x, &mut q);
        let mut logits = vec![0i32; self.classes()];
        self.forward(&q, &mut logits);
        argmax_i32(&logits)
    }

    /// Fraction of float samples (`xs`, rows of `in_dim()`) predicted as their label.
    ///
    /// # Panics
    /// If `xs.len() != ys.len() * in_dim()`.
    pub fn accuracy(&self, xs: &[f32], ys: &[u8]) -> f32 {
        if ys.is_empty() {
            return 0.0;
        }
        let mut q = vec![0i8; xs.len()];
        self.quantize_input(xs, &mut q);
        let logits = self.forward_batch(&q, ys.len());
        let hits = logits
            .chunks_exact(self.classes())
            .zip(ys)
            .filter(|(row, y)| argmax_i32(row) == usize::from(**y))
            .count();
        hits as f32 / ys.len() as f32
    }

    /// Checks the model before use (for one loaded from outside): at least one layer,
    /// non-zero widths, each `in_dim` equal to the previous `out_dim`, `w` and `bias`
    /// of their dimensions' lengths, every scale finite and positive, every
    /// requantization in range ([`Requant::is_valid`]).
    pub fn validate(&self) -> Result<(), TensorError> {
        if self.layers.is_empty() {
            return Err(TensorError::Empty);
        }
        if !scale_ok(self.input_scale) {
            return Err(TensorError::BadScale);
        }
        let mut prev = None;
        for d in &self.layers {
            if d.in_dim == 0 || d.out_dim == 0 {
                return Err(TensorError::BadShape);
            }
            if prev.is_some_and(|p| p != d.in_dim) {
                return Err(TensorError::ShapeMismatch);
            }
            let wlen = d
                .in_dim
                .checked_mul(d.out_dim)
                .ok_or(TensorError::BadShape)?;
            if d.w.len() != wlen || d.bias.len() != d.out_dim {
                return Err(TensorError::ShapeMismatch);
            }
            if ![d.w_scale, d.in_scale, d.out_scale]
                .into_iter()
                .all(scale_ok)
            {
                return Err(TensorError::BadScale);
            }
            if !d.requant.is_valid() {
                return Err(TensorError::BadRequant);
            }
            prev = Some(d.out_dim);
        }
        Ok(())
    }
}
