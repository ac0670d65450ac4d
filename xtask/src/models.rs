//! The digits classifier: trained on the host, quantised to int8, and put
//! into every boot ramdisk with its data and the host's reference results.
//!
//! The data are the 8x8 handwritten digits of scikit-learn (1797 samples,
//! see [`crate::digits`]), split 3/4 train, 1/4 test, stratified and
//! seeded. Training is `agent_tensor::Mlp` ([`SIZES`], [`EPOCHS`] epochs of
//! minibatch SGD, seeded): the same runtime the ring-3 agents run.
//! Everything here is deterministic, so every build writes the same model
//! for the same runtime code (a different CPU may change float rounding of
//! the training, never the integer inference of the model it wrote).
//!
//! Ramdisk files (all little-endian):
//! - [`MODEL_FILE`]: the int8 model, an AIMG image (`agents/model-image/FORMAT.md`).
//! - [`TRAIN_FILE`], [`TEST_FILE`]: DSET images of the two splits.
//! - [`REFERENCE_FILE`]: "DREF", u32 version 1, u32 samples, u32 classes,
//!   u32 samples the host classified right, then the int8 model's i32
//!   logits for every test sample (samples x classes).
//! - [`TRAIN_REFERENCE_FILE`]: "TREF", u32 version 1, u32 epochs, u32
//!   batch, f32 learning rate, u64 seed of the initial weights, u32
//!   layer-size count, the sizes (u32 each), the u64 seed of each epoch's
//!   order, then the f32 mean training loss before training and after each
//!   epoch (epochs + 1 values): what the training agent runs and must match.

use agent_tensor::{Mlp, QuantMlp};
use model_image::{LayerKind, LayerSpec};

use crate::digits::{self, Digits};

/// The model image in the ramdisk.
pub const MODEL_FILE: &str = "models/digits.aimg";
/// The training split.
pub const TRAIN_FILE: &str = "models/digits-train.dset";
/// The held-out test split.
pub const TEST_FILE: &str = "models/digits-test.dset";
/// The host's logits of the int8 model on the test split.
pub const REFERENCE_FILE: &str = "models/digits.ref";
/// The host's losses of the in-kernel training run.
pub const TRAIN_REFERENCE_FILE: &str = "models/digits-train.ref";
/// Layer sizes: 64 pixels, one hidden layer, 10 classes.
pub const SIZES: [usize; 3] = [64, 32, 10];
/// Seed of the split, the initial weights and the epoch orders.
pub const SEED: u64 = 0x5EED_D161_7500;
/// Epochs the shipped model is trained for.
pub const EPOCHS: usize = 60;
/// Minibatch size.
pub const BATCH: usize = 16;
/// SGD learning rate.
pub const LEARNING_RATE: f32 = 0.2;
/// Epochs the training agent runs in the kernel (and the host reference).
pub const AGENT_EPOCHS: usize = 4;
/// Accuracy the int8 model must reach on the test split (per mille).
pub const MIN_ACCURACY_PER_MILLE: usize = 950;

