//! Copies the largest buffer through a device with interrupt completion, forever.
//!
//! Each round trip is two DMA jobs of ~100 ms during which the agent is
//! blocked in the kernel holding a device and its buffer: the victim of the
//! kill-in-the-middle-of-a-device-job test. Exits 1 on a wrong copy (it is
//! meant to be killed, never to end by itself).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Error, abi, accel_copy, println};

agent_lib::agent_main!(main);

fn main() -> i64 {
    let mut source = [0u8; abi::MAX_ACCEL_COPY_BYTES as usize];
    let mut destination = [0u8; abi::MAX_ACCEL_COPY_BYTES as usize];
    let mut round: u64 = 0;
    loop {
        round += 1;
        for (index, byte) in source.iter_mut().enumerate() {
            *byte = (index as u64 * 13 + round) as u8;
        }
        match accel_copy(&source, &mut destination, abi::ACCEL_INTERRUPT) {
            Ok(copied) if copied == source.len() as u64 && source == destination => {}
            Err(Error::Busy | Error::TimedOut | Error::Exhausted) => {}
            other => {
                println!("accel_long_job: round {round}: {other:?}");
                return 1;
            }
        }
    }
}
