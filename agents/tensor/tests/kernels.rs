//! Every vector kernel against the scalar reference, and the elementary functions,
//! quantization and requantization against `f64` references.
//!
//! The explicit paths (`simd::sse2`, `simd::avx2`) and the dispatching `simd` functions
//! are all checked; this file never touches `force_scalar` (see `dispatch.rs`).

use agent_tensor::{
    Conv2dShape, Requant, Rng, TensorError, exp_f32, features, ln_f32, quantize_symmetric,
    quantize_with_scale, scalar, simd,
};

const SIZES: [usize; 17] = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 65, 100];

fn rand_f32(rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.uniform(-2.0, 2.0)).collect()
}

fn rand_i8(rng: &mut Rng, len: usize) -> Vec<i8> {
    (0..len).map(|_| rng.next_u64() as i8).collect()
}

/// Random `(m, k, n)` from `SIZES`, plus every combination of a few odd sizes.
fn shapes() -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    for &m in &[1, 3, 5] {
        for &k in &[1, 3, 7, 17, 33, 65] {
            for &n in &[1, 3, 7, 17, 33, 65] {
                v.push((m, k, n));
            }
        }
    }
    let mut rng = Rng::new(7);
    for _ in 0..60 {
        let pick = |rng: &mut Rng| SIZES[rng.below(SIZES.len())];
        v.push((pick(&mut rng), pick(&mut rng), pick(&mut rng)));
    }
    v.push((0, 5, 3));
    v.push((2, 0, 3));
    v.push((2, 5, 0));
    v
}

fn avx2() -> bool {
    let f = features();
    f.avx2 && f.fma
}

/// `|got - want| <= (k + 4) eps sum|a||b|` element-wise.
fn assert_close(got: &[f32], want: &[f32], bound: &[f32], k: usize, what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, ((&g, &w), &s)) in got.iter().zip(want).zip(bound).enumerate() {
        let tol = (k as f32 + 4.0) * f32::EPSILON * s + 1e-30;
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w}, tol {tol}"
        );
    }
}

type MatF32 = fn(&[f32], &[f32], &mut [f32], usize, usize, usize);
type MatI8 = fn(&[i8], &[i8], &mut [i32], usize, usize, usize);

fn f32_paths_bt() -> Vec<(&'static str, MatF32)> {
    let mut v: Vec<(&'static str, MatF32)> = vec![
        ("simd", simd::matmul_bt_f32),
        ("sse2", simd::sse2::matmul_bt_f32),
    ];
    if avx2() {
        v.push(("avx2", |a, b, o, m, k, n| {
            // SAFETY: `avx2()` checked the CPU and OS support.
            unsafe { simd::avx2::matmul_bt_f32(a, b, o, m, k, n) }
        }));
    }
    v
}

