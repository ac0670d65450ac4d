//! The crate-level dispatch and `force_scalar`.
//!
//! `force_scalar` is global, so everything that flips it is one test in its own binary.

use agent_tensor::{Conv2dShape, Mlp, QuantMlp, Rng, force_scalar, scalar, scalar_forced, simd};

fn rand_f32(rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

fn rand_i8(rng: &mut Rng, len: usize) -> Vec<i8> {
    (0..len).map(|_| rng.next_u64() as i8).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Every crate-level kernel's output, as bits, for fixed inputs.
fn run_all() -> Vec<Vec<u32>> {
    let mut rng = Rng::new(3);
    let (m, k, n) = (5, 37, 19);
    let a = rand_f32(&mut rng, m * k);
    let b = rand_f32(&mut rng, k * n);
    let mut out = vec![0.0; m * n];
    let mut res = Vec::new();
    agent_tensor::matmul_f32(&a, &b, &mut out, m, k, n);
    res.push(bits(&out));
    agent_tensor::matmul_bt_f32(&a, &b, &mut out, m, k, n);
    res.push(bits(&out));
    let bias = rand_f32(&mut rng, n);
    agent_tensor::add_bias_f32(&mut out, &bias);
    agent_tensor::relu_f32(&mut out);
    res.push(bits(&out));
    let mut row = rand_f32(&mut rng, 23);
    res.push(vec![agent_tensor::cross_entropy(&row, 5).to_bits()]);
    agent_tensor::softmax_f32(&mut row);
    res.push(bits(&row));
    res.push(vec![
        agent_tensor::argmax_f32(&row) as u32,
        agent_tensor::argmax_i32(&[1, 9, 9]) as u32,
    ]);
    let qa = rand_i8(&mut rng, m * k);
    let qb = rand_i8(&mut rng, n * k);
    let mut qo = vec![0; m * n];
    agent_tensor::matmul_i8_i32(&qa, &qb, &mut qo, m, k, n);
    res.push(qo.iter().map(|&v| v as u32).collect());
    let s = Conv2dShape {
        c_in: 3,
        h: 7,
        w: 6,
        c_out: 4,
        kh: 3,
        kw: 2,
        stride: 2,
        pad: 1,
    };
    let input = rand_f32(&mut rng, s.input_len());
    let w = rand_f32(&mut rng, s.weights_len());
    let cb = rand_f32(&mut rng, s.c_out);
    let mut co = vec![0.0; s.output_len()];
    agent_tensor::conv2d_f32(&input, &w, &cb, &s, &mut co);
    res.push(bits(&co));
    let qi = rand_i8(&mut rng, s.input_len());
    let qw = rand_i8(&mut rng, s.weights_len());
    let mut qc = vec![0; s.output_len()];
    agent_tensor::conv2d_i8(&qi, &qw, &[1, -2, 3, -4], &s, &mut qc);
    res.push(qc.iter().map(|&v| v as u32).collect());
    res
}

/// The same computations through `scalar::` (or `simd::`) directly.
fn run_module(use_scalar: bool) -> Vec<Vec<u32>> {
    macro_rules! call {
        ($f:ident($($a:expr),*)) => {
            if use_scalar { scalar::$f($($a),*) } else { simd::$f($($a),*) }
        };
    }
    let mut rng = Rng::new(3);
    let (m, k, n) = (5, 37, 19);
    let a = rand_f32(&mut rng, m * k);
    let b = rand_f32(&mut rng, k * n);
    let mut out = vec![0.0; m * n];
    let mut res = Vec::new();
    call!(matmul_f32(&a, &b, &mut out, m, k, n));
    res.push(bits(&out));
    call!(matmul_bt_f32(&a, &b, &mut out, m, k, n));
    res.push(bits(&out));
    let bias = rand_f32(&mut rng, n);
    call!(add_bias_f32(&mut out, &bias));
    call!(relu_f32(&mut out));
    res.push(bits(&out));
    let mut row = rand_f32(&mut rng, 23);
    res.push(vec![call!(cross_entropy(&row, 5)).to_bits()]);
    call!(softmax_f32(&mut row));
    res.push(bits(&row));
    res.push(vec![
        call!(argmax_f32(&row)) as u32,
        call!(argmax_i32(&[1, 9, 9])) as u32,
    ]);
    let qa = rand_i8(&mut rng, m * k);
    let qb = rand_i8(&mut rng, n * k);
    let mut qo = vec![0; m * n];
    call!(matmul_i8_i32(&qa, &qb, &mut qo, m, k, n));
    res.push(qo.iter().map(|&v| v as u32).collect());
    let s = Conv2dShape {
        c_in: 3,
        h: 7,
        w: 6,
        c_out: 4,
        kh: 3,
        kw: 2,
        stride: 2,
        pad: 1,
    };
    let input = rand_f32(&mut rng, s.input_len());
    let w = rand_f32(&mut rng, s.weights_len());
    let cb = rand_f32(&mut rng, s.c_out);
    let mut co = vec![0.0; s.output_len()];
    call!(conv2d_f32(&input, &w, &cb, &s, &mut co));
    res.push(bits(&co));
    let qi = rand_i8(&mut rng, s.input_len());
    let qw = rand_i8(&mut rng, s.weights_len());
    let mut qc = vec![0; s.output_len()];
    call!(conv2d_i8(&qi, &qw, &[1, -2, 3, -4], &s, &mut qc));
    res.push(qc.iter().map(|&v| v as u32).collect());
    res
}

/// The integer forward pass written out with plain loops, as an independent reference.
fn quant_reference(q: &QuantMlp, x: &[i8]) -> Vec<i32> {
    let mut h: Vec<i32> = x.iter().map(|&v| v.into()).collect();
    for (l, d) in q.layers.iter().enumerate() {
        let mut acc: Vec<i32> = (0..d.out_dim)
            .map(|j| {
                (0..d.in_dim)
                    .map(|i| h[i] * i32::from(d.w[j * d.in_dim + i]))
                    .sum::<i32>()
            })
            .collect();
        for (a, b) in acc.iter_mut().zip(&d.bias) {
            *a += b;
        }
        if l + 1 == q.layers.len() {
            return acc;
        }
        let lo = if d.relu { 0 } else { -127 };
        h = acc
            .iter()
            .map(|&a| d.requant.apply(a).clamp(lo, 127))
            .collect();
    }
    h
}

#[test]
fn force_scalar_switches_every_kernel() {
    assert!(!scalar_forced(), "off by default");
    let vector = run_all();
    assert_eq!(vector, run_module(false), "default: the simd module");
    force_scalar(true);
    assert!(scalar_forced());
    let reference = run_all();
    assert_eq!(reference, run_module(true), "forced: the scalar module");
    // Integer kernels and argmax agree bit for bit across the switch; float ones differ
    // at most by rounding (checked against scalar in kernels.rs).
    for i in [5, 6, 8] {
        assert_eq!(vector[i], reference[i], "result {i}");
    }

    // The quantized model: identical logits on both paths and against plain loops.
    let mut rng = Rng::new(4);
    let xs = rand_f32(&mut rng, 40 * 20);
    let ys: Vec<u8> = (0..40).map(|_| rng.below(5) as u8).collect();
    let mut m = Mlp::new(&[20, 24, 5], 6);
    m.train_epoch(&xs, &ys, 0.05, 8, 1);
    let q = QuantMlp::from_mlp(&m, &xs, 40);
    let mut qx = vec![0i8; xs.len()];
    q.quantize_input(&xs, &mut qx);
    let scalar_logits = q.forward_batch(&qx, 40);
    let scalar_loss = m.clone().train_epoch(&xs, &ys, 0.05, 8, 2);
    force_scalar(false);
    assert_eq!(q.forward_batch(&qx, 40), scalar_logits);
    let want: Vec<i32> = (0..40)
        .flat_map(|i| quant_reference(&q, &qx[i * 20..][..20]))
        .collect();
    assert_eq!(scalar_logits, want);
    let simd_loss = m.clone().train_epoch(&xs, &ys, 0.05, 8, 2);
    assert!(
        (simd_loss - scalar_loss).abs() < 1e-5,
        "{simd_loss} {scalar_loss}"
    );
}
