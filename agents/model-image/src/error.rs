//! Why an image was refused.

use core::fmt;

/// Which of the two formats an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// An AIMG model image.
    Model,
    /// A DSET dataset image.
    Dataset,
}

impl ImageFormat {
    /// The prefix of every message about this format.
    fn prefix(self) -> &'static str {
        match self {
            ImageFormat::Model => "model image",
            ImageFormat::Dataset => "dataset image",
        }
    }
}

/// Which scale an [`ImageError::BadScale`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleField {
    /// The model's `input_scale` (header).
    Input,
    /// A layer's `w_scale`.
    Weights,
    /// A layer's `in_scale`.
    LayerInput,
    /// A layer's `out_scale`.
    LayerOutput,
}

impl ScaleField {
    fn name(self) -> &'static str {
        match self {
            ScaleField::Input => "input_scale",
            ScaleField::Weights => "w_scale",
            ScaleField::LayerInput => "in_scale",
            ScaleField::LayerOutput => "out_scale",
        }
    }
}

/// Why [`parse`](crate::parse) or [`parse_dataset`](crate::parse_dataset)
/// refused an image. Layers and samples are numbered from 0. The
/// [`Display`](fmt::Display) form is a one-line message for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageError {
    /// The image does not start with the format's magic (or a prefix of it,
    /// for an image shorter than the magic).
    BadMagic {
        /// The format expected.
        format: ImageFormat,
    },
    /// The header is cut short.
    TruncatedHeader {
        /// The format.
        format: ImageFormat,
        /// The image's length.
        len: usize,
        /// The header's length.
        need: usize,
    },
    /// A version this crate does not read.
    UnsupportedVersion {
        /// The format.
        format: ImageFormat,
        /// The version found.
        version: u16,
    },
    /// The payload is shorter than the header's `payload_len`.
    TruncatedPayload {
        /// The format.
        format: ImageFormat,
        /// The header's `payload_len`.
        expected: u32,
        /// The bytes actually there.
        available: usize,
    },
    /// Bytes follow the end of the payload.
    TrailingBytes {
        /// The format.
        format: ImageFormat,
        /// How many.
        extra: usize,
    },
    /// The digest does not match the image's contents.
    ChecksumMismatch {
        /// The format.
        format: ImageFormat,
    },
    /// A model image with no layers.
    NoLayers,
    /// A model image with more than [`MAX_LAYERS`](crate::MAX_LAYERS) layers.
    TooManyLayers {
        /// The header's layer count.
        count: u16,
    },
    /// The layer descriptors are cut short.
    TruncatedDescriptors {
        /// The image's length.
        len: usize,
        /// The length of the header and all the descriptors.
        need: usize,
    },
    /// A scale that is not finite and positive.
    BadScale {
        /// The layer, or `None` for the header's `input_scale`.
        layer: Option<u16>,
        /// Which scale.
        field: ScaleField,
        /// The scale's bits (`f32::from_bits` gives its value).
        bits: u32,
    },
    /// A layer kind no version of the format defines.
    UnknownLayerKind {
        /// The layer.
        layer: u16,
        /// The kind found.
        kind: u16,
    },
    /// A layer kind the format reserves but this crate does not support yet
    /// (2 = Conv2d).
    UnsupportedLayerKind {
        /// The layer.
        layer: u16,
        /// The kind found.
        kind: u16,
    },
    /// A layer with flag bits other than ReLU set.
    UnknownFlags {
        /// The layer.
        layer: u16,
        /// The flags found.
        flags: u16,
    },
    /// A layer with a zero dimension.
    ZeroDim {
        /// The layer.
        layer: u16,
        /// The layer's `in_dim`.
        in_dim: u32,
        /// The layer's `out_dim`.
        out_dim: u32,
    },
    /// A layer dimension over [`MAX_DIM`](crate::MAX_DIM), or more than
    /// [`MAX_WEIGHTS`](crate::MAX_WEIGHTS) weights.
    DimTooLarge {
        /// The layer.
        layer: u16,
        /// The layer's `in_dim`.
        in_dim: u32,
        /// The layer's `out_dim`.
        out_dim: u32,
    },
    /// A `requant_shift` outside `-31..=31`.
    BadShift {
        /// The layer.
        layer: u16,
        /// The shift found.
        shift: i32,
    },
    /// A weight count other than `in_dim * out_dim`.
    WeightCountMismatch {
        /// The layer.
        layer: u16,
        /// The descriptor's `weights_len`.
        count: u32,
        /// The layer's `in_dim`.
        in_dim: u32,
        /// The layer's `out_dim`.
        out_dim: u32,
    },
    /// A bias count other than `out_dim`.
    BiasCountMismatch {
        /// The layer.
        layer: u16,
        /// The descriptor's `bias_len`.
        count: u32,
        /// The layer's `out_dim`.
        out_dim: u32,
    },
    /// A weights range that does not lie inside the payload.
    WeightsOutOfBounds {
        /// The layer.
        layer: u16,
        /// The descriptor's `weights_offset`.
        offset: u32,
        /// The descriptor's `weights_len` (bytes).
        len: u32,
        /// The payload's length.
        payload_len: u32,
    },
    /// A bias range that does not lie inside the payload.
    BiasOutOfBounds {
        /// The layer.
        layer: u16,
        /// The descriptor's `bias_offset`.
        offset: u32,
        /// The descriptor's `bias_len` (values of 4 bytes).
        count: u32,
        /// The payload's length.
        payload_len: u32,
    },
    /// A bias offset that is not a multiple of 4.
    BiasMisaligned {
        /// The layer.
        layer: u16,
        /// The descriptor's `bias_offset`.
        offset: u32,
    },
    /// A layer whose `in_dim` is not the previous layer's `out_dim`.
    DimChainMismatch {
        /// The layer.
        layer: u16,
        /// The layer's `in_dim`.
        in_dim: u32,
        /// The previous layer's `out_dim`.
        prev_out_dim: u32,
    },
    /// A dataset feature kind other than 1 (u8).
    UnknownFeatureKind {
        /// The kind found.
        kind: u16,
    },
    /// A dataset with no samples.
    EmptyDataset,
    /// A dataset `feature_dim` of 0 or over
    /// [`MAX_FEATURE_DIM`](crate::MAX_FEATURE_DIM).
    BadFeatureDim {
        /// The dimension found.
        feature_dim: u32,
    },
    /// A dataset `classes` of 0 or over [`MAX_CLASSES`](crate::MAX_CLASSES).
    BadClassCount {
        /// The count found.
        classes: u32,
    },
    /// A dataset `value_max` over 255.
    BadValueMax {
        /// The value found.
        value_max: u32,
    },
    /// A dataset whose `payload_len` is not `count * feature_dim + count`
    /// (`expected` is `None` when that overflows a `u32`).
    PayloadSizeMismatch {
        /// The header's `payload_len`.
        declared: u32,
        /// `count * (feature_dim + 1)`, if it fits.
        expected: Option<u32>,
    },
    /// A feature over the dataset's `value_max`.
    FeatureOutOfRange {
        /// The sample.
        sample: u32,
        /// The feature's index within the sample.
        index: u32,
        /// The value found.
        value: u8,
        /// The dataset's `value_max`.
        value_max: u32,
    },
    /// A label not below the dataset's `classes`.
    LabelOutOfRange {
        /// The sample.
        sample: u32,
        /// The label found.
        label: u8,
        /// The dataset's `classes`.
        classes: u32,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const M: &str = "model image";
        const D: &str = "dataset image";
        match *self {
            ImageError::BadMagic { format } => {
                let magic = match format {
                    ImageFormat::Model => "AIMG",
                    ImageFormat::Dataset => "DSET",
                };
                write!(f, "{}: bad magic (not an {magic} image)", format.prefix())
            }
            ImageError::TruncatedHeader { format, len, need } => write!(
                f,
                "{}: truncated header ({len} bytes, the header needs {need})",
                format.prefix()
            ),
            ImageError::UnsupportedVersion { format, version } => write!(
                f,
                "{}: unsupported version {version} (this reader knows version 1)",
                format.prefix()
            ),
            ImageError::TruncatedPayload {
                format,
                expected,
                available,
            } => write!(
                f,
                "{}: truncated payload ({available} bytes of {expected})",
                format.prefix()
            ),
            ImageError::TrailingBytes { format, extra } => write!(
                f,
                "{}: {extra} trailing bytes after the payload",
                format.prefix()
            ),
            ImageError::ChecksumMismatch { format } => {
                write!(f, "{}: checksum mismatch", format.prefix())
            }
            ImageError::NoLayers => write!(f, "{M}: no layers"),
            ImageError::TooManyLayers { count } => write!(
                f,
                "{M}: {count} layers, at most {} allowed",
                crate::MAX_LAYERS
            ),
            ImageError::TruncatedDescriptors { len, need } => write!(
                f,
                "{M}: truncated layer descriptors ({len} bytes, the header and descriptors need {need})"
            ),
            ImageError::BadScale { layer, field, bits } => {
                let value = f32::from_bits(bits);
                match layer {
                    Some(l) => write!(f, "{M}: layer {l} {} is {value}", field.name()),
                    None => write!(f, "{M}: {} is {value}", field.name()),
                }?;
                write!(f, ", must be finite and > 0")
            }
            ImageError::UnknownLayerKind { layer, kind } => {
                write!(f, "{M}: layer {layer} has unknown kind {kind}")
            }
            ImageError::UnsupportedLayerKind { layer, kind } => write!(
                f,
                "{M}: layer {layer} has kind {kind} ({}), which is not supported yet",
                if kind == 2 { "Conv2d" } else { "reserved" }
            ),
            ImageError::UnknownFlags { layer, flags } => {
                write!(f, "{M}: layer {layer} has unknown flags {flags:#06x}")
            }
            ImageError::ZeroDim {
                layer,
                in_dim,
                out_dim,
            } => write!(
                f,
                "{M}: layer {layer} has a zero dimension ({in_dim}x{out_dim})"
            ),
            ImageError::DimTooLarge {
                layer,
                in_dim,
                out_dim,
            } => write!(
                f,
                "{M}: layer {layer} is too large ({in_dim}x{out_dim}; each dimension at most {}, at most {} weights)",
                crate::MAX_DIM,
                crate::MAX_WEIGHTS
            ),
            ImageError::BadShift { layer, shift } => write!(
                f,
                "{M}: layer {layer} requant_shift {shift} is outside -{0}..={0}",
                crate::MAX_SHIFT
            ),
            ImageError::WeightCountMismatch {
                layer,
                count,
                in_dim,
                out_dim,
            } => write!(
                f,
                "{M}: layer {layer} has {count} weights, expected {in_dim}x{out_dim}={}",
                u64::from(in_dim) * u64::from(out_dim)
            ),
            ImageError::BiasCountMismatch {
                layer,
                count,
                out_dim,
            } => write!(
                f,
                "{M}: layer {layer} has {count} biases, expected {out_dim}"
            ),
            ImageError::WeightsOutOfBounds {
                layer,
                offset,
                len,
                payload_len,
            } => write!(
                f,
                "{M}: layer {layer} weights ({len} bytes at {offset}) lie outside the {payload_len}-byte payload"
            ),
            ImageError::BiasOutOfBounds {
                layer,
                offset,
                count,
                payload_len,
            } => write!(
                f,
                "{M}: layer {layer} biases ({count} x 4 bytes at {offset}) lie outside the {payload_len}-byte payload"
            ),
            ImageError::BiasMisaligned { layer, offset } => write!(
                f,
                "{M}: layer {layer} bias offset {offset} is not a multiple of 4"
            ),
            ImageError::DimChainMismatch {
                layer,
                in_dim,
                prev_out_dim,
            } => write!(
                f,
                "{M}: layer {layer} in_dim {in_dim} does not match layer {} out_dim {prev_out_dim}",
                layer.saturating_sub(1)
            ),
            ImageError::UnknownFeatureKind { kind } => {
                write!(
                    f,
                    "{D}: unknown feature kind {kind} (1 = u8 is the only one)"
                )
            }
            ImageError::EmptyDataset => write!(f, "{D}: no samples"),
            ImageError::BadFeatureDim { feature_dim } => write!(
                f,
                "{D}: feature_dim {feature_dim} is outside 1..={}",
                crate::MAX_FEATURE_DIM
            ),
            ImageError::BadClassCount { classes } => write!(
                f,
                "{D}: {classes} classes is outside 1..={}",
                crate::MAX_CLASSES
            ),
            ImageError::BadValueMax { value_max } => {
                write!(f, "{D}: value_max {value_max} does not fit a u8 feature")
            }
            ImageError::PayloadSizeMismatch { declared, expected } => match expected {
                Some(e) => write!(
                    f,
                    "{D}: payload_len {declared}, but count and feature_dim make {e}"
                ),
                None => write!(
                    f,
                    "{D}: payload_len {declared}, but count and feature_dim overflow a u32"
                ),
            },
            ImageError::FeatureOutOfRange {
                sample,
                index,
                value,
                value_max,
            } => write!(
                f,
                "{D}: sample {sample} feature {index} is {value}, over value_max {value_max}"
            ),
            ImageError::LabelOutOfRange {
                sample,
                label,
                classes,
            } => write!(
                f,
                "{D}: sample {sample} label {label} is not below {classes} classes"
            ),
        }
    }
}

impl core::error::Error for ImageError {}