fn f32_paths() -> Vec<(&'static str, MatF32)> {
    let mut v: Vec<(&'static str, MatF32)> =
        vec![("simd", simd::matmul_f32), ("sse2", simd::sse2::matmul_f32)];
    if avx2() {
        v.push(("avx2", |a, b, o, m, k, n| {
            // SAFETY: `avx2()` checked the CPU and OS support.
            unsafe { simd::avx2::matmul_f32(a, b, o, m, k, n) }
        }));
    }
    v
}

fn i8_paths() -> Vec<(&'static str, MatI8)> {
    let mut v: Vec<(&'static str, MatI8)> = vec![
        ("simd", simd::matmul_i8_i32),
        ("sse2", simd::sse2::matmul_i8_i32),
    ];
    if avx2() {
        v.push(("avx2", |a, b, o, m, k, n| {
            // SAFETY: `avx2()` checked the CPU and OS support.
            unsafe { simd::avx2::matmul_i8_i32(a, b, o, m, k, n) }
        }));
    }
    v
}

#[test]
fn features_detected() {
    let f = features();
    assert!(f.sse2, "the host target always has SSE2");
    assert_eq!(f, features(), "cached");
    eprintln!("features: {f:?}");
}

#[test]
fn matmul_bt_f32_matches_scalar() {
    let mut rng = Rng::new(1);
    for (m, k, n) in shapes() {
        let a = rand_f32(&mut rng, m * k);
        let bt = rand_f32(&mut rng, n * k);
        let mut want = vec![0.0; m * n];
        scalar::matmul_bt_f32(&a, &bt, &mut want, m, k, n);
        let abs_a: Vec<f32> = a.iter().map(|v| v.abs()).collect();
        let abs_b: Vec<f32> = bt.iter().map(|v| v.abs()).collect();
        let mut bound = vec![0.0; m * n];
        scalar::matmul_bt_f32(&abs_a, &abs_b, &mut bound, m, k, n);
        for (name, f) in f32_paths_bt() {
            let mut got = vec![f32::NAN; m * n];
            f(&a, &bt, &mut got, m, k, n);
            assert_close(
                &got,
                &want,
                &bound,
                k,
                &format!("matmul_bt {name} {m}x{k}x{n}"),
            );
        }
    }
}

#[test]
fn matmul_f32_matches_scalar() {
    let mut rng = Rng::new(2);
    for (m, k, n) in shapes() {
        let a = rand_f32(&mut rng, m * k);
        let b = rand_f32(&mut rng, k * n);
        let mut want = vec![0.0; m * n];
        scalar::matmul_f32(&a, &b, &mut want, m, k, n);
        let abs_a: Vec<f32> = a.iter().map(|v| v.abs()).collect();
        let abs_b: Vec<f32> = b.iter().map(|v| v.abs()).collect();
        let mut bound = vec![0.0; m * n];
        scalar::matmul_f32(&abs_a, &abs_b, &mut bound, m, k, n);
        for (name, f) in f32_paths() {
            let mut got = vec![f32::NAN; m * n];
            f(&a, &b, &mut got, m, k, n);
            assert_close(
                &got,
                &want,
                &bound,
                k,
                &format!("matmul {name} {m}x{k}x{n}"),
            );
        }
    }
}

#[test]
fn matmul_bt_and_matmul_agree() {
    let mut rng = Rng::new(3);
    let (m, k, n) = (5, 9, 7);
    let a = rand_f32(&mut rng, m * k);
    let b = rand_f32(&mut rng, k * n);
    let mut bt = vec![0.0; n * k];
    for p in 0..k {
        for j in 0..n {
            bt[j * k + p] = b[p * n + j];
        }
    }
    let mut x = vec![0.0; m * n];
    let mut y = vec![0.0; m * n];
    scalar::matmul_f32(&a, &b, &mut x, m, k, n);
    scalar::matmul_bt_f32(&a, &bt, &mut y, m, k, n);
    assert_eq!(x, y, "same summation order");
}

#[test]
fn matmul_i8_i32_exact() {
    let mut rng = Rng::new(4);
    let mut all = shapes();
    all.push((2, 1000, 5));
    all.push((1, 4099, 9));
    for (m, k, n) in all {
        let a = rand_i8(&mut rng, m * k);
        let bt = rand_i8(&mut rng, n * k);
        let mut want = vec![0; m * n];
        scalar::matmul_i8_i32(&a, &bt, &mut want, m, k, n);
        for (name, f) in i8_paths() {
            let mut got = vec![i32::MIN; m * n];
            f(&a, &bt, &mut got, m, k, n);
            assert_eq!(got, want, "matmul_i8 {name} {m}x{k}x{n}");
        }
    }
}

#[test]
fn matmul_i8_extremes_exact() {
    // All -128: the largest products; pairs of them are the worst case for pmaddwd.
    for k in [1, 15, 16, 17, 32, 33, 4097] {
        let a = vec![-128i8; 3 * k];
        let bt = vec![-128i8; 5 * k];
        let mut want = vec![0; 15];
        scalar::matmul_i8_i32(&a, &bt, &mut want, 3, k, 5);
        assert_eq!(want[0], 16384 * k as i32);
        for (name, f) in i8_paths() {
            let mut got = vec![0; 15];
            f(&a, &bt, &mut got, 3, k, 5);
            assert_eq!(got, want, "{name} k={k}");
        }
    }
}

#[test]
fn matmul_rejects_bad_lengths() {
    let r = std::panic::catch_unwind(|| {
        let mut out = vec![0.0; 4];
        simd::matmul_bt_f32(&[0.0; 6], &[0.0; 5], &mut out, 2, 3, 2);
    });
    assert!(r.is_err());
    let r = std::panic::catch_unwind(|| {
        let mut out = vec![0; 3];
        simd::matmul_i8_i32(&[0; 6], &[0; 6], &mut out, 2, 3, 2);
    });
    assert!(r.is_err());
}

#[test]
fn elementwise_match_scalar() {
    let mut rng = Rng::new(5);
    for &len in &SIZES {
        for &cols in &[1usize, 3, 4, 7, 16, 17] {
            let bias = rand_f32(&mut rng, cols);
            let x = rand_f32(&mut rng, len * cols);
            let mut want = x.clone();
            scalar::add_bias_f32(&mut want, &bias);
            for f in [simd::add_bias_f32, simd::sse2::add_bias_f32] {
                let mut got = x.clone();
                f(&mut got, &bias);
                assert_eq!(got, want, "add_bias {len}x{cols}");
            }
        }
        let mut x = rand_f32(&mut rng, len);
        x[0] = -0.0;
        if len > 2 {
            x[1] = f32::NAN;
            x[2] = 0.0;
        }
        let mut want = x.clone();
        scalar::relu_f32(&mut want);
        for f in [simd::relu_f32, simd::sse2::relu_f32] {
            let mut got = x.clone();
            f(&mut got);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "relu {len}");
        }
        assert!(
            want.iter()
                .all(|&v| v >= 0.0 && v.to_bits() != (-0.0f32).to_bits())
        );
    }
}

