//! Inference client: sends every image of the held-out digits test split
//! (`models/digits-test.dset`) to `digits_infer`, checks each answer's
//! logits bit for bit against the host's int8 reference
//! (`models/digits.ref`, written by `cargo xtask`), counts the right
//! classes, and reports accuracy and latency (`BENCH` lines: the round trip
//! and the inference inside the server, in cycles). Then stops the server.
//!
//! Exit 0 when every answer equals the host's and the accuracy is the
//! host's and at least [`MIN_ACCURACY_PER_MILLE`].
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use agent_lib::{
    ai::{
        self,
        digits::{
            CLASSES, ENDPOINT, REFERENCE_FILE as REFERENCE, Reply, STARTUP_US, STOP,
            TEST_FILE as TEST,
        },
    },
    bench, println,
    raw::read_timestamp_counter,
};

agent_lib::agent_main!(main);

/// Accuracy the model must reach (per mille).
pub const MIN_ACCURACY_PER_MILLE: usize = 950;

fn word(bytes: &[u8], index: usize) -> Option<u32> {
    let chunk = bytes.get(index * 4..index * 4 + 4)?;
    Some(u32::from_le_bytes(chunk.try_into().ok()?))
}

fn main() -> i64 {
    let test_bytes = match ai::read(TEST) {
        Ok(bytes) => bytes,
        Err(error) => {
            println!("digits_client: {TEST}: {error}");
            return 10;
        }
    };
    let test = match ai::dataset(&test_bytes) {
        Ok(test) => test,
        Err(error) => {
            println!("digits_client: {TEST} refused: {error}");
            return 10;
        }
    };
    let reference = match agent_lib::load_file(REFERENCE) {
        Ok(bytes) => bytes,
        Err(error) => {
            println!("digits_client: cannot read {REFERENCE}: {error:?}");
            return 11;
        }
    };
    // "DREF", version, samples, classes, host's right answers, logits.
    let header_ok = reference.get(..4) == Some(b"DREF".as_slice())
        && word(&reference, 1) == Some(1)
        && word(&reference, 2) == Some(test.len() as u32)
        && word(&reference, 3) == Some(CLASSES as u32)
        && reference.len() == 20 + test.len() * CLASSES * 4;
    if !header_ok {
        println!("digits_client: {REFERENCE} does not match the test split");
        return 11;
    }
    let host_correct = word(&reference, 4).unwrap_or(0) as usize;
    let mut round_trips = alloc::vec::Vec::with_capacity(test.len());
    let mut inferences = alloc::vec::Vec::with_capacity(test.len());
    let mut reply = [0u8; 64];
    let (mut correct, mut identical) = (0usize, 0usize);
    let started_us = agent_lib::clock_us();
    let started_cycles = read_timestamp_counter();
    for sample in 0..test.len() {
        let start = read_timestamp_counter();
        let answer =
            agent_lib::call_once_served(ENDPOINT, test.features(sample), &mut reply, STARTUP_US);
        round_trips.push(read_timestamp_counter().wrapping_sub(start));
        let Some(answer) = answer
            .ok()
            .and_then(|length| Reply::from_bytes(&reply[..length]))
        else {
            println!("digits_client: request {sample} answered {answer:?}");
            return 12;
        };
        if answer.class == test.label(sample) {
            correct += 1;
        }
        let _ = agent_lib::report_accuracy(correct as u64, sample as u64 + 1);
        let expected = reference[20 + sample * CLASSES * 4..20 + (sample + 1) * CLASSES * 4]
            .as_chunks::<4>()
            .0
            .iter()
            .map(|chunk| i32::from_le_bytes(*chunk));
        if answer.logits.iter().copied().eq(expected) {
            identical += 1;
        } else if identical == sample {
            println!("digits_client: sample {sample}: logits differ from the host's");
        }
        inferences.push(answer.cycles);
    }
    let elapsed_us = agent_lib::clock_us().saturating_sub(started_us).max(1);
    let cycles_per_us = read_timestamp_counter().wrapping_sub(started_cycles) / elapsed_us;
    let _ = agent_lib::call(ENDPOINT, &[STOP], &mut reply);
    let total = test.len();
    println!(
        "digits_client: accuracy {correct}/{total} (host {host_correct}/{total}), logits bit-identical to the host's for {identical}/{total}, {} us for all",
        elapsed_us
    );
    let extra = alloc::format!("cycles_per_us={cycles_per_us} requests={total}");
    bench::report("inference_round_trip", &mut round_trips, &extra);
    bench::report("inference_compute", &mut inferences, &extra);
    let accurate = correct * 1000 >= MIN_ACCURACY_PER_MILLE * total;
    if !(identical == total && correct == host_correct && accurate) {
        return 1;
    }
    batched(&test, &reference)
}

/// Batch sizes of the batched evaluation, one pass each: one image (a
/// small layer), then larger batches (large layers, where a device pays
/// off), the whole split four times so the table can learn where.
const BATCHES: [usize; 6] = [1, 16, 451, 451, 451, 451];

/// Evaluates the whole test split itself in batches, the model's matrix
/// products through the kernel's `tensor` syscall (the adaptive table picks
/// the CPU or a tensor accelerator for each): every image's logits must be
/// the host's, bit for bit. Returns the exit status.
fn batched(test: &ai::model_image::Dataset<'_>, reference: &[u8]) -> i64 {
    let model = match ai::load_model(ai::digits::MODEL_FILE) {
        Ok(model) => model,
        Err(error) => {
            println!("digits_client: the model: {error}");
            return 20;
        }
    };
    let inputs = ai::inputs(test);
    let mut quantized = alloc::vec![0i8; inputs.len()];
    model.quantize_input(&inputs, &mut quantized);
    let width = model.in_dim();
    for batch in BATCHES {
        let mut matmul = ai::KernelMatmul::default();
        let started_us = agent_lib::clock_us();
        let mut identical = 0;
        for first in (0..test.len()).step_by(batch) {
            let count = batch.min(test.len() - first);
            let logits = model.forward_batch_with(
                &quantized[first * width..(first + count) * width],
                count,
                &mut matmul,
            );
            let expected = reference[20 + first * CLASSES * 4..20 + (first + count) * CLASSES * 4]
                .as_chunks::<4>()
                .0
                .iter()
                .map(|chunk| i32::from_le_bytes(*chunk));
            if logits.iter().copied().eq(expected) {
                identical += count;
            }
        }
        println!(
            "digits_client: batches of {batch}: logits bit-identical for {identical}/{} in {} us; layers: {} in the kernel on the CPU, {} on a tensor device, {} in the agent ({} by the fused layer call); {} layers uploaded",
            test.len(),
            agent_lib::clock_us().saturating_sub(started_us),
            matmul.on_cpu,
            matmul.on_device,
            matmul.local,
            matmul.fused,
            matmul.uploads
        );
        if identical != test.len() {
            return 21;
        }
    }
    0
}
