//! Hostile accelerator user: maximal inputs on every route, in a loop.
//!
//! Calls `accel_factorial(0xFFFF_FFFF)` and other large inputs with every
//! flag combination, the largest factorial a device computes (33), and
//! `accel_copy` of the largest size, for [`RUN_US`]. Every answer must be
//! right or an honest refusal (`Busy`, `TimedOut`, `Exhausted`, `NoDevice`,
//! `DeviceFault` while a device recovers), and every call must return in
//! bounded time: a factorial the kernel answers without a device within
//! [`INSTANT_LIMIT_US`], a device job within [`DEVICE_LIMIT_US`]. Exit 0:
//! all held; 1: a wrong answer; 2: a call took too long; 3: no call was
//! served at all.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Error, abi, accel_copy, accel_factorial, clock_us, println};

agent_lib::agent_main!(main);

/// How long the hog runs (µs).
const RUN_US: u64 = 4_000_000;
/// Longest a factorial of 34 or more may take: the kernel answers it at
/// once (µs; generous for preemption by the other agents under TCG).
const INSTANT_LIMIT_US: u64 = 100_000;
/// Longest a device call may take: the ABI's bound for a copy (three
/// accelerator timeouts), plus slack for preemption.
const DEVICE_LIMIT_US: u64 = 3 * abi::ACCEL_TIMEOUT_US + 1_000_000;
/// Every flag combination the kernel accepts.
const FLAGS: [u64; 6] = [
    0,
    abi::ACCEL_POLL,
    abi::ACCEL_INTERRUPT,
    abi::ACCEL_ALLOW_CPU,
    abi::ACCEL_ALLOW_CPU | abi::ACCEL_POLL,
    abi::ACCEL_ALLOW_CPU | abi::ACCEL_INTERRUPT,
];
/// Huge inputs: all wrap to 0.
const HUGE: [u64; 4] = [0xFFFF_FFFF, 0xFFFF_FFFE, 1 << 28, 34];

fn expected(input: u64) -> u64 {
    u64::from((1..=input as u32).fold(1u32, |product, factor| product.wrapping_mul(factor)))
}

/// Whether `error` is an honest refusal under contention.
fn refusal(error: Error) -> bool {
    matches!(
        error,
        Error::Busy | Error::TimedOut | Error::Exhausted | Error::NoDevice | Error::DeviceFault
    )
}

struct Tally {
    served: u64,
    refused: u64,
    slowest_instant_us: u64,
    slowest_device_us: u64,
}

impl Tally {
    /// Times `call`; returns the exit status to end with on a violation.
    fn run(
        &mut self,
        instant: bool,
        what: &str,
        call: impl FnOnce() -> Result<bool, Error>,
    ) -> Result<(), i64> {
        let start = clock_us();
        let result = call();
        let took = clock_us().saturating_sub(start);
        let (slowest, limit) = if instant {
            (&mut self.slowest_instant_us, INSTANT_LIMIT_US)
        } else {
            (&mut self.slowest_device_us, DEVICE_LIMIT_US)
        };
        *slowest = (*slowest).max(took);
        if took > limit {
            println!("accel_hog: {what} took {took} us (limit {limit})");
            return Err(2);
        }
        match result {
            Ok(true) => self.served += 1,
            Ok(false) => {
                println!("accel_hog: {what}: wrong answer");
                return Err(1);
            }
            Err(error) if refusal(error) && !instant => self.refused += 1,
            Err(error) => {
                println!("accel_hog: {what}: {error:?}");
                return Err(1);
            }
        }
        Ok(())
    }
}

fn main() -> i64 {
    let mut tally = Tally {
        served: 0,
        refused: 0,
        slowest_instant_us: 0,
        slowest_device_us: 0,
    };
    let mut source = [0u8; abi::MAX_ACCEL_COPY_BYTES as usize];
    let mut destination = [0u8; abi::MAX_ACCEL_COPY_BYTES as usize];
    let began = clock_us();
    let mut round: u64 = 0;
    while clock_us().saturating_sub(began) < RUN_US {
        round += 1;
        for (index, byte) in source.iter_mut().enumerate() {
            *byte = (index as u64 * 31 + round) as u8;
        }
        let flags = FLAGS[(round % FLAGS.len() as u64) as usize];
        let outcome = (|| -> Result<(), i64> {
            for input in HUGE {
                tally.run(true, "huge factorial", || {
                    accel_factorial(input, flags).map(|answer| answer == 0)
                })?;
            }
            tally.run(false, "33!", || {
                accel_factorial(33, flags).map(|answer| answer == expected(33))
            })?;
            destination.fill(0);
            tally.run(false, "max copy", || {
                accel_copy(&source, &mut destination, flags)
                    .map(|copied| copied == source.len() as u64 && source == destination)
            })?;
            // Over the limit: refused at once, not truncated.
            let mut big = [0u8; abi::MAX_ACCEL_COPY_BYTES as usize + 1];
            let too_big = agent_lib::raw::raw6(
                abi::Syscall::AccelCopy as u64,
                big.as_ptr() as u64,
                big.len() as u64,
                big.as_mut_ptr() as u64,
                flags,
                0,
                0,
            );
            if too_big >= 0 {
                println!("accel_hog: a copy over the limit was served");
                return Err(1);
            }
            Ok(())
        })();
        if let Err(status) = outcome {
            return status;
        }
    }
    println!(
        "accel_hog: {round} rounds, {} served, {} refused; slowest huge factorial {} us, slowest device call {} us",
        tally.served, tally.refused, tally.slowest_instant_us, tally.slowest_device_us
    );
    if tally.served == 0 { 3 } else { 0 }
}
