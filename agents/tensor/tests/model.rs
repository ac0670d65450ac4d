//! The float MLP (init, gradient, training) and its int8 quantization.
//!
//! This file never touches `force_scalar` (see `dispatch.rs`), so runs are reproducible.

use agent_tensor::{Mlp, QuantMlp, Requant, Rng, TensorError};

/// `n` samples of `classes` Gaussian-ish blobs in `d` dimensions: centres uniform in
/// `[-2, 2]^d` (from `seed`), noise uniform in `[-noise, noise]`.
fn blobs(n: usize, d: usize, classes: usize, noise: f32, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let centres: Vec<f32> = (0..classes * d).map(|_| rng.uniform(-2.0, 2.0)).collect();
    let mut xs = Vec::with_capacity(n * d);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        let c = rng.below(classes);
        for j in 0..d {
            // Sum of two uniforms: a softer edge than one.
            let e = rng.uniform(-noise, noise) + rng.uniform(-noise, noise);
            xs.push(centres[c * d + j] + e);
        }
        ys.push(c as u8);
    }
    (xs, ys)
}

fn bits(m: &Mlp) -> Vec<u32> {
    m.layers
        .iter()
        .flat_map(|l| l.w.iter().chain(&l.b))
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn rng_is_splitmix64() {
    // Reference values of splitmix64 seeded with 0.
    let mut r = Rng::new(0);
    assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
    assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    let mut r = Rng::new(42);
    let mut counts = [0usize; 7];
    for _ in 0..7000 {
        counts[r.below(7)] += 1;
        let f = r.next_f32();
        assert!((0.0..1.0).contains(&f));
    }
    assert!(
        counts.iter().all(|&c| (800..1200).contains(&c)),
        "{counts:?}"
    );
    let mut v: Vec<usize> = (0..50).collect();
    r.shuffle(&mut v);
    let mut s = v.clone();
    s.sort();
    assert_eq!(s, (0..50).collect::<Vec<_>>());
    assert_ne!(v, s);
}

#[test]
fn init_shapes_and_determinism() {
    let a = Mlp::new(&[5, 7, 3], 11);
    let b = Mlp::new(&[5, 7, 3], 11);
    let c = Mlp::new(&[5, 7, 3], 12);
    assert_eq!(bits(&a), bits(&b), "same seed, same weights bit for bit");
    assert_ne!(bits(&a), bits(&c));
    assert_eq!((a.in_dim(), a.classes(), a.layers.len()), (5, 3, 2));
    assert_eq!((a.layers[0].w.len(), a.layers[0].b.len()), (35, 7));
    assert_eq!((a.layers[1].in_dim, a.layers[1].out_dim), (7, 3));
    // He-uniform limits for the hidden layer, Xavier for the last.
    let he = (6.0f32 / 5.0).sqrt();
    let xavier = (6.0f32 / 10.0).sqrt();
    assert!(a.layers[0].w.iter().all(|w| w.abs() <= he));
    assert!(a.layers[1].w.iter().all(|w| w.abs() <= xavier));
    assert!(
        a.layers[0].w.iter().any(|w| w.abs() > xavier),
        "not all tiny"
    );
    assert!(a.layers.iter().all(|l| l.b.iter().all(|&b| b == 0.0)));
}

#[test]
fn forward_batch_matches_forward() {
    let m = Mlp::new(&[6, 9, 4], 3);
    let (xs, _) = blobs(13, 6, 4, 0.5, 1);
    let batch = m.forward_batch(&xs, 13);
    assert_eq!(batch.len(), 13 * 4);
    for i in 0..13 {
        let mut one = [0.0; 4];
        m.forward(&xs[i * 6..][..6], &mut one);
        for (a, b) in one.iter().zip(&batch[i * 4..][..4]) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} {b}");
        }
    }
}

/// Weight `i` of layer `l`, then its biases.
fn param(m: &mut Mlp, l: usize, i: usize) -> &mut f32 {
    let layer = &mut m.layers[l];
    let nw = layer.w.len();
    if i < nw {
        &mut layer.w[i]
    } else {
        &mut layer.b[i - nw]
    }
}

