//! The DSET dataset image: parser and (with `alloc`) writer.

use crate::error::{ImageError, ImageFormat};
use crate::{image_digest, split_header, u16_at, u32_at};

/// The magic a DSET image starts with.
pub const DATASET_MAGIC: [u8; 4] = *b"DSET";
/// The DSET version this crate reads and writes.
pub const DATASET_VERSION: u16 = 1;
/// The length of the DSET header, before the payload.
pub const DATASET_HEADER_LEN: usize = 60;
/// The offset of the 32-byte digest in the DSET header.
pub const DATASET_DIGEST_OFFSET: usize = 28;
/// The feature kind of `u8` features, the only one.
pub const FEATURE_KIND_U8: u16 = 1;
/// The most features a sample may have.
pub const MAX_FEATURE_DIM: u32 = 4096;
/// The most classes a dataset may have (labels are `u8`).
pub const MAX_CLASSES: u32 = 256;

/// A parsed, checked DSET dataset image borrowing the bytes it came from.
#[derive(Debug, Clone, Copy)]
pub struct Dataset<'a> {
    feature_dim: usize,
    classes: u32,
    value_max: u8,
    digest: [u8; 32],
    features: &'a [u8],
    labels: &'a [u8],
}

impl<'a> Dataset<'a> {
    /// The number of samples (at least 1).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples: never, for a parsed dataset.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The features of sample `i` (`feature_dim()` of them, each at most
    /// `value_max()`).
    ///
    /// # Panics
    ///
    /// If `i >= len()`, like indexing a slice.
    pub fn features(&self, i: usize) -> &'a [u8] {
        match self.sample(i) {
            Some((features, _)) => features,
            None => panic!("sample {i} out of range for {} samples", self.len()),
        }
    }

    /// The label of sample `i` (below `classes()`).
    ///
    /// # Panics
    ///
    /// If `i >= len()`, like indexing a slice.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// Sample `i`'s features and label, or `None` if `i >= len()`.
    pub fn sample(&self, i: usize) -> Option<(&'a [u8], u8)> {
        let label = *self.labels.get(i)?;
        let start = i.checked_mul(self.feature_dim)?;
        let features = self
            .features
            .get(start..start.checked_add(self.feature_dim)?)?;
        Some((features, label))
    }

    /// Every sample's features and label, in order.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = (&'a [u8], u8)> + 'a {
        self.features
            .chunks_exact(self.feature_dim)
            .zip(self.labels.iter().copied())
    }

    /// The number of features per sample.
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// The number of classes: every label is below it.
    pub fn classes(&self) -> u32 {
        self.classes
    }

    /// The largest feature value allowed (every feature is at most this).
    pub fn value_max(&self) -> u8 {
        self.value_max
    }

    /// All the features, sample after sample (`len() * feature_dim()` bytes).
    pub fn all_features(&self) -> &'a [u8] {
        self.features
    }

    /// All the labels, in sample order.
    pub fn all_labels(&self) -> &'a [u8] {
        self.labels
    }

    /// The image's SHA-256 digest (checked): of the whole image but the digest
    /// field.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

