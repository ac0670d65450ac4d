//! AIMG: round trip, and every kind of corruption refused with the right error.

use model_image::{
    DESCRIPTOR_LEN, DIGEST_OFFSET, HEADER_LEN, ImageError, ImageFormat, LayerKind, LayerSpec,
    MAX_LAYERS, ScaleField, parse, write,
};

const M: ImageFormat = ImageFormat::Model;

/// A dense layer with deterministic weights and biases.
fn dense(in_dim: u32, out_dim: u32, relu: bool, seed: i32) -> LayerSpec {
    let n = (in_dim * out_dim) as usize;
    LayerSpec {
        kind: LayerKind::Dense,
        relu,
        in_dim,
        out_dim,
        w_scale: 0.02,
        in_scale: 0.5,
        out_scale: 0.25,
        requant_multiplier: 1_234_567 + seed,
        requant_shift: -7,
        weights: (0..n)
            .map(|i| ((i as i32 * 37 + seed) % 256 - 128) as i8)
            .collect(),
        bias: (0..out_dim as i32).map(|o| o * 1000 - 3 + seed).collect(),
    }
}

/// A small two-layer image: 5 -> 3 (ReLU) -> 2. 3*5 = 15 weights, so the
/// first layer's biases start after padding.
fn small_specs() -> Vec<LayerSpec> {
    vec![dense(5, 3, true, 1), dense(3, 2, false, 2)]
}

fn small() -> Vec<u8> {
    write(0.125, &small_specs())
}

/// The offset of field `off` of descriptor `layer`.
fn desc(layer: usize, off: usize) -> usize {
    HEADER_LEN + layer * DESCRIPTOR_LEN + off
}

