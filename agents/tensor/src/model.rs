//! A float multilayer perceptron with a hand-written backward pass and SGD.

use alloc::vec;
use alloc::vec::Vec;

use crate::math::sqrt_f32;
use crate::{
    add_bias_f32, argmax_f32, cross_entropy, dim, matmul_bt_f32, matmul_f32, relu_f32, softmax_f32,
};

/// A small deterministic PRNG: splitmix64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, a multiple of `2^-24`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    /// Uniform in `0..n`, without bias (Lemire's multiply-and-reject).
    ///
    /// # Panics
    /// If `n == 0`.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below(0)");
        let n = n as u64;
        let threshold = n.wrapping_neg() % n;
        loop {
            let x = u128::from(self.next_u64()) * u128::from(n);
            if (x as u64) >= threshold {
                return (x >> 64) as usize;
            }
        }
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

/// A fully connected layer `y = W x + b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Input width.
    pub in_dim: usize,
    /// Output width.
    pub out_dim: usize,
    /// Weights, `out_dim` rows of `in_dim` (the transposed form `matmul_bt_f32` takes).
    pub w: Vec<f32>,
    /// Biases, `out_dim`.
    pub b: Vec<f32>,
}

impl Dense {
    /// `out[n * out_dim] = xs[n * in_dim] · Wᵀ + b`.
    fn forward(&self, xs: &[f32], n: usize, out: &mut [f32]) {
        matmul_bt_f32(xs, &self.w, out, n, self.in_dim, self.out_dim);
        add_bias_f32(out, &self.b);
    }
}

/// A multilayer perceptron: dense layers with ReLU between them and none after the last,
/// which outputs logits (softmax cross-entropy in training).
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// The layers, input first; each one's `in_dim` is the previous one's `out_dim`.
    pub layers: Vec<Dense>,
}