/// Parses and checks a DSET dataset image without copying it.
///
/// The checks, in order: the magic, the header's length, the version, the
/// feature kind, the count (at least 1), `feature_dim`, `classes`,
/// `value_max`, `payload_len` (exactly `count * feature_dim + count`,
/// overflow-checked), the payload's length (exactly the rest of the image),
/// the digest, and last every feature (`<= value_max`) and label
/// (`< classes`). See the crate docs for the format.
pub fn parse_dataset(bytes: &[u8]) -> Result<Dataset<'_>, ImageError> {
    const F: ImageFormat = ImageFormat::Dataset;
    let (header, payload) =
        split_header::<DATASET_HEADER_LEN>(bytes, F, &DATASET_MAGIC, DATASET_VERSION)?;
    let kind = u16_at(header, 6);
    if kind != FEATURE_KIND_U8 {
        return Err(ImageError::UnknownFeatureKind { kind });
    }
    let count = u32_at(header, 8);
    let feature_dim = u32_at(header, 12);
    let classes = u32_at(header, 16);
    let value_max = u32_at(header, 20);
    let payload_len = u32_at(header, 24);
    if count == 0 {
        return Err(ImageError::EmptyDataset);
    }
    if feature_dim == 0 || feature_dim > MAX_FEATURE_DIM {
        return Err(ImageError::BadFeatureDim { feature_dim });
    }
    if classes == 0 || classes > MAX_CLASSES {
        return Err(ImageError::BadClassCount { classes });
    }
    let Ok(value_max_u8) = u8::try_from(value_max) else {
        return Err(ImageError::BadValueMax { value_max });
    };
    let expected = feature_dim
        .checked_add(1)
        .and_then(|per_sample| per_sample.checked_mul(count));
    if expected != Some(payload_len) {
        return Err(ImageError::PayloadSizeMismatch {
            declared: payload_len,
            expected,
        });
    }
    let declared = payload_len as usize;
    if payload.len() < declared {
        return Err(ImageError::TruncatedPayload {
            format: F,
            expected: payload_len,
            available: payload.len(),
        });
    }
    if payload.len() > declared {
        return Err(ImageError::TrailingBytes {
            format: F,
            extra: payload.len() - declared,
        });
    }
    let digest = crate::bytes_at::<32>(header, DATASET_DIGEST_OFFSET);
    if image_digest(bytes, DATASET_DIGEST_OFFSET) != Some(digest) {
        return Err(ImageError::ChecksumMismatch { format: F });
    }
    // count * feature_dim < payload_len (checked above), so this fits.
    let feature_bytes = count as usize * feature_dim as usize;
    let (features, labels) = payload.split_at(feature_bytes);
    let dim = feature_dim as usize;
    for (sample, row) in (0u32..).zip(features.chunks_exact(dim)) {
        if let Some((index, &value)) = (0u32..).zip(row).find(|&(_, &v)| v > value_max_u8) {
            return Err(ImageError::FeatureOutOfRange {
                sample,
                index,
                value,
                value_max,
            });
        }
    }
    if let Some((sample, &label)) = (0u32..)
        .zip(labels)
        .find(|&(_, &l)| u32::from(l) >= classes)
    {
        return Err(ImageError::LabelOutOfRange {
            sample,
            label,
            classes,
        });
    }
    Ok(Dataset {
        feature_dim: dim,
        classes,
        value_max: value_max_u8,
        digest,
        features,
        labels,
    })
}

/// Writes a DSET image of `labels.len()` samples with `feature_dim` `u8`
/// features each, taken in order from `features`. The writer writes what it
/// is given and checks nothing: `payload_len` is the length of the payload
/// it writes (`features` then `labels`), so an inconsistent call makes an
/// image [`parse_dataset`] refuses — which is how the tests build bad images.
///
/// # Panics
///
/// If the count or the payload would be over `u32::MAX`: neither can be
/// written in the format at all.
#[cfg(feature = "alloc")]
pub fn write_dataset(
    feature_dim: u32,
    classes: u32,
    value_max: u32,
    features: &[u8],
    labels: &[u8],
) -> alloc::vec::Vec<u8> {
    let count = u32::try_from(labels.len())
        .unwrap_or_else(|_| panic!("dataset image: {} samples over u32::MAX", labels.len()));
    let payload_len = features
        .len()
        .checked_add(labels.len())
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or_else(|| panic!("dataset image: payload over u32::MAX bytes"));
    let mut out = alloc::vec::Vec::with_capacity(DATASET_HEADER_LEN + payload_len as usize);
    out.extend_from_slice(&DATASET_MAGIC);
    out.extend_from_slice(&DATASET_VERSION.to_le_bytes());
    out.extend_from_slice(&FEATURE_KIND_U8.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&feature_dim.to_le_bytes());
    out.extend_from_slice(&classes.to_le_bytes());
    out.extend_from_slice(&value_max.to_le_bytes());
    out.extend_from_slice(&payload_len.to_le_bytes());
    out.extend_from_slice(&[0; 32]);
    out.extend_from_slice(features);
    out.extend_from_slice(labels);
    let digest = image_digest(&out, DATASET_DIGEST_OFFSET).expect("the header is written");
    out[DATASET_DIGEST_OFFSET..DATASET_DIGEST_OFFSET + 32].copy_from_slice(&digest);
    out
}
