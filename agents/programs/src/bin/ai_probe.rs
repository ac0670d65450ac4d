//! Probes the model path with bad input: `read_file` with names outside
//! `models/`, bad buffers and offsets past the end; then the digits model
//! image truncated, with a flipped payload byte, with a wrong layer shape
//! and with trailing bytes. Every one must be refused with an error (and
//! its cause printed); the intact image must still load afterwards.
//! Then bad `objective` calls (unknown operation, targets and deadlines
//! out of range, an accuracy above its total), each refused, and good ones
//! accepted.
//!
//! Exit 0 when every probe was refused as it should be.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use agent_lib::{
    Error,
    ai::{self, digits::MODEL_FILE as MODEL},
    println,
};

agent_lib::agent_main!(main);

/// Offset of the first layer descriptor's `in_dim` (48-byte header, then
/// kind u16 and flags u16: see `agents/model-image/FORMAT.md`).
const FIRST_IN_DIM: usize = 48 + 4;

fn main() -> i64 {
    let mut failures = 0;
    let mut buffer = [0u8; 16];
    let expect_error = |what: &str, result: Result<usize, Error>, failures: &mut i64| match result {
        Err(error) => println!("ai_probe: {what}: refused ({error:?})"),
        Ok(read) => {
            println!("ai_probe: {what}: NOT refused ({read} bytes)");
            *failures += 1;
        }
    };
    expect_error(
        "a program, not a model",
        agent_lib::read_file("agents/hello", 0, &mut buffer),
        &mut failures,
    );
    expect_error(
        "the directory itself",
        agent_lib::read_file("models/", 0, &mut buffer),
        &mut failures,
    );
    expect_error(
        "a missing model",
        agent_lib::read_file("models/nothing", 0, &mut buffer),
        &mut failures,
    );
    expect_error(
        "a kernel buffer",
        agent_lib::check(agent_lib::raw::raw6(
            agent_lib::Syscall::ReadFile as u64,
            MODEL.as_ptr() as u64,
            MODEL.len() as u64,
            0,
            agent_lib::raw::fault::KERNEL_ADDRESS,
            16,
            0,
        ))
        .map(|read| read as usize),
        &mut failures,
    );
    match agent_lib::read_file(MODEL, u64::MAX, &mut buffer) {
        Ok(0) => println!("ai_probe: an offset past the end reads nothing"),
        other => {
            println!("ai_probe: an offset past the end gave {other:?}");
            failures += 1;
        }
    }
    let Ok(good) = agent_lib::load_file(MODEL) else {
        println!("ai_probe: cannot read {MODEL}");
        return 10;
    };
    let mut bad_images = alloc::vec::Vec::new();
    bad_images.push(("truncated by one byte", good[..good.len() - 1].to_vec()));
    bad_images.push(("truncated to its header", good[..48].to_vec()));
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    bad_images.push(("a weight byte flipped", flipped));
    let mut reshaped = good.clone();
    reshaped[FIRST_IN_DIM] = reshaped[FIRST_IN_DIM].wrapping_add(1);
    bad_images.push(("a wrong layer shape", reshaped));
    let mut longer = good.clone();
    longer.push(0);
    bad_images.push(("a trailing byte", longer));
    for (what, image) in &bad_images {
        match ai::model_from_image(image) {
            Err(error) => println!("ai_probe: model with {what}: refused: {error}"),
            Ok(_) => {
                println!("ai_probe: model with {what}: NOT refused");
                failures += 1;
            }
        }
    }
    match ai::model_from_image(&good) {
        Ok(model) => println!(
            "ai_probe: the intact model still loads ({} -> {})",
            model.in_dim(),
            model.classes()
        ),
        Err(error) => {
            println!("ai_probe: the intact model is refused: {error}");
            failures += 1;
        }
    }
    failures + probe_objectives()
}

/// Feeds the `objective` syscall bad and good arguments; returns the
/// number of wrong answers.
fn probe_objectives() -> i64 {
    use agent_lib::abi::{MAX_LATENCY_TARGET_US, MAX_OBJECTIVE_DEADLINE_US};
    let objective = |operation: u64, first: u64, second: u64| {
        agent_lib::check(agent_lib::raw::syscall3(
            agent_lib::Syscall::Objective,
            operation,
            first,
            second,
        ))
    };
    let bad: [(&str, u64, u64, u64); 8] = [
        ("an unknown operation", 4, 1, 1),
        ("a huge operation", u64::MAX, 1, 1),
        ("a zero latency target", 0, 0, 0),
        ("a latency target too long", 0, MAX_LATENCY_TARGET_US + 1, 0),
        ("a loss deadline of zero", 1, 1, 0),
        (
            "a loss deadline too far",
            1,
            1,
            MAX_OBJECTIVE_DEADLINE_US + 1,
        ),
        ("an accuracy above its total", 3, 5, 4),
        ("an accuracy out of nothing", 3, 0, 0),
    ];
    let mut failures = 0;
    for (what, operation, first, second) in bad {
        match objective(operation, first, second) {
            Err(Error::InvalidArgument) => println!("ai_probe: objective with {what}: refused"),
            other => {
                println!("ai_probe: objective with {what}: {other:?}, not invalid-argument");
                failures += 1;
            }
        }
    }
    let good: [(&str, u64, u64, u64); 4] = [
        ("the longest latency target", 0, MAX_LATENCY_TARGET_US, 0),
        ("a loss of u64::MAX reported", 2, u64::MAX, 0),
        (
            "the furthest loss deadline",
            1,
            0,
            MAX_OBJECTIVE_DEADLINE_US,
        ),
        ("a perfect accuracy", 3, 7, 7),
    ];
    for (what, operation, first, second) in good {
        if let Err(error) = objective(operation, first, second) {
            println!("ai_probe: objective with {what}: refused ({error:?})");
            failures += 1;
        }
    }
    failures
}