#[test]
fn gradient_matches_finite_differences() {
    let mut m = Mlp::new(&[3, 5, 4, 3], 5);
    // Non-zero biases so their gradients are exercised away from symmetric points.
    let mut rng = Rng::new(99);
    for l in &mut m.layers {
        for b in &mut l.b {
            *b = rng.uniform(-0.2, 0.2);
        }
    }
    let (xs, ys) = blobs(6, 3, 3, 0.7, 2);
    let (loss, g) = m.gradient(&xs, &ys);
    assert!((loss - m.loss(&xs, &ys)).abs() < 1e-6);
    let eps = 1e-2f32;
    let mut checked = 0;
    for l in 0..m.layers.len() {
        let nw = m.layers[l].w.len();
        for i in 0..nw + m.layers[l].b.len() {
            let analytic = if i < nw {
                g.layers[l].w[i]
            } else {
                g.layers[l].b[i - nw]
            };
            let mut plus = m.clone();
            let mut minus = m.clone();
            *param(&mut plus, l, i) += eps;
            *param(&mut minus, l, i) -= eps;
            let fd = (plus.loss(&xs, &ys) - minus.loss(&xs, &ys)) / (2.0 * eps);
            assert!(
                (fd - analytic).abs() <= 2e-3 + 2e-2 * analytic.abs(),
                "layer {l} param {i}: finite difference {fd}, analytic {analytic}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3);
}

#[test]
fn train_epoch_full_batch_is_one_gradient_step() {
    let m = Mlp::new(&[4, 6, 3], 8);
    let (xs, ys) = blobs(10, 4, 3, 0.5, 3);
    let (loss, g) = m.gradient(&xs, &ys);
    let mut t = m.clone();
    let lr = 0.5;
    let epoch_loss = t.train_epoch(&xs, &ys, lr, 10, 77);
    assert!((epoch_loss - loss).abs() < 1e-6, "{epoch_loss} {loss}");
    for ((a, b), gl) in m.layers.iter().zip(&t.layers).zip(&g.layers) {
        for ((w0, w1), d) in a.w.iter().zip(&b.w).zip(&gl.w) {
            assert!((w0 - lr * d - w1).abs() < 1e-6, "{w0} {w1} {d}");
        }
        for ((b0, b1), d) in a.b.iter().zip(&b.b).zip(&gl.b) {
            assert!((b0 - lr * d - b1).abs() < 1e-6);
        }
    }
}

#[test]
fn training_reduces_loss() {
    let (xs, ys) = blobs(300, 4, 3, 0.3, 4);
    let mut m = Mlp::new(&[4, 16, 3], 9);
    let before = m.loss(&xs, &ys);
    let mut last = f32::INFINITY;
    for epoch in 0..15 {
        last = m.train_epoch(&xs, &ys, 0.1, 16, 1000 + epoch);
        assert!(last.is_finite());
    }
    let after = m.loss(&xs, &ys);
    eprintln!(
        "loss {before} -> {after} (last epoch mean {last}), accuracy {}",
        m.accuracy(&xs, &ys)
    );
    assert!(after < 0.3 * before, "{before} -> {after}");
    assert!(m.accuracy(&xs, &ys) > 0.95);
}

#[test]
fn training_is_deterministic() {
    let (xs, ys) = blobs(64, 5, 3, 0.8, 5);
    let run = || {
        let mut m = Mlp::new(&[5, 8, 3], 21);
        let losses: Vec<u32> = (0..3)
            .map(|e| m.train_epoch(&xs, &ys, 0.05, 7, e).to_bits())
            .collect();
        (bits(&m), losses)
    };
    let (a, la) = run();
    let (b, lb) = run();
    assert_eq!(a, b, "same seeds, same weights bit for bit");
    assert_eq!(la, lb);
    let mut m = Mlp::new(&[5, 8, 3], 21);
    m.train_epoch(&xs, &ys, 0.05, 7, 123);
    assert_ne!(bits(&m), a[..].to_vec(), "another shuffle, other weights");
}

#[test]
fn train_epoch_edge_cases() {
    let mut m = Mlp::new(&[2, 2], 1);
    assert_eq!(m.train_epoch(&[], &[], 0.1, 4, 0), 0.0);
    // A batch larger than the data is one step over everything.
    let loss = m.train_epoch(&[1.0, 0.0, 0.0, 1.0], &[0, 1], 0.1, 100, 0);
    assert!(loss.is_finite() && loss > 0.0);
    assert_eq!(m.loss(&[], &[]), 0.0);
    assert_eq!(m.accuracy(&[], &[]), 0.0);
}

#[test]
fn quantized_accuracy_close_to_float() {
    let (xs, ys) = blobs(600, 16, 4, 1.0, 6);
    let (test_x, test_y) = (&xs[400 * 16..], &ys[400..]);
    let (train_x, train_y) = (&xs[..400 * 16], &ys[..400]);
    let mut m = Mlp::new(&[16, 32, 16, 4], 13);
    for e in 0..12 {
        m.train_epoch(train_x, train_y, 0.05, 16, e);
    }
    let float_acc = m.accuracy(test_x, test_y);
    let q = QuantMlp::from_mlp(&m, &train_x[..100 * 16], 100);
    assert_eq!(q.validate(), Ok(()));
    assert_eq!((q.in_dim(), q.classes(), q.layers.len()), (16, 4, 3));
    assert!(q.layers[0].relu && q.layers[1].relu && !q.layers[2].relu);
    assert_eq!(q.layers[1].in_scale, q.layers[0].out_scale);
    let quant_acc = q.accuracy(test_x, test_y);
    eprintln!("float accuracy {float_acc}, int8 accuracy {quant_acc}");
    assert!(float_acc > 0.9, "{float_acc}");
    assert!(
        (float_acc - quant_acc).abs() <= 0.03,
        "float {float_acc} int8 {quant_acc}"
    );

    // predict, forward and forward_batch agree; dequantized logits track the float ones.
    let n = test_y.len();
    let mut qx = vec![0i8; test_x.len()];
    q.quantize_input(test_x, &mut qx);
    let batch = q.forward_batch(&qx, n);
    let float_logits = m.forward_batch(test_x, n);
    let last = &q.layers[2];
    let acc_scale = last.in_scale * last.w_scale;
    let mut agree = 0;
    for i in 0..n {
        let mut logits = [0i32; 4];
        q.forward(&qx[i * 16..][..16], &mut logits);
        assert_eq!(&logits[..], &batch[i * 4..][..4]);
        let p = q.predict(&test_x[i * 16..][..16]);
        assert_eq!(p, agent_tensor::argmax_i32(&logits));
        let fl = &float_logits[i * 4..][..4];
        if p == agent_tensor::argmax_f32(fl) {
            agree += 1;
        }
        let range = fl.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        for (&ql, &f) in logits.iter().zip(fl) {
            assert!(
                (ql as f32 * acc_scale - f).abs() < 0.15 * range + 0.1,
                "{ql} {f}"
            );
        }
    }
    assert!(agree as f32 >= 0.97 * n as f32, "{agree} of {n} agree");
}

#[test]
fn quant_forward_is_reproducible() {
    let (xs, ys) = blobs(50, 8, 3, 0.5, 7);
    let mut m = Mlp::new(&[8, 12, 3], 4);
    m.train_epoch(&xs, &ys, 0.1, 8, 0);
    let a = QuantMlp::from_mlp(&m, &xs, 50);
    let b = QuantMlp::from_mlp(&m, &xs, 50);
    assert_eq!(a, b);
    let mut qx = vec![0i8; xs.len()];
    a.quantize_input(&xs, &mut qx);
    assert_eq!(a.forward_batch(&qx, 50), b.forward_batch(&qx, 50));
    // Requantized hidden activations stay in their clamp range.
    assert!(a.layers[0].requant.multiplier >= 1 << 30);
}

#[test]
fn quant_validate_rejects_broken_models() {
    let m = Mlp::new(&[4, 5, 2], 1);
    let (xs, _) = blobs(8, 4, 2, 0.5, 8);
    let q = QuantMlp::from_mlp(&m, &xs, 8);
    assert_eq!(q.validate(), Ok(()));
    let broken = |f: &dyn Fn(&mut QuantMlp)| {
        let mut c = q.clone();
        f(&mut c);
        c.validate()
    };
    assert_eq!(broken(&|c| c.layers.clear()), Err(TensorError::Empty));
    assert_eq!(broken(&|c| c.input_scale = 0.0), Err(TensorError::BadScale));
    assert_eq!(
        broken(&|c| c.layers[1].w_scale = f32::NAN),
        Err(TensorError::BadScale)
    );
    assert_eq!(
        broken(&|c| c.layers[0].out_scale = -1.0),
        Err(TensorError::BadScale)
    );
    assert_eq!(
        broken(&|c| c.layers[1].in_scale = f32::INFINITY),
        Err(TensorError::BadScale)
    );
    assert_eq!(
        broken(&|c| c.layers[1].in_dim = 4),
        Err(TensorError::ShapeMismatch)
    );
    assert_eq!(
        broken(&|c| c.layers[0].w.pop().map_or((), drop)),
        Err(TensorError::ShapeMismatch)
    );
    assert_eq!(
        broken(&|c| c.layers[1].bias.push(0)),
        Err(TensorError::ShapeMismatch)
    );
    assert_eq!(
        broken(&|c| c.layers[0].out_dim = 0),
        Err(TensorError::BadShape)
    );
    let bad_requant = Requant {
        multiplier: 5,
        shift: 0,
    };
    assert_eq!(
        broken(&|c| c.layers[0].requant = bad_requant),
        Err(TensorError::BadRequant)
    );
    let bad_shift = Requant {
        multiplier: 1 << 30,
        shift: 40,
    };
    assert_eq!(
        broken(&|c| c.layers[0].requant = bad_shift),
        Err(TensorError::BadRequant)
    );
}

#[test]
fn from_mlp_with_all_zero_calibration() {
    let m = Mlp::new(&[3, 4, 2], 2);
    let q = QuantMlp::from_mlp(&m, &[0.0; 6], 2);
    assert_eq!(q.input_scale, 1.0);
    assert_eq!(q.validate(), Ok(()));
    assert_eq!(q.predict(&[0.0; 3]), 0);
}
