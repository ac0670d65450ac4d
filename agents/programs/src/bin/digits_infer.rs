//! Inference server: loads the int8 digits model from the ramdisk
//! (`models/digits.aimg`, refused with its cause if the image is bad) and
//! answers requests on endpoint [`ENDPOINT`].
//!
//! Request: the 64 pixels of an 8x8 image (values 0..=16), one byte each.
//! Reply ([`REPLY_BYTES`]): the class (u8), three zero bytes, the model's
//! ten i32 logits, then the cycles the inference took (u64), little-endian.
//! A one-byte request [`STOP`] ends the server (exit 0). A request of any
//! other size is answered with one byte [`BAD_REQUEST`].
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{ai, println, raw::read_timestamp_counter};

agent_lib::agent_main!(main);

/// Endpoint the server receives on.
pub const ENDPOINT: u64 = 5;
/// The model image.
const MODEL: &str = "models/digits.aimg";
/// Pixels per image.
const PIXELS: usize = 64;
/// Largest pixel value.
const VALUE_MAX: f32 = 16.0;
/// Classes.
const CLASSES: usize = 10;
/// Bytes of a reply.
pub const REPLY_BYTES: usize = 4 + CLASSES * 4 + 8;
/// The stop request.
pub const STOP: u8 = 0xFF;
/// The answer to a malformed request.
pub const BAD_REQUEST: u8 = 0xEE;

fn main() -> i64 {
    let model = match ai::load_model(MODEL) {
        Ok(model) => model,
        Err(error) => {
            println!("digits_infer: {MODEL} refused: {error}");
            return 10;
        }
    };
    if model.in_dim() != PIXELS || model.classes() != CLASSES {
        println!(
            "digits_infer: the model takes {} inputs into {} classes, not {PIXELS} into {CLASSES}",
            model.in_dim(),
            model.classes()
        );
        return 11;
    }
    println!(
        "digits_infer: model of {} layers loaded, serving endpoint {ENDPOINT}",
        model.layers.len()
    );
    let mut request = [0u8; 64];
    let mut floats = [0f32; PIXELS];
    let mut quantised = [0i8; PIXELS];
    let mut logits = [0i32; CLASSES];
    let mut served = 0u64;
    loop {
        let (caller, length) = match agent_lib::receive(ENDPOINT, &mut request) {
            Ok(received) => received,
            Err(error) => {
                println!("digits_infer: receive failed: {error:?}");
                return 12;
            }
        };
        if length == 1 && request[0] == STOP {
            let _ = agent_lib::reply(caller, &[STOP]);
            println!("digits_infer: served {served} requests");
            return 0;
        }
        if length != PIXELS {
            let _ = agent_lib::reply(caller, &[BAD_REQUEST]);
            continue;
        }
        let start = read_timestamp_counter();
        for (float, &pixel) in floats.iter_mut().zip(&request[..PIXELS]) {
            *float = f32::from(pixel.min(16)) / VALUE_MAX;
        }
        model.quantize_input(&floats, &mut quantised);
        model.forward(&quantised, &mut logits);
        let class = ai::agent_tensor::argmax_i32(&logits);
        let cycles = read_timestamp_counter().wrapping_sub(start);
        let mut reply = [0u8; REPLY_BYTES];
        reply[0] = class as u8;
        for (chunk, logit) in reply[4..4 + CLASSES * 4]
            .as_chunks_mut::<4>()
            .0
            .iter_mut()
            .zip(logits)
        {
            chunk.copy_from_slice(&logit.to_le_bytes());
        }
        reply[4 + CLASSES * 4..].copy_from_slice(&cycles.to_le_bytes());
        served += 1;
        if agent_lib::reply(caller, &reply).is_err() {
            // The caller is gone: serve the next one.
            continue;
        }
    }
}