#[test]
fn softmax_sums_to_one_and_matches() {
    let mut rng = Rng::new(6);
    for &len in &SIZES {
        for scale in [1.0f32, 10.0, 100.0] {
            let x: Vec<f32> = rand_f32(&mut rng, len).iter().map(|v| v * scale).collect();
            let mut want = x.clone();
            scalar::softmax_f32(&mut want);
            let sum: f32 = want.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "sum {sum}");
            for f in [simd::softmax_f32, simd::sse2::softmax_f32] {
                let mut got = x.clone();
                f(&mut got);
                let s: f32 = got.iter().sum();
                assert!((s - 1.0).abs() < 1e-5, "sum {s}");
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-6 * w.max(1e-30) + 1e-30 + 2e-7 * w,
                        "{g} {w}"
                    );
                }
            }
        }
    }
    // Large logits: stable, no overflow.
    let mut x = vec![1000.0, -1000.0, 999.0, 0.0, 1000.0];
    simd::softmax_f32(&mut x);
    assert!(x.iter().all(|v| v.is_finite()));
    assert!((x[0] - x[4]).abs() < 1e-7 && x[0] > 0.4 && x[1] == 0.0);
    let mut empty: [f32; 0] = [];
    simd::softmax_f32(&mut empty);
}

#[test]
fn cross_entropy_matches_f64() {
    let mut rng = Rng::new(7);
    for &len in &SIZES {
        let x: Vec<f32> = rand_f32(&mut rng, len).iter().map(|v| v * 5.0).collect();
        let label = rng.below(len);
        let max = x
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, |m, v| m.max(v as f64));
        let lse = x.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max;
        let want = lse - x[label] as f64;
        for f in [
            scalar::cross_entropy,
            simd::cross_entropy,
            simd::sse2::cross_entropy,
        ] {
            let got = f(&x, label) as f64;
            assert!(
                (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                "{got} {want}"
            );
        }
    }
    assert!(scalar::cross_entropy(&[0.0, 0.0], 1) - core::f32::consts::LN_2 < 1e-7);
}

#[test]
fn argmax_first_max_wins() {
    assert_eq!(scalar::argmax_f32(&[1.0, 3.0, 3.0, 2.0]), 1);
    assert_eq!(simd::argmax_f32(&[1.0, 3.0, 3.0, 2.0]), 1);
    assert_eq!(scalar::argmax_f32(&[-1.0, f32::NAN, -0.5]), 2);
    assert_eq!(scalar::argmax_i32(&[5, -2, 7, 7, 1]), 2);
    assert_eq!(simd::argmax_i32(&[i32::MIN, i32::MIN]), 0);
    assert_eq!(scalar::argmax_f32(&[]), 0);
    let mut rng = Rng::new(8);
    for &len in &SIZES {
        let x = rand_f32(&mut rng, len);
        let best = (0..len).fold(0, |b, i| if x[i] > x[b] { i } else { b });
        assert_eq!(simd::argmax_f32(&x), best);
    }
}