impl Mlp {
    /// Layers of widths `sizes` (`[inputs, hidden..., classes]`), weights drawn from
    /// `Rng::new(seed)` layer by layer, row by row: He-uniform
    /// (`±sqrt(6 / in)`) for layers followed by a ReLU, Xavier-uniform
    /// (`±sqrt(6 / (in + out))`) for the last; zero biases.
    ///
    /// # Panics
    /// If `sizes` has fewer than two entries or a zero entry.
    pub fn new(sizes: &[usize], seed: u64) -> Mlp {
        assert!(
            sizes.len() >= 2,
            "Mlp::new: need at least input and output sizes"
        );
        assert!(!sizes.contains(&0), "Mlp::new: zero layer width");
        let mut rng = Rng::new(seed);
        let last = sizes.len() - 2;
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(l, io)| {
                let (in_dim, out_dim) = (io[0], io[1]);
                let fan = if l < last { in_dim } else { in_dim + out_dim };
                let limit = sqrt_f32(6.0 / fan as f32);
                let w = (0..dim(in_dim, out_dim))
                    .map(|_| rng.uniform(-limit, limit))
                    .collect();
                Dense {
                    in_dim,
                    out_dim,
                    w,
                    b: vec![0.0; out_dim],
                }
            })
            .collect();
        Mlp { layers }
    }

    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.in_dim)
    }

    /// Output width (number of classes).
    pub fn classes(&self) -> usize {
        self.layers.last().map_or(0, |l| l.out_dim)
    }

    /// Every layer's output for a batch: `outs[l]` is `n * layers[l].out_dim`, after the
    /// ReLU for hidden layers, the logits for the last.
    pub(crate) fn forward_layers(&self, xs: &[f32], n: usize) -> Vec<Vec<f32>> {
        assert_eq!(
            xs.len(),
            dim(n, self.in_dim()),
            "Mlp: xs.len() != n * in_dim"
        );
        let mut outs: Vec<Vec<f32>> = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let mut out = vec![0.0; dim(n, layer.out_dim)];
            let input = if l == 0 { xs } else { &outs[l - 1] };
            layer.forward(input, n, &mut out);
            if l + 1 < self.layers.len() {
                relu_f32(&mut out);
            }
            outs.push(out);
        }
        outs
    }

    /// Logits of one sample.
    ///
    /// # Panics
    /// If `x.len() != in_dim()` or `logits.len() != classes()`.
    pub fn forward(&self, x: &[f32], logits: &mut [f32]) {
        assert_eq!(
            logits.len(),
            self.classes(),
            "Mlp::forward: logits.len() != classes"
        );
        let outs = self.forward_layers(x, 1);
        logits.copy_from_slice(outs.last().map_or(&[][..], |v| v));
    }

    /// Logits of `n` samples (`xs` is `n` rows of `in_dim()`), `n * classes()` values.
    ///
    /// # Panics
    /// If `xs.len() != n * in_dim()`.
    pub fn forward_batch(&self, xs: &[f32], n: usize) -> Vec<f32> {
        self.forward_layers(xs, n).pop().unwrap_or_default()
    }

    /// Mean softmax cross-entropy over the samples and its gradient with respect to
    /// every weight and bias, returned as an `Mlp` of the same shape.
    ///
    /// Backward pass: `dZ = (softmax(logits) - onehot) / n` at the top; per layer
    /// `dW = dZᵀ · input`, `db = column sums of dZ`, `d input = dZ · W`, masked by the
    /// ReLU (`input > 0`) on the way down.
    ///
    /// # Panics
    /// If `xs.len() != ys.len() * in_dim()` or a label is not below `classes()`.
    pub fn gradient(&self, xs: &[f32], ys: &[u8]) -> (f32, Mlp) {
        let n = ys.len();
        let classes = self.classes();
        let outs = self.forward_layers(xs, n);
        let mut grad = self.clone();
        if n == 0 {
            for l in &mut grad.layers {
                l.w.fill(0.0);
                l.b.fill(0.0);
            }
            return (0.0, grad);
        }
        let mut dz = outs.last().cloned().unwrap_or_default();
        let inv_n = 1.0 / n as f32;
        let mut loss = 0.0f32;
        for (row, &y) in dz.chunks_exact_mut(classes).zip(ys) {
            let y = usize::from(y);
            loss += cross_entropy(row, y);
            softmax_f32(row);
            row[y] -= 1.0;
            for v in row.iter_mut() {
                *v *= inv_n;
            }
        }
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            let (ind, outd) = (layer.in_dim, layer.out_dim);
            let input = if l == 0 { xs } else { &outs[l - 1] };
            let dzt = transpose(&dz, n, outd);
            let g = &mut grad.layers[l];
            matmul_f32(&dzt, input, &mut g.w, outd, n, ind);
            for (gb, col) in g.b.iter_mut().zip(dzt.chunks_exact(n)) {
                *gb = col.iter().sum();
            }
            if l > 0 {
                let mut dh = vec![0.0; dim(n, ind)];
                matmul_f32(&dz, &layer.w, &mut dh, n, outd, ind);
                for (d, &h) in dh.iter_mut().zip(input) {
                    if h.is_nan() || h <= 0.0 {
                        *d = 0.0;
                    }
                }
                dz = dh;
            }
        }
        (loss * inv_n, grad)
    }

    /// `self -= lr * grad`, layer by layer.
    fn sgd_step(&mut self, grad: &Mlp, lr: f32) {
        for (layer, g) in self.layers.iter_mut().zip(&grad.layers) {
            for (w, &d) in layer.w.iter_mut().zip(&g.w) {
                *w -= lr * d;
            }
            for (b, &d) in layer.b.iter_mut().zip(&g.b) {
                *b -= lr * d;
            }
        }
    }

    /// One epoch of minibatch SGD on softmax cross-entropy: the samples in an order
    /// shuffled by `Rng::new(seed)` (Fisher-Yates), consecutive groups of `batch` (the
    /// last one may be smaller), one [`Mlp::gradient`] step of rate `lr` per group.
    /// Returns the mean training loss over the epoch (each sample's loss before its
    /// group's step); 0 for no samples.
    ///
    /// # Panics
    /// If `batch == 0`, `xs.len() != ys.len() * in_dim()` or a label is not below
    /// `classes()`.
    pub fn train_epoch(&mut self, xs: &[f32], ys: &[u8], lr: f32, batch: usize, seed: u64) -> f32 {
        assert!(batch > 0, "train_epoch: batch == 0");
        let n = ys.len();
        let d = self.in_dim();
        assert_eq!(
            xs.len(),
            dim(n, d),
            "train_epoch: xs.len() != ys.len() * in_dim"
        );
        if n == 0 {
            return 0.0;
        }
        let mut order: Vec<usize> = (0..n).collect();
        Rng::new(seed).shuffle(&mut order);
        let mut xb = Vec::with_capacity(dim(batch.min(n), d));
        let mut yb = Vec::with_capacity(batch.min(n));
        let mut total = 0.0f32;
        for group in order.chunks(batch) {
            xb.clear();
            yb.clear();
            for &i in group {
                xb.extend_from_slice(&xs[i * d..][..d]);
                yb.push(ys[i]);
            }
            let (loss, grad) = self.gradient(&xb, &yb);
            total += loss * group.len() as f32;
            self.sgd_step(&grad, lr);
        }
        total / n as f32
    }

    /// Mean softmax cross-entropy over the samples (0 for none).
    ///
    /// # Panics
    /// If `xs.len() != ys.len() * in_dim()` or a label is not below `classes()`.
    pub fn loss(&self, xs: &[f32], ys: &[u8]) -> f32 {
        if ys.is_empty() {
            return 0.0;
        }
        let logits = self.forward_batch(xs, ys.len());
        let total: f32 = logits
            .chunks_exact(self.classes())
            .zip(ys)
            .map(|(row, &y)| cross_entropy(row, usize::from(y)))
            .sum();
        total / ys.len() as f32
    }

    /// Fraction of samples whose largest logit is their label (0 for none).
    ///
    /// # Panics
    /// If `xs.len() != ys.len() * in_dim()`.
    pub fn accuracy(&self, xs: &[f32], ys: &[u8]) -> f32 {
        if ys.is_empty() {
            return 0.0;
        }
        let logits = self.forward_batch(xs, ys.len());
        let hits = logits
            .chunks_exact(self.classes())
            .zip(ys)
            .filter(|(row, y)| argmax_f32(row) == usize::from(**y))
            .count();
        hits as f32 / ys.len() as f32
    }
}

/// `[rows * cols]` to `[cols * rows]`.
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = x[r * cols + c];
        }
    }
    t
}
