//! DSET: round trip, and every kind of corruption refused with the right error.

use model_image::{
    DATASET_DIGEST_OFFSET, DATASET_HEADER_LEN, ImageError, ImageFormat, parse_dataset,
    write_dataset,
};

const D: ImageFormat = ImageFormat::Dataset;

/// 7 samples of 5 features in 0..=16, 3 classes.
fn small_parts() -> (Vec<u8>, Vec<u8>) {
    let features = (0..35u32).map(|i| ((i * 7 + 3) % 17) as u8).collect();
    let labels = (0..7u32).map(|i| (i % 3) as u8).collect();
    (features, labels)
}

fn small() -> Vec<u8> {
    let (f, l) = small_parts();
    write_dataset(5, 3, 16, &f, &l)
}

fn put_u32(image: &mut [u8], at: usize, v: u32) {
    image[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn round_trip() {
    let (f, l) = small_parts();
    let image = small();
    let d = parse_dataset(&image).unwrap();
    assert_eq!(d.len(), 7);
    assert!(!d.is_empty());
    assert_eq!(d.feature_dim(), 5);
    assert_eq!(d.classes(), 3);
    assert_eq!(d.value_max(), 16);
    assert_eq!(d.all_features(), &f[..]);
    assert_eq!(d.all_labels(), &l[..]);
    for i in 0..7 {
        assert_eq!(d.features(i), &f[i * 5..i * 5 + 5]);
        assert_eq!(d.label(i), l[i]);
        assert_eq!(d.sample(i), Some((&f[i * 5..i * 5 + 5], l[i])));
    }
    assert_eq!(d.sample(7), None);
    assert_eq!(d.samples().len(), 7);
    assert!(d.samples().eq((0..7).map(|i| (d.features(i), d.label(i)))));
    let other = write_dataset(5, 4, 16, &f, &l);
    assert_ne!(parse_dataset(&other).unwrap().digest(), d.digest());
}

#[test]
fn every_truncation_is_refused() {
    let image = small();
    for len in 0..image.len() {
        let err = parse_dataset(&image[..len]).expect_err("a prefix is refused");
        let ok = if len < DATASET_HEADER_LEN {
            matches!(err, ImageError::TruncatedHeader { format: D, .. })
        } else {
            matches!(err, ImageError::TruncatedPayload { format: D, .. })
        };
        assert!(ok, "prefix of {len} bytes: {err:?}");
    }
}

#[test]
fn every_bit_flip_is_refused() {
    let image = small();
    for at in 0..image.len() {
        for bit in 0..8 {
            let mut bad = image.clone();
            bad[at] ^= 1 << bit;
            let err = parse_dataset(&bad).expect_err("a flipped bit is refused");
            if at >= DATASET_HEADER_LEN {
                assert_eq!(
                    err,
                    ImageError::ChecksumMismatch { format: D },
                    "byte {at} bit {bit}"
                );
            }
        }
    }
}

#[test]
fn header_field_corruptions() {
    let image = small();
    let check = |at: usize, value: u32, expected: ImageError| {
        let mut bad = image.clone();
        put_u32(&mut bad, at, value);
        assert_eq!(
            parse_dataset(&bad).unwrap_err(),
            expected,
            "field at {at} = {value}"
        );
        assert!(expected.to_string().starts_with("dataset image: "));
    };
    let mut bad = image.clone();
    bad[3] = b'X';
    assert_eq!(
        parse_dataset(&bad).unwrap_err(),
        ImageError::BadMagic { format: D }
    );
    // version 2, kind 1
    check(
        4,
        2 | 1 << 16,
        ImageError::UnsupportedVersion {
            format: D,
            version: 2,
        },
    );
    // version 1, kind 2
    check(4, 1 | 2 << 16, ImageError::UnknownFeatureKind { kind: 2 });
    check(8, 0, ImageError::EmptyDataset);
    check(
        8,
        8,
        ImageError::PayloadSizeMismatch {
            declared: 42,
            expected: Some(48),
        },
    );
    check(
        8,
        u32::MAX,
        ImageError::PayloadSizeMismatch {
            declared: 42,
            expected: None,
        },
    );
    check(12, 0, ImageError::BadFeatureDim { feature_dim: 0 });
    check(12, 4097, ImageError::BadFeatureDim { feature_dim: 4097 });
    check(
        12,
        4,
        ImageError::PayloadSizeMismatch {
            declared: 42,
            expected: Some(35),
        },
    );
    check(16, 0, ImageError::BadClassCount { classes: 0 });
    check(16, 257, ImageError::BadClassCount { classes: 257 });
    check(20, 256, ImageError::BadValueMax { value_max: 256 });
    check(
        24,
        43,
        ImageError::PayloadSizeMismatch {
            declared: 43,
            expected: Some(42),
        },
    );
    check(
        24,
        u32::MAX,
        ImageError::PayloadSizeMismatch {
            declared: u32::MAX,
            expected: Some(42),
        },
    );
    // Structurally valid changes are caught by the digest.
    check(16, 4, ImageError::ChecksumMismatch { format: D });
    check(20, 15, ImageError::ChecksumMismatch { format: D });
    let mut bad = image.clone();
    bad[DATASET_DIGEST_OFFSET + 31] ^= 1;
    let err = parse_dataset(&bad).unwrap_err();
    assert_eq!(err, ImageError::ChecksumMismatch { format: D });
    assert_eq!(err.to_string(), "dataset image: checksum mismatch");
}

#[test]
fn trailing_bytes_are_refused() {
    let mut image = small();
    image.push(0);
    assert_eq!(
        parse_dataset(&image).unwrap_err(),
        ImageError::TrailingBytes {
            format: D,
            extra: 1
        }
    );
}

#[test]
fn out_of_range_values_are_refused() {
    let (mut f, mut l) = small_parts();
    f[12] = 17;
    let err = parse_dataset(&write_dataset(5, 3, 16, &f, &l)).unwrap_err();
    assert_eq!(
        err,
        ImageError::FeatureOutOfRange {
            sample: 2,
            index: 2,
            value: 17,
            value_max: 16
        }
    );
    assert_eq!(
        err.to_string(),
        "dataset image: sample 2 feature 2 is 17, over value_max 16"
    );
    f[12] = 16;
    l[6] = 3;
    let err = parse_dataset(&write_dataset(5, 3, 16, &f, &l)).unwrap_err();
    assert_eq!(
        err,
        ImageError::LabelOutOfRange {
            sample: 6,
            label: 3,
            classes: 3
        }
    );
    // 256 classes and value_max 255 admit every byte.
    l[6] = 255;
    f[0] = 255;
    assert!(parse_dataset(&write_dataset(5, 256, 255, &f, &l)).is_ok());
}

#[test]
fn wrong_shapes() {
    let (f, l) = small_parts();
    // One feature short: payload_len disagrees with count and feature_dim.
    let err = parse_dataset(&write_dataset(5, 3, 16, &f[..34], &l)).unwrap_err();
    assert_eq!(
        err,
        ImageError::PayloadSizeMismatch {
            declared: 41,
            expected: Some(42)
        }
    );
    // No samples.
    assert_eq!(
        parse_dataset(&write_dataset(5, 3, 16, &[], &[])).unwrap_err(),
        ImageError::EmptyDataset
    );
    // A model image is not a dataset, nor the other way round.
    assert_eq!(
        parse_dataset(b"AIMG").unwrap_err(),
        ImageError::BadMagic { format: D }
    );
    assert_eq!(
        model_image::parse(&small()).unwrap_err(),
        ImageError::BadMagic {
            format: ImageFormat::Model
        }
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let valid = small();
    for round in 0..20_000 {
        let input: Vec<u8> = if round % 2 == 0 {
            let len = (next() % 200) as usize;
            let mut v: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            for (i, &b) in b"DSET\x01\x00\x01\x00".iter().enumerate() {
                if let Some(slot) = v.get_mut(i) {
                    *slot = b;
                }
            }
            v
        } else {
            let mut v = valid.clone();
            let at = (next() as usize) % v.len();
            v[at] = next() as u8;
            if next() % 3 == 0 {
                v.truncate((next() as usize) % v.len());
            }
            v
        };
        if let Ok(d) = parse_dataset(&input) {
            for i in 0..d.len() {
                let _ = (d.features(i).len(), d.label(i));
            }
        }
        let _ = parse_dataset(&input).map_err(|e| e.to_string());
    }
}
