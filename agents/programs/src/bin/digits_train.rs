//! Training agent: runs the SGD epochs that `models/digits-train.ref`
//! describes (layer sizes, seeds, learning rate, batch: written by
//! `cargo xtask`, which ran the same epochs on the host) on the digits
//! training split, reports its loss after every epoch beside the host's,
//! and checks that it matches the host's within float reordering
//! tolerance and falls by at least the host's factor.
//!
//! It declares a learning objective (the host's final loss within
//! `LOSS_TARGET_FACTOR`, in `LOSS_DEADLINE_US`) and reports every loss to
//! the task manager.
//!
//! Exit 0 when both hold.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use agent_lib::{
    ai::{
        self,
        agent_tensor::Mlp,
        digits::{
            LOSS_DEADLINE_US, LOSS_TARGET_FACTOR, TRAIN_FILE as TRAIN,
            TRAIN_REFERENCE_FILE as REFERENCE,
        },
    },
    println,
};

agent_lib::agent_main!(main);

/// Relative difference allowed between this run's loss and the host's:
/// the SIMD kernels here may sum in another order than the host's scalar
/// ones.
const TOLERANCE: f32 = 2e-3;

/// A little-endian reader over the reference file.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let chunk = self.bytes.get(self.at..self.at + N)?;
        self.at += N;
        chunk.try_into().ok()
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }
    fn f32(&mut self) -> Option<f32> {
        self.take::<4>().map(f32::from_le_bytes)
    }
}

/// What the host ran.
struct Plan {
    batch: usize,
    learning_rate: f32,
    seed: u64,
    sizes: Vec<usize>,
    epoch_seeds: Vec<u64>,
    losses: Vec<f32>,
}

fn plan(bytes: &[u8]) -> Option<Plan> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.take::<4>()? != *b"TREF" || reader.u32()? != 1 {
        return None;
    }
    let epochs = reader.u32()? as usize;
    let batch = reader.u32()? as usize;
    let learning_rate = reader.f32()?;
    let seed = reader.u64()?;
    let layers = reader.u32()? as usize;
    if !(2..=8).contains(&layers) || !(1..=1000).contains(&epochs) || batch == 0 {
        return None;
    }
    let sizes = (0..layers)
        .map(|_| reader.u32().map(|size| size as usize))
        .collect::<Option<Vec<_>>>()?;
    let epoch_seeds = (0..epochs)
        .map(|_| reader.u64())
        .collect::<Option<Vec<_>>>()?;
    let losses = (0..=epochs)
        .map(|_| reader.f32())
        .collect::<Option<Vec<_>>>()?;
    (reader.at == bytes.len() && sizes.iter().all(|size| (1..=1024).contains(size))).then_some(
        Plan {
            batch,
            learning_rate,
            seed,
            sizes,
            epoch_seeds,
            losses,
        },
    )
}

fn close(ours: f32, host: f32) -> bool {
    (ours - host).abs() <= TOLERANCE * host.abs().max(1e-3)
}

/// Returns `value` in units of 1e-4 (printed as an integer: float
/// formatting would pull a large part of `core` into the program).
fn milli(value: f32) -> u64 {
    (value * 10_000.0) as u64
}

fn main() -> i64 {
    let data_bytes = match ai::read(TRAIN) {
        Ok(bytes) => bytes,
        Err(error) => {
            println!("digits_train: {TRAIN}: {error}");
            return 10;
        }
    };
    let data = match ai::dataset(&data_bytes) {
        Ok(data) => data,
        Err(error) => {
            println!("digits_train: {TRAIN} refused: {error}");
            return 10;
        }
    };
    let Some(plan) = agent_lib::load_file(REFERENCE)
        .ok()
        .and_then(|bytes| plan(&bytes))
    else {
        println!("digits_train: {REFERENCE} is missing or malformed");
        return 11;
    };
    if plan.sizes.first() != Some(&data.feature_dim())
        || plan.sizes.last() != Some(&(data.classes() as usize))
    {
        println!("digits_train: the reference's layers do not fit the data");
        return 11;
    }
    let xs = ai::inputs(&data);
    let labels = data.all_labels();
    let mut mlp = Mlp::new(&plan.sizes, plan.seed);
    let target = plan.losses.last().copied().unwrap_or(0.0) * LOSS_TARGET_FACTOR;
    if let Err(error) = agent_lib::declare_loss_objective(target, LOSS_DEADLINE_US) {
        println!("digits_train: objective refused: {error:?}");
        return 12;
    }
    let mut losses = Vec::with_capacity(plan.losses.len());
    losses.push(mlp.loss(&xs, labels));
    let _ = agent_lib::report_loss(losses[0]);
    let started_us = agent_lib::clock_us();
    for (epoch, &seed) in plan.epoch_seeds.iter().enumerate() {
        mlp.train_epoch(&xs, labels, plan.learning_rate, plan.batch, seed);
        let loss = mlp.loss(&xs, labels);
        losses.push(loss);
        let _ = agent_lib::report_loss(loss);
        println!(
            "digits_train: epoch {} loss {}e-4 (host {}e-4)",
            epoch + 1,
            milli(loss),
            milli(plan.losses[epoch + 1])
        );
    }
    let elapsed_ms = agent_lib::clock_us().saturating_sub(started_us) / 1000;
    let matched = losses
        .iter()
        .zip(&plan.losses)
        .all(|(&ours, &host)| close(ours, host));
    let last = losses.len() - 1;
    let our_factor = losses[0] / losses[last];
    let host_factor = plan.losses[0] / plan.losses[last];
    println!(
        "digits_train: {} epochs over {} samples in {elapsed_ms} ms; loss {}e-4 -> {}e-4 (factor {}e-2, host {}e-2), {}",
        last,
        data.len(),
        milli(losses[0]),
        milli(losses[last]),
        (our_factor * 100.0) as u64,
        (host_factor * 100.0) as u64,
        if matched {
            "every loss matches the host's"
        } else {
            "losses DIFFER from the host's"
        }
    );
    if matched && our_factor >= host_factor * (1.0 - TOLERANCE) {
        0
    } else {
        1
    }
}