#[test]
fn exp_accuracy() {
    let mut worst = 0.0f64;
    let mut x = -103.0f32;
    while x < 88.7 {
        for dx in [0.0f32, 1e-3, 0.3466, 0.5] {
            let v = x + dx;
            let want = (v as f64).exp();
            let got = exp_f32(v) as f64;
            if want > 1.2e-38 && want < 3.4e38 {
                let rel = ((got - want) / want).abs();
                worst = worst.max(rel);
            } else if want <= 1.2e-38 {
                // Subnormal results: within a few units of the smallest subnormal.
                assert!((got - want).abs() < 4.0 * 1.4e-45 + want * 1e-6, "exp({v})");
            }
        }
        x += 0.0137;
    }
    assert!(worst < 1e-6, "worst relative error {worst}");
    eprintln!("exp worst relative error {worst:e}");
    assert_eq!(exp_f32(0.0), 1.0);
    assert_eq!(exp_f32(89.0), f32::INFINITY);
    assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
    assert_eq!(exp_f32(-200.0), 0.0);
    assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
    assert!(exp_f32(f32::NAN).is_nan());
    assert!(exp_f32(88.72).is_finite());
}

#[test]
fn ln_accuracy() {
    let mut worst = 0.0f64;
    let mut rng = Rng::new(9);
    let mut check = |v: f32| {
        let want = (v as f64).ln();
        let got = ln_f32(v) as f64;
        let err = (got - want).abs() / want.abs().max(1e-30);
        worst = worst.max(err);
    };
    for _ in 0..20000 {
        // Log-uniform over the normal range and beyond into subnormals.
        let e = rng.uniform(-148.0, 127.0);
        check(exp2(e));
    }
    for i in 1..2000 {
        check(1.0 + i as f32 * 1e-4);
        check(1.0 - i as f32 * 1e-5);
    }
    for v in [
        1.0 + f32::EPSILON,
        1.0 - f32::EPSILON / 2.0,
        f32::MAX,
        f32::MIN_POSITIVE,
        1e-45,
    ] {
        check(v);
    }
    assert!(worst < 1e-6, "worst relative error {worst}");
    eprintln!("ln worst relative error {worst:e}");
    assert_eq!(ln_f32(1.0), 0.0);
    assert_eq!(ln_f32(0.0), f32::NEG_INFINITY);
    assert_eq!(ln_f32(f32::INFINITY), f32::INFINITY);
    assert!(ln_f32(-1.0).is_nan());
    assert!(ln_f32(f32::NAN).is_nan());
    assert!((ln_f32(exp_f32(3.5)) - 3.5).abs() < 1e-6);
}

fn exp2(e: f32) -> f32 {
    (e as f64).exp2() as f32
}

fn rand_conv_shape(rng: &mut Rng) -> Conv2dShape {
    loop {
        let s = Conv2dShape {
            c_in: 1 + rng.below(4),
            h: 1 + rng.below(9),
            w: 1 + rng.below(9),
            c_out: 1 + rng.below(6),
            kh: 1 + rng.below(5),
            kw: 1 + rng.below(5),
            stride: 1 + rng.below(3),
            pad: rng.below(3),
        };
        if s.validate().is_ok() {
            return s;
        }
    }
}

