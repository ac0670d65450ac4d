//! Benchmark client: cycles of an IPC call round trip (call, receive, reply) to `bench_ipc_server`.
//!
//! Each timed call carries 8 bytes and waits for the 8-byte reply; the
//! server runs in its own address space, so every round trip is two
//! switches between address spaces. Ends the server, then logs one `BENCH` line.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{bench, println};

agent_lib::agent_main!(main);

/// Endpoint `bench_ipc_server` serves.
const ENDPOINT: u64 = 2;
/// Untimed round trips first.
const WARM_UP: usize = 200;
/// First byte of the message that ends the server.
const STOP: u8 = 0xFF;

fn main() -> i64 {
    let mut reply = [0u8; 64];
    let message = 7u64.to_le_bytes();
    for _ in 0..WARM_UP {
        if agent_lib::call(ENDPOINT, &message, &mut reply) != Ok(8) {
            println!("bench_ipc_client: warm-up call failed");
            return 1;
        }
    }
    let mut samples = bench::Samples::new();
    let mut failures = 0;
    for _ in 0..bench::MAX_SAMPLES {
        let mut result = Ok(0);
        samples.record(bench::time(|| {
            result = agent_lib::call(ENDPOINT, &message, &mut reply);
        }));
        if result != Ok(8) || reply[0] != 8 {
            failures += 1;
        }
    }
    samples.report("ipc_call", "ring=3 bytes=8");
    let _ = agent_lib::call(ENDPOINT, &[STOP], &mut reply);
    failures
}
