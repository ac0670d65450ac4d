//! Inference server: loads the int8 digits model from the ramdisk
//! (`models/digits.aimg`, refused with its cause if the image is bad) and
//! answers requests on endpoint 5 in the format of `agent_lib::ai::digits`
//! (an 8x8 image in, the class, logits and cycles out). A one-byte stop
//! request ends the server (exit 0); a request of any other size is
//! answered with one byte `BAD_REQUEST`. It declares a latency objective
//! (`LATENCY_TARGET_US` per request) that the kernel measures it by.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{
    ai::{
        self,
        digits::{
            BAD_REQUEST, CLASSES, ENDPOINT, LATENCY_TARGET_US, MODEL_FILE as MODEL, PIXELS, Reply,
            STOP, VALUE_MAX,
        },
    },
    println,
    raw::read_timestamp_counter,
};

agent_lib::agent_main!(main);

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
    if let Err(error) = agent_lib::declare_latency_objective(LATENCY_TARGET_US) {
        println!("digits_infer: objective refused: {error:?}");
        return 13;
    }
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
            *float = f32::from(pixel.min(VALUE_MAX)) / f32::from(VALUE_MAX);
        }
        model.quantize_input(&floats, &mut quantised);
        model.forward(&quantised, &mut logits);
        let class = ai::agent_tensor::argmax_i32(&logits);
        let cycles = read_timestamp_counter().wrapping_sub(start);
        let reply = Reply {
            class: class as u8,
            logits,
            cycles,
        }
        .to_bytes();
        served += 1;
        if agent_lib::reply(caller, &reply).is_err() {
            // The caller is gone: serve the next one.
            continue;
        }
    }
}