#[test]
fn conv2d_matches_scalar() {
    let mut rng = Rng::new(10);
    for _ in 0..150 {
        let s = rand_conv_shape(&mut rng);
        let (oh, ow) = (s.out_h(), s.out_w());
        assert_eq!(oh, (s.h + 2 * s.pad - s.kh) / s.stride + 1);
        let input = rand_f32(&mut rng, s.c_in * s.h * s.w);
        let weights = rand_f32(&mut rng, s.c_out * s.c_in * s.kh * s.kw);
        let bias = rand_f32(&mut rng, s.c_out);
        let want = want_f32(&input, &weights, &bias, &s);
        assert_eq!(want.len(), s.c_out * oh * ow);
        // Bound: the same convolution of magnitudes.
        let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
        let mut bound = vec![0.0; want.len()];
        scalar::conv2d_f32(&abs(&input), &abs(&weights), &abs(&bias), &s, &mut bound);
        let k = s.c_in * s.kh * s.kw;
        let mut got = vec![f32::NAN; want.len()];
        simd::conv2d_f32(&input, &weights, &bias, &s, &mut got);
        assert_close(&got, &want, &bound, k, &format!("conv2d_f32 simd {s:?}"));
        got.fill(f32::NAN);
        simd::sse2::conv2d_f32(&input, &weights, &bias, &s, &mut got);
        assert_close(&got, &want, &bound, k, &format!("conv2d_f32 sse2 {s:?}"));

        let qi = rand_i8(&mut rng, input.len());
        let qw = rand_i8(&mut rng, weights.len());
        let qb: Vec<i32> = (0..s.c_out).map(|_| rng.next_u64() as i32 >> 12).collect();
        let mut want = vec![0; s.c_out * oh * ow];
        scalar::conv2d_i8(&qi, &qw, &qb, &s, &mut want);
        let mut got = vec![0; want.len()];
        simd::conv2d_i8(&qi, &qw, &qb, &s, &mut got);
        assert_eq!(got, want, "conv2d_i8 simd {s:?}");
        got.fill(0);
        simd::sse2::conv2d_i8(&qi, &qw, &qb, &s, &mut got);
        assert_eq!(got, want, "conv2d_i8 sse2 {s:?}");
        if avx2() {
            got.fill(0);
            // SAFETY: `avx2()` checked the CPU and OS support.
            unsafe { simd::avx2::conv2d_i8(&qi, &qw, &qb, &s, &mut got) };
            assert_eq!(got, want, "conv2d_i8 avx2 {s:?}");
            let mut got = vec![f32::NAN; bound.len()];
            // SAFETY: as above.
            unsafe { simd::avx2::conv2d_f32(&input, &weights, &bias, &s, &mut got) };
            let want = want_f32(&input, &weights, &bias, &s);
            assert_close(&got, &want, &bound, k, &format!("conv2d_f32 avx2 {s:?}"));
        }
    }
}

fn want_f32(input: &[f32], weights: &[f32], bias: &[f32], s: &Conv2dShape) -> Vec<f32> {
    let mut out = vec![0.0; s.output_len()];
    scalar::conv2d_f32(input, weights, bias, s, &mut out);
    out
}

#[test]
fn conv2d_known_values() {
    // 1 channel 3x3 input, 2x2 kernel of ones, stride 1, pad 0: sums of 2x2 windows.
    let s = Conv2dShape {
        c_in: 1,
        h: 3,
        w: 3,
        c_out: 1,
        kh: 2,
        kw: 2,
        stride: 1,
        pad: 0,
    };
    let input: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let mut out = vec![0.0; 4];
    simd::conv2d_f32(&input, &[1.0; 4], &[0.5], &s, &mut out);
    assert_eq!(out, [12.5, 16.5, 24.5, 28.5]);
    // Padding 1, 3x3 kernel picking the centre: the identity.
    let s = Conv2dShape {
        c_in: 1,
        h: 3,
        w: 3,
        c_out: 1,
        kh: 3,
        kw: 3,
        stride: 1,
        pad: 1,
    };
    let mut k = [0.0; 9];
    k[4] = 1.0;
    let mut out = vec![0.0; 9];
    scalar::conv2d_f32(&input, &k, &[0.0], &s, &mut out);
    assert_eq!(out, input);
    // Stride 2 with padding 1 over 3x3: corners.
    let s = Conv2dShape { stride: 2, ..s };
    assert_eq!((s.out_h(), s.out_w()), (2, 2));
    let mut out = vec![0.0; 4];
    simd::conv2d_f32(&input, &k, &[0.0], &s, &mut out);
    assert_eq!(out, [1.0, 3.0, 7.0, 9.0]);
}

#[test]
fn conv2d_shape_validation() {
    let ok = Conv2dShape {
        c_in: 1,
        h: 4,
        w: 4,
        c_out: 2,
        kh: 3,
        kw: 3,
        stride: 1,
        pad: 0,
    };
    assert_eq!(ok.validate(), Ok(()));
    assert_eq!((ok.out_h(), ok.out_w()), (2, 2));
    assert_eq!(
        Conv2dShape { stride: 0, ..ok }.validate(),
        Err(TensorError::BadShape)
    );
    assert_eq!(
        Conv2dShape { kh: 5, ..ok }.validate(),
        Err(TensorError::BadShape)
    );
    assert_eq!(
        Conv2dShape {
            kh: 5,
            pad: 1,
            ..ok
        }
        .validate(),
        Ok(())
    );
    assert_eq!(
        Conv2dShape { c_in: 0, ..ok }.validate(),
        Err(TensorError::BadShape)
    );
    let huge = Conv2dShape {
        c_in: usize::MAX / 2,
        ..ok
    };
    assert_eq!(huge.validate(), Err(TensorError::BadShape));
    assert_eq!(Conv2dShape { kw: 9, ..ok }.out_w(), 0);
}

