//! Models and data from the ramdisk, ready for the tensor runtime.
//!
//! [`load_model`] reads an AIMG model image, checks it (`model_image::parse`:
//! shapes, scales, SHA-256) and builds an `agent_tensor::QuantMlp` from it,
//! checked again by the runtime; [`load_dataset`] reads a DSET image.
//! Every refusal is an [`AiError`] with a printable cause: a bad image
//! never stops the agent by itself.

use alloc::vec::Vec;
use core::fmt;

use agent_tensor::{QuantDense, QuantMlp, Requant, TensorError};
use model_image::{Dataset, ImageError, LayerKind};

pub use agent_tensor;
pub use model_image;

/// Why a model or data set could not be loaded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AiError {
    /// `read_file` failed (no such file, bad buffer).
    Read(crate::Error),
    /// The image is malformed.
    Image(ImageError),
    /// The model's layers do not make a valid runtime model.
    Model(TensorError),
    /// The image holds a layer kind the runtime does not run.
    UnsupportedLayer(usize),
}

impl fmt::Display for AiError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(error) => write!(formatter, "cannot read the file: {error:?}"),
            Self::Image(error) => write!(formatter, "{error}"),
            Self::Model(error) => write!(formatter, "the model is not valid: {error}"),
            Self::UnsupportedLayer(index) => {
                write!(
                    formatter,
                    "layer {index} is of a kind the runtime does not run"
                )
            }
        }
    }
}

/// Builds a runtime model from the model image `bytes`.
pub fn model_from_image(bytes: &[u8]) -> Result<QuantMlp, AiError> {
    let image = model_image::parse(bytes).map_err(AiError::Image)?;
    let mut layers = Vec::with_capacity(image.layer_count());
    for (index, layer) in image.layers().enumerate() {
        if layer.kind != LayerKind::Dense {
            return Err(AiError::UnsupportedLayer(index));
        }
        layers.push(QuantDense {
            in_dim: layer.in_dim as usize,
            out_dim: layer.out_dim as usize,
            w: layer.weights().collect(),
            w_scale: layer.w_scale,
            bias: layer.bias_iter().collect(),
            in_scale: layer.in_scale,
            out_scale: layer.out_scale,
            requant: Requant {
                multiplier: layer.requant_multiplier,
                shift: layer.requant_shift,
            },
            relu: layer.relu,
        });
    }
    let model = QuantMlp {
        input_scale: image.input_scale(),
        layers,
    };
    model.validate().map_err(AiError::Model)?;
    Ok(model)
}

/// Reads the model image `name` from the ramdisk and builds its model.
pub fn load_model(name: &str) -> Result<QuantMlp, AiError> {
    let bytes = crate::load_file(name).map_err(AiError::Read)?;
    model_from_image(&bytes)
}

/// Reads the data set image `name` from the ramdisk; the bytes stay in the
/// returned vector ([`dataset`] parses them).
pub fn load_dataset(name: &str) -> Result<Vec<u8>, AiError> {
    let bytes = crate::load_file(name).map_err(AiError::Read)?;
    model_image::parse_dataset(&bytes).map_err(AiError::Image)?;
    Ok(bytes)
}

/// Parses data set bytes that [`load_dataset`] accepted.
pub fn dataset(bytes: &[u8]) -> Result<Dataset<'_>, AiError> {
    model_image::parse_dataset(bytes).map_err(AiError::Image)
}

/// Returns the samples of `data` as floats in `[0, 1]` (feature / value
/// max), the inputs the models are trained on.
pub fn inputs(data: &Dataset<'_>) -> Vec<f32> {
    let scale = f32::from(data.value_max().max(1));
    let mut out = Vec::with_capacity(data.len() * data.feature_dim());
    for index in 0..data.len() {
        out.extend(
            data.features(index)
                .iter()
                .map(|&value| f32::from(value) / scale),
        );
    }
    out
}