fn put_u32(image: &mut [u8], at: usize, v: u32) {
    image[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u16(image: &mut [u8], at: usize, v: u16) {
    image[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn round_trip() {
    let specs = small_specs();
    let image = write(0.125, &specs);
    let m = parse(&image).expect("a written image parses");
    assert_eq!(m.layer_count(), 2);
    assert_eq!(m.input_scale(), 0.125);
    assert_eq!(m.input_dim(), 5);
    assert_eq!(m.output_dim(), 2);
    assert_eq!(m.layers().count(), 2);
    for (layer, spec) in m.layers().zip(&specs) {
        assert_eq!(layer.kind, spec.kind);
        assert_eq!(layer.relu, spec.relu);
        assert_eq!(layer.in_dim, spec.in_dim);
        assert_eq!(layer.out_dim, spec.out_dim);
        assert_eq!(layer.w_scale, spec.w_scale);
        assert_eq!(layer.in_scale, spec.in_scale);
        assert_eq!(layer.out_scale, spec.out_scale);
        assert_eq!(layer.requant_multiplier, spec.requant_multiplier);
        assert_eq!(layer.requant_shift, spec.requant_shift);
        assert_eq!(layer.weights().collect::<Vec<_>>(), spec.weights);
        assert_eq!(layer.weights().len(), spec.weights.len());
        assert!(
            layer
                .weight_bytes()
                .iter()
                .map(|&b| b as i8)
                .eq(spec.weights.iter().copied())
        );
        assert_eq!(layer.bias_iter().collect::<Vec<_>>(), spec.bias);
        for (o, &b) in spec.bias.iter().enumerate() {
            assert_eq!(layer.bias(o), b);
            let in_dim = spec.in_dim as usize;
            let row: Vec<i8> = layer.row(o).unwrap().collect();
            assert_eq!(row, &spec.weights[o * in_dim..(o + 1) * in_dim]);
            assert_eq!(layer.row_bytes(o).unwrap().len(), in_dim);
            assert_eq!(
                layer.weight(o, in_dim - 1),
                Some(spec.weights[(o + 1) * in_dim - 1])
            );
            assert_eq!(layer.weight(o, in_dim), None);
        }
        assert!(layer.row(spec.out_dim as usize).is_none());
    }
    assert_eq!(m.layer(1), m.layers().nth(1));
    assert_eq!(m.layer(2), None);
    // Another input scale is another image.
    let other = write(0.25, &specs);
    assert_ne!(parse(&other).unwrap().digest(), m.digest());
}

#[test]
fn round_trip_unaligned_input() {
    // Biases are read with from_le_bytes: a payload at an odd address works.
    let image = small();
    let mut shifted = vec![0u8; image.len() + 1];
    shifted[1..].copy_from_slice(&image);
    let m = parse(&shifted[1..]).unwrap();
    assert_eq!(
        m.layer(0).unwrap().bias_iter().collect::<Vec<_>>(),
        small_specs()[0].bias
    );
}

#[test]
#[should_panic(expected = "out of range")]
fn bias_past_the_end_panics() {
    let image = small();
    let m = parse(&image).unwrap();
    m.layer(1).unwrap().bias(2);
}

#[test]
fn max_layers_and_max_size() {
    let specs: Vec<_> = (0..MAX_LAYERS as i32)
        .map(|s| dense(4, 4, true, s))
        .collect();
    assert_eq!(parse(&write(1.0, &specs)).unwrap().layer_count(), 16);
    let mut specs17 = specs.clone();
    specs17.push(dense(4, 4, false, 99));
    assert_eq!(
        parse(&write(1.0, &specs17)).unwrap_err(),
        ImageError::TooManyLayers { count: 17 }
    );
    // The largest layer allowed: 1024 x 4096 = 2^22 weights.
    assert!(parse(&write(1.0, &[dense(1024, 4096, false, 0)])).is_ok());
}

#[test]
fn every_truncation_is_refused() {
    let image = small();
    for len in 0..image.len() {
        let err = parse(&image[..len]).expect_err("a prefix is refused");
        let expected_kind = if len < HEADER_LEN {
            matches!(
                err,
                ImageError::TruncatedHeader {
                    format: M,
                    need: HEADER_LEN,
                    ..
                }
            )
        } else if len < HEADER_LEN + 2 * DESCRIPTOR_LEN {
            matches!(err, ImageError::TruncatedDescriptors { .. })
        } else {
            matches!(err, ImageError::TruncatedPayload { format: M, .. })
        };
        assert!(expected_kind, "prefix of {len} bytes: {err:?}");
    }
}

#[test]
fn every_payload_bit_flip_is_a_checksum_mismatch() {
    let image = small();
    let start = HEADER_LEN + 2 * DESCRIPTOR_LEN;
    for at in start..image.len() {
        for bit in 0..8 {
            let mut bad = image.clone();
            bad[at] ^= 1 << bit;
            assert_eq!(
                parse(&bad).unwrap_err(),
                ImageError::ChecksumMismatch { format: M },
                "byte {at} bit {bit}"
            );
        }
    }
}

#[test]
fn every_header_and_descriptor_bit_flip_is_refused() {
    // The digest covers the header and the descriptors too: a flip that
    // leaves the structure valid (a scale's low bit, the multiplier) is a
    // checksum mismatch; the rest are structural errors.
    let image = small();
    let end = HEADER_LEN + 2 * DESCRIPTOR_LEN;
    for at in 0..end {
        for bit in 0..8 {
            let mut bad = image.clone();
            bad[at] ^= 1 << bit;
            assert!(parse(&bad).is_err(), "byte {at} bit {bit} accepted");
        }
    }
}

#[test]
fn header_field_corruptions() {
    let image = small();
    let mut bad = image.clone();
    bad[0] = b'X';
    assert_eq!(parse(&bad).unwrap_err(), ImageError::BadMagic { format: M });
    assert_eq!(
        parse(b"AI").unwrap_err().to_string(),
        "model image: truncated header (2 bytes, the header needs 48)"
    );
    assert_eq!(
        parse(b"DSET").unwrap_err(),
        ImageError::BadMagic { format: M }
    );

    let mut bad = image.clone();
    put_u16(&mut bad, 4, 2);
    assert_eq!(
        parse(&bad).unwrap_err(),
        ImageError::UnsupportedVersion {
            format: M,
            version: 2
        }
    );

    let mut bad = image.clone();
    put_u16(&mut bad, 6, 0);
    assert_eq!(parse(&bad).unwrap_err(), ImageError::NoLayers);

    let mut bad = image.clone();
    put_u16(&mut bad, 6, 3);
    assert!(matches!(
        parse(&bad).unwrap_err(),
        ImageError::TruncatedDescriptors { .. }
    ));

    let mut bad = image.clone();
    put_u16(&mut bad, 6, 1);
    // One layer: the second descriptor now counts as payload, which is longer
    // than the header says.
    assert_eq!(
        parse(&bad).unwrap_err(),
        ImageError::TrailingBytes {
            format: M,
            extra: DESCRIPTOR_LEN
        }
    );

    for scale in [0.0f32, -1.0, f32::NAN, f32::INFINITY] {
        let mut bad = image.clone();
        bad[8..12].copy_from_slice(&scale.to_le_bytes());
        assert_eq!(
            parse(&bad).unwrap_err(),
            ImageError::BadScale {
                layer: None,
                field: ScaleField::Input,
                bits: scale.to_bits()
            }
        );
    }

    let payload_len = u32::from_le_bytes(image[12..16].try_into().unwrap());
    let mut bad = image.clone();
    put_u32(&mut bad, 12, payload_len + 1);
    assert!(matches!(
        parse(&bad).unwrap_err(),
        ImageError::TruncatedPayload { .. }
    ));
    let mut bad = image.clone();
    put_u32(&mut bad, 12, payload_len - 1);
    assert_eq!(
        parse(&bad).unwrap_err(),
        ImageError::TrailingBytes {
            format: M,
            extra: 1
        }
    );
    let mut bad = image.clone();
    put_u32(&mut bad, 12, u32::MAX);
    assert!(matches!(
        parse(&bad).unwrap_err(),
        ImageError::TruncatedPayload { .. }
    ));

    let mut bad = image.clone();
    bad[DIGEST_OFFSET] ^= 0x80;
    assert_eq!(
        parse(&bad).unwrap_err(),
        ImageError::ChecksumMismatch { format: M }
    );
    assert_eq!(
        parse(&bad).unwrap_err().to_string(),
        "model image: checksum mismatch"
    );
}

#[test]
fn trailing_bytes_are_refused() {
    let mut image = small();
    image.push(0);
    assert_eq!(
        parse(&image).unwrap_err(),
        ImageError::TrailingBytes {
            format: M,
            extra: 1
        }
    );
    image.extend_from_slice(&[0; 7]);
    assert_eq!(
        parse(&image).unwrap_err(),
        ImageError::TrailingBytes {
            format: M,
            extra: 8
        }
    );
}

#[test]
fn zero_layers() {
    let image = write(1.0, &[]);
    assert_eq!(parse(&image).unwrap_err(), ImageError::NoLayers);
    assert_eq!(
        parse(&image).unwrap_err().to_string(),
        "model image: no layers"
    );
}

#[test]
fn wrong_shapes() {
    // Too few weights: the message from the spec.
    let mut l = dense(64, 32, true, 0);
    l.weights.truncate(640);
    let err = parse(&write(1.0, &[l])).unwrap_err();
    assert_eq!(
        err,
        ImageError::WeightCountMismatch {
            layer: 0,
            count: 640,
            in_dim: 64,
            out_dim: 32
        }
    );
    assert_eq!(
        err.to_string(),
        "model image: layer 0 has 640 weights, expected 64x32=2048"
    );

    // Too many biases, on the second layer.
    let mut specs = small_specs();
    specs[1].bias.push(5);
    let err = parse(&write(1.0, &specs)).unwrap_err();
    assert_eq!(
        err,
        ImageError::BiasCountMismatch {
            layer: 1,
            count: 3,
            out_dim: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "model image: layer 1 has 3 biases, expected 2"
    );

    // The dimensions do not chain.
    let specs = vec![dense(5, 3, true, 1), dense(4, 2, false, 2)];
    let err = parse(&write(1.0, &specs)).unwrap_err();
    assert_eq!(
        err,
        ImageError::DimChainMismatch {
            layer: 1,
            in_dim: 4,
            prev_out_dim: 3
        }
    );
    assert_eq!(
        err.to_string(),
        "model image: layer 1 in_dim 4 does not match layer 0 out_dim 3"
    );

    // A zero dimension.
    let err = parse(&write(1.0, &[dense(0, 3, false, 0)])).unwrap_err();
    assert_eq!(
        err,
        ImageError::ZeroDim {
            layer: 0,
            in_dim: 0,
            out_dim: 3
        }
    );
}

#[test]
fn huge_dims_are_refused_without_overflow() {
    // Each dimension over the bound.
    let mut l = dense(2, 2, false, 0);
    l.in_dim = 4097;
    assert!(matches!(
        parse(&write(1.0, &[l])).unwrap_err(),
        ImageError::DimTooLarge { .. }
    ));
    // Both within bound, the product over 2^22.
    let mut l = dense(2, 2, false, 0);
    l.in_dim = 4096;
    l.out_dim = 2048;
    assert!(matches!(
        parse(&write(1.0, &[l])).unwrap_err(),
        ImageError::DimTooLarge { .. }
    ));
    // Products that overflow a u32: refused, no panic.
    let mut image = small();
    put_u32(&mut image, desc(0, 4), u32::MAX);
    put_u32(&mut image, desc(0, 8), u32::MAX);
    assert_eq!(
        parse(&image).unwrap_err(),
        ImageError::DimTooLarge {
            layer: 0,
            in_dim: u32::MAX,
            out_dim: u32::MAX
        }
    );
    // A weights_len that matches a wrapped product is still refused.
    let mut image = small();
    put_u32(&mut image, desc(0, 4), 1 << 16);
    put_u32(&mut image, desc(0, 8), 1 << 16);
    put_u32(&mut image, desc(0, 36), 0);
    assert!(matches!(
        parse(&image).unwrap_err(),
        ImageError::DimTooLarge { .. }
    ));
}

#[test]
fn descriptor_field_corruptions() {
    let image = small();
    let check = |at: usize, value: u32, width: usize, expected: ImageError| {
        let mut bad = image.clone();
        if width == 2 {
            put_u16(&mut bad, at, value as u16);
        } else {
            put_u32(&mut bad, at, value);
        }
        assert_eq!(
            parse(&bad).unwrap_err(),
            expected,
            "field at {at} = {value}"
        );
        // Every message names its format.
        assert!(expected.to_string().starts_with("model image: "));
    };
    check(
        desc(1, 0),
        2,
        2,
        ImageError::UnsupportedLayerKind { layer: 1, kind: 2 },
    );
    check(
        desc(1, 0),
        0,
        2,
        ImageError::UnknownLayerKind { layer: 1, kind: 0 },
    );
    check(
        desc(0, 0),
        9,
        2,
        ImageError::UnknownLayerKind { layer: 0, kind: 9 },
    );
    check(
        desc(0, 2),
        3,
        2,
        ImageError::UnknownFlags { layer: 0, flags: 3 },
    );
    check(
        desc(0, 4),
        6,
        4,
        ImageError::WeightCountMismatch {
            layer: 0,
            count: 15,
            in_dim: 6,
            out_dim: 3,
        },
    );
    check(
        desc(0, 8),
        0,
        4,
        ImageError::ZeroDim {
            layer: 0,
            in_dim: 5,
            out_dim: 0,
        },
    );
    check(
        desc(0, 12),
        (-0.5f32).to_bits(),
        4,
        ImageError::BadScale {
            layer: Some(0),
            field: ScaleField::Weights,
            bits: (-0.5f32).to_bits(),
        },
    );
    check(
        desc(1, 16),
        f32::NAN.to_bits(),
        4,
        ImageError::BadScale {
            layer: Some(1),
            field: ScaleField::LayerInput,
            bits: f32::NAN.to_bits(),
        },
    );
    check(
        desc(1, 20),
        0,
        4,
        ImageError::BadScale {
            layer: Some(1),
            field: ScaleField::LayerOutput,
            bits: 0,
        },
    );
    check(
        desc(0, 28),
        32,
        4,
        ImageError::BadShift {
            layer: 0,
            shift: 32,
        },
    );
    check(
        desc(0, 28),
        (-32i32) as u32,
        4,
        ImageError::BadShift {
            layer: 0,
            shift: -32,
        },
    );
    check(
        desc(0, 28),
        i32::MIN as u32,
        4,
        ImageError::BadShift {
            layer: 0,
            shift: i32::MIN,
        },
    );
    let payload_len = (image.len() - HEADER_LEN - 2 * DESCRIPTOR_LEN) as u32;
    check(
        desc(1, 32),
        payload_len - 5,
        4,
        ImageError::WeightsOutOfBounds {
            layer: 1,
            offset: payload_len - 5,
            len: 6,
            payload_len,
        },
    );
    check(
        desc(1, 32),
        u32::MAX,
        4,
        ImageError::WeightsOutOfBounds {
            layer: 1,
            offset: u32::MAX,
            len: 6,
            payload_len,
        },
    );
    check(
        desc(0, 36),
        16,
        4,
        ImageError::WeightCountMismatch {
            layer: 0,
            count: 16,
            in_dim: 5,
            out_dim: 3,
        },
    );
    check(
        desc(0, 40),
        2,
        4,
        ImageError::BiasMisaligned {
            layer: 0,
            offset: 2,
        },
    );
    check(
        desc(1, 40),
        payload_len - 4,
        4,
        ImageError::BiasOutOfBounds {
            layer: 1,
            offset: payload_len - 4,
            count: 2,
            payload_len,
        },
    );
    check(
        desc(1, 40),
        u32::MAX - 3,
        4,
        ImageError::BiasOutOfBounds {
            layer: 1,
            offset: u32::MAX - 3,
            count: 2,
            payload_len,
        },
    );
    check(
        desc(1, 44),
        u32::MAX,
        4,
        ImageError::BiasCountMismatch {
            layer: 1,
            count: u32::MAX,
            out_dim: 2,
        },
    );

    // A valid change that keeps the structure (another multiplier) is caught
    // by the digest.
    check(
        desc(0, 24),
        7,
        4,
        ImageError::ChecksumMismatch { format: M },
    );
}

#[test]
fn conv2d_is_refused_as_unsupported() {
    let mut specs = small_specs();
    specs[0].kind = LayerKind::Conv2d;
    let err = parse(&write(1.0, &specs)).unwrap_err();
    assert_eq!(err, ImageError::UnsupportedLayerKind { layer: 0, kind: 2 });
    assert_eq!(
        err.to_string(),
        "model image: layer 0 has kind 2 (Conv2d), which is not supported yet"
    );
}

/// xorshift64: a deterministic stream for the fuzz loops.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let valid = small();
    let mut accepted = 0;
    for round in 0..20_000 {
        let input: Vec<u8> = match round % 3 {
            // Pure noise, mostly refused at the magic.
            0 => {
                let len = (rng.next() % 300) as usize;
                (0..len).map(|_| rng.next() as u8).collect()
            }
            // Noise behind a valid magic and version.
            1 => {
                let len = (rng.next() % 300) as usize;
                let mut v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                for (i, &b) in b"AIMG\x01\x00".iter().enumerate() {
                    if let Some(slot) = v.get_mut(i) {
                        *slot = b;
                    }
                }
                if let Some(slot) = v.get_mut(6) {
                    *slot %= 4;
                }
                if let Some(slot) = v.get_mut(7) {
                    *slot = 0;
                }
                v
            }
            // A valid image with a few random bytes changed, maybe truncated
            // or extended.
            _ => {
                let mut v = valid.clone();
                for _ in 0..=(rng.next() % 4) {
                    let at = (rng.next() as usize) % v.len();
                    v[at] = rng.next() as u8;
                }
                match rng.next() % 4 {
                    0 => v.truncate((rng.next() as usize) % v.len()),
                    1 => v.push(rng.next() as u8),
                    _ => {}
                }
                v
            }
        };
        if let Ok(m) = parse(&input) {
            accepted += 1;
            // Whatever parses is usable without panicking.
            for l in m.layers() {
                let _ = l.weights().len() + l.bias_iter().count() + l.weight_bytes().len();
            }
        }
        let _ = parse(&input).map_err(|e| e.to_string());
    }
    // A random change to a valid image is almost always caught: only a
    // change that writes the same byte back survives.
    assert!(accepted < 2_000, "{accepted} random inputs accepted");
}