#[test]
fn quantize_rules() {
    let (q, s) = quantize_symmetric(&[0.0, 1.27, -2.54, 0.005, -0.015, 0.01]);
    assert!((s - 0.02).abs() < 1e-9);
    assert_eq!(q, [0, 64, -127, 0, -1, 1]); // 63.5 -> 64, -0.75 -> -1, 0.5 -> 1 (away from 0)
    let (q, s) = quantize_symmetric(&[0.0; 4]);
    assert_eq!((q, s), (vec![0; 4], 1.0));
    let (q, s) = quantize_symmetric(&[]);
    assert_eq!((q.len(), s), (0, 1.0));
    let mut out = [0i8; 5];
    quantize_with_scale(&[1000.0, -1000.0, 0.5, -0.5, f32::NAN], 1.0, &mut out);
    assert_eq!(out, [127, -127, 1, -1, 0]);
    let mut out = [0i8; 2];
    quantize_with_scale(&[0.499_999_97, 2.5], 1.0, &mut out);
    assert_eq!(out, [0, 3]);
    // Round trip within half a step.
    let mut rng = Rng::new(11);
    let x = rand_f32(&mut rng, 1000);
    let (q, s) = quantize_symmetric(&x);
    for (&v, &c) in x.iter().zip(&q) {
        assert!((v - c as f32 * s).abs() <= 0.5 * s * (1.0 + 1e-6));
    }
    assert!(q.iter().all(|&c| c != -128));
}

#[test]
fn requant_matches_f64() {
    let mut rng = Rng::new(12);
    let mut off_by_one = 0;
    for i in 0..20000 {
        let m = if i % 4 == 0 {
            rng.uniform(0.0, 4.0) as f64 + 1e-3
        } else {
            (rng.uniform(-20.0, 0.0) as f64).exp2()
        };
        let r = Requant::from_real(m);
        assert!(r.is_valid());
        assert!(r.multiplier >= 1 << 30, "{m} {r:?}");
        assert!(((r.to_real() - m) / m).abs() < 1e-9);
        let limit = ((1u64 << 30) as f64 / m).min(i32::MAX as f64);
        let acc = (rng.uniform(-1.0, 1.0) as f64 * limit) as i32;
        let want = (acc as f64 * m).round();
        let got = r.apply(acc) as f64;
        assert!(
            (got - want).abs() <= 1.0,
            "m={m} acc={acc} got={got} want={want}"
        );
        if got != want {
            off_by_one += 1;
        }
    }
    // Off by one only from the 31-bit multiplier and the double rounding near halves.
    assert!(off_by_one < 2000, "{off_by_one} of 20000 off by one");
    eprintln!("requant: {off_by_one} of 20000 off by one");
    // Exact cases. gemmlowp's high multiply rounds a negative tie up (-1.5 -> -1) while
    // its rounding shift rounds ties away from zero (-1.5 -> -2): TFLite's results.
    let half = Requant::from_real(0.5);
    assert_eq!(
        [half.apply(3), half.apply(-3), half.apply(4), half.apply(0)],
        [2, -1, 2, 0]
    );
    let r = Requant::from_real(0.25);
    assert_eq!([r.apply(100), r.apply(-6), r.apply(6)], [25, -2, 2]);
    assert_eq!(Requant::from_real(0.0).apply(12345), 0);
    assert_eq!(Requant::from_real(3.0).apply(i32::MAX), i32::MAX);
    assert_eq!(Requant::from_real(3.0).apply(i32::MIN), i32::MIN);
    assert_eq!(Requant::from_real(2.0).apply(1 << 30), i32::MAX);
    assert_eq!(Requant::from_real(1.5).apply(-(1 << 30)), -(3 << 29));
    assert_eq!(Requant::from_real(2.0).apply(-(1 << 30)), i32::MIN);
    assert_eq!(Requant::from_real(1.5).apply(1 << 29), 3 << 28);
}