/// The model, the data and the reference results as ramdisk files.
pub struct ModelFiles {
    /// `(ramdisk path, contents)`.
    pub files: Vec<(&'static str, Vec<u8>)>,
    /// Test accuracy of the int8 model on the host, per mille.
    pub accuracy_per_mille: usize,
}

/// Returns the pixels of `data` as floats in `[0, 1]` (pixel / 16), the
/// input the model is trained on (agents compute the same).
pub fn inputs(data: &Digits) -> Vec<f32> {
    data.features
        .iter()
        .map(|&pixel| f32::from(pixel) / digits::VALUE_MAX as f32)
        .collect()
}

/// Returns the epoch seed of epoch `epoch` (shared with the agent).
pub fn epoch_seed(epoch: usize) -> u64 {
    SEED ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Trains, quantises and writes everything; fails if the data are not the
/// real digits or the model misses [`MIN_ACCURACY_PER_MILLE`].
pub fn build() -> Result<ModelFiles, String> {
    // The scalar kernels: the same model on every host, with or without
    // AVX2 and FMA (the SIMD kernels sum in another order).
    agent_tensor::force_scalar(true);
    let built = build_scalar();
    agent_tensor::force_scalar(false);
    built
}

fn build_scalar() -> Result<ModelFiles, String> {
    let all = digits::load()?;
    let (train, test) = digits::split(&all, 1, 4, SEED);
    let train_x = inputs(&train);
    let test_x = inputs(&test);
    let mut mlp = Mlp::new(&SIZES, SEED);
    for epoch in 0..EPOCHS {
        mlp.train_epoch(
            &train_x,
            &train.labels,
            LEARNING_RATE,
            BATCH,
            epoch_seed(epoch),
        );
    }
    let quant = QuantMlp::from_mlp(&mlp, &train_x, train.len());
    quant
        .validate()
        .map_err(|error| format!("the quantised digits model is invalid: {error}"))?;
    let classes = quant.classes();
    let mut logits = vec![0i32; test.len() * classes];
    let mut input = vec![0i8; quant.in_dim()];
    let mut correct = 0;
    for sample in 0..test.len() {
        let x = &test_x[sample * quant.in_dim()..(sample + 1) * quant.in_dim()];
        quant.quantize_input(x, &mut input);
        let row = &mut logits[sample * classes..(sample + 1) * classes];
        quant.forward(&input, row);
        if agent_tensor::argmax_i32(row) == usize::from(test.labels[sample]) {
            correct += 1;
        }
    }
    let accuracy_per_mille = correct * 1000 / test.len();
    if accuracy_per_mille < MIN_ACCURACY_PER_MILLE {
        return Err(format!(
            "the int8 digits model reaches {correct}/{} on the test split, under {MIN_ACCURACY_PER_MILLE} per mille",
            test.len()
        ));
    }
    let mut files = vec![
        (MODEL_FILE, model_image(&quant)),
        (TRAIN_FILE, dataset_image(&train)),
        (TEST_FILE, dataset_image(&test)),
        (
            REFERENCE_FILE,
            reference(test.len(), classes, correct, &logits),
        ),
        (
            TRAIN_REFERENCE_FILE,
            training_reference(&train_x, &train.labels),
        ),
    ];
    files.shrink_to_fit();
    Ok(ModelFiles {
        files,
        accuracy_per_mille,
    })
}

/// Returns the AIMG image of `model`.
fn model_image(model: &QuantMlp) -> Vec<u8> {
    let specs: Vec<LayerSpec> = model
        .layers
        .iter()
        .map(|layer| LayerSpec {
            kind: LayerKind::Dense,
            relu: layer.relu,
            in_dim: layer.in_dim as u32,
            out_dim: layer.out_dim as u32,
            w_scale: layer.w_scale,
            in_scale: layer.in_scale,
            out_scale: layer.out_scale,
            requant_multiplier: layer.requant.multiplier,
            requant_shift: layer.requant.shift,
            weights: layer.w.clone(),
            bias: layer.bias.clone(),
        })
        .collect();
    model_image::write(model.input_scale, &specs)
}

/// Returns the DSET image of `data`.
fn dataset_image(data: &Digits) -> Vec<u8> {
    model_image::write_dataset(
        digits::FEATURES as u32,
        digits::CLASSES as u32,
        digits::VALUE_MAX as u32,
        &data.features,
        &data.labels,
    )
}

fn reference(samples: usize, classes: usize, correct: usize, logits: &[i32]) -> Vec<u8> {
    let mut out = b"DREF".to_vec();
    for word in [1, samples as u32, classes as u32, correct as u32] {
        out.extend(word.to_le_bytes());
    }
    for logit in logits {
        out.extend(logit.to_le_bytes());
    }
    out
}

/// Returns the reference of what the training agent runs ([`AGENT_EPOCHS`]
/// from the initial weights) on the training inputs `xs` and `labels`.
fn training_reference(xs: &[f32], labels: &[u8]) -> Vec<u8> {
    let mut mlp = Mlp::new(&SIZES, SEED);
    let mut losses = vec![mlp.loss(xs, labels)];
    for epoch in 0..AGENT_EPOCHS {
        mlp.train_epoch(xs, labels, LEARNING_RATE, BATCH, epoch_seed(epoch));
        losses.push(mlp.loss(xs, labels));
    }
    let mut out = b"TREF".to_vec();
    for word in [1, AGENT_EPOCHS as u32, BATCH as u32] {
        out.extend(word.to_le_bytes());
    }
    out.extend(LEARNING_RATE.to_le_bytes());
    out.extend(SEED.to_le_bytes());
    out.extend((SIZES.len() as u32).to_le_bytes());
    for size in SIZES {
        out.extend((size as u32).to_le_bytes());
    }
    for epoch in 0..AGENT_EPOCHS {
        out.extend(epoch_seed(epoch).to_le_bytes());
    }
    for loss in losses {
        out.extend(loss.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_deterministic_and_accurate() {
        let first = build().unwrap();
        let second = build().unwrap();
        assert!(first.accuracy_per_mille >= MIN_ACCURACY_PER_MILLE);
        assert_eq!(first.files, second.files);
        let model = model_image::parse(&first.files[0].1).unwrap();
        assert_eq!(model.input_dim(), 64);
        assert_eq!(model.output_dim(), 10);
    }
}
