//! One `edu` device: factorials, DMA round trips, an interrupt job beside another agent, a timeout.
//!
//! Factorials from 34 on wrap to 0 and are answered without the device in
//! constant time; the timeout is a DMA job (the engine takes ~100 ms) with a
//! timeout it cannot meet, after which the device must come back.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use bootloader_api::{BootInfo, entry_point};
use kernel::accel::{self, AccelError, Completion, DeviceState, JobOptions, Route};
use kernel::{task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// Loops the busy agent made while the interrupt jobs waited.
static OTHER_LOOPS: AtomicU64 = AtomicU64::new(0);
/// Inputs the device must never see: answered 0 by the kernel at once.
const HUGE_FACTORIALS: [u32; 4] = [34, 1000, 1 << 28, u32::MAX];
/// Longest a huge factorial may take (µs): no loop over the input (the
/// device would take minutes for `u32::MAX`); the slack is for preemption
/// by the spinner under TCG.
const HUGE_FACTORIAL_LIMIT_US: u64 = 50_000;
/// The `edu` DMA engine finishes a transfer this long (µs) after it starts.
const DMA_TIME_US: u64 = 100_000;
/// A timeout no device job can meet.
const TINY_TIMEOUT_US: u64 = 1;
/// How long the device may take to come back after the timeout.
const RECOVERY_LIMIT_US: u64 = 30_000_000;

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "accel_edu");
    task::init(task::policy_by_name("round-robin").expect("policy"));
    if accel::devices().len() != 1 {
        testing::fail("expected exactly one edu device");
    }
    log::info!("route: {:?}", accel::devices()[0].route);
    task::spawn("spinner", ClassHint::Batch, || {
        loop {
            OTHER_LOOPS.fetch_add(1, Ordering::Relaxed);
        }
    })
    .expect("spawn");
    task::spawn("checker", ClassHint::Interactive, checker).expect("spawn");
    task::run()
}

fn pinned(completion: Completion) -> JobOptions {
    JobOptions {
        completion,
        allow_cpu: false,
        ..JobOptions::default()
    }
}

fn checker() {
    // Factorials on every device route agree with the CPU.
    for input in [0u32, 1, 2, 5, 10, 12, 13, 20, 33, 1000] {
        let expected = accel::factorial_on_cpu(input);
        for completion in [Completion::Poll, Completion::Interrupt] {
            match accel::factorial(input, &pinned(completion)) {
                Ok(outcome) if outcome.value == expected => {}
                other => {
                    log::error!("{input}! via {completion:?}: {other:?}, want {expected}");
                    testing::fail("factorial mismatch");
                }
            }
        }
    }
    log::info!("factorials correct for polling and interrupt completion");
    let jobs_before = accel::devices()[0].jobs;
    for input in HUGE_FACTORIALS {
        for completion in [
            Completion::Poll,
            Completion::Interrupt,
            Completion::Adaptive,
        ] {
            let start = kernel::time::now_us();
            let answer = accel::factorial(input, &pinned(completion));
            let took = kernel::time::now_us() - start;
            if answer.map(|outcome| outcome.value) != Ok(0) || took > HUGE_FACTORIAL_LIMIT_US {
                log::error!("{input}! via {completion:?}: {answer:?} in {took} us");
                testing::fail("a huge factorial was not answered 0 at once");
            }
        }
    }
    if accel::devices()[0].jobs != jobs_before {
        testing::fail("a huge factorial reached the device");
    }
    log::info!("huge factorials answered 0 without the device");
    // An interrupt job blocks its caller; the spinner runs meanwhile (the
    // DMA engine takes ~100 ms per transfer).
    let before = OTHER_LOOPS.load(Ordering::Relaxed);
    for (size, completion) in [
        (1usize, Completion::Poll),
        (100, Completion::Interrupt),
        (accel::MAX_COPY_BYTES, Completion::Interrupt),
        (777, Completion::Poll),
    ] {
        let data: alloc_free::Pattern = alloc_free::Pattern::new(size);
        let bytes = &data.bytes[..size];
        let buffer = match accel::copy_to_device(bytes, &pinned(completion)) {
            Ok(outcome) => outcome.value,
            Err(error) => {
                log::error!("copy_to_device {size}: {error:?}");
                testing::fail("copy to device failed");
            }
        };
        let mut back = [0u8; 4096];
        let outcome = accel::copy_from_device(&buffer, &mut back[..size], &pinned(completion));
        if outcome.is_err() || back[..size] != *bytes {
            log::error!("round trip of {size} bytes: {outcome:?}");
            testing::fail("DMA round trip corrupted data");
        }
        if buffer.device() != Some(0) {
            testing::fail("copy was not served by the device");
        }
    }
    let during = OTHER_LOOPS.load(Ordering::Relaxed) - before;
    log::info!("DMA round trips intact; spinner looped {during} times meanwhile");
    if during == 0 {
        testing::fail("no other agent ran while jobs waited");
    }
    // A job that cannot finish in time: reported, device reset, recovers.
    let options = JobOptions {
        timeout_us: TINY_TIMEOUT_US,
        ..pinned(Completion::Interrupt)
    };
    let started = kernel::time::now_us();
    match accel::copy_to_device(&[7u8; 64], &options) {
        Err(AccelError::Timeout) => {}
        other => {
            log::error!("DMA with a tiny timeout: {other:?}");
            testing::fail("timeout not reported");
        }
    }
    if accel::devices()[0].state != DeviceState::Recovering || accel::devices()[0].timeouts != 1 {
        testing::fail("timed-out device not put in recovery");
    }
    // While its abandoned DMA still runs the device must not serve; once
    // that DMA is over (under a loaded host the checker may be preempted
    // that long) it may already be back.
    let answer = accel::factorial(5, &pinned(Completion::Poll));
    let since = kernel::time::now_us() - started;
    if answer != Err(AccelError::NoDevice) && since < DMA_TIME_US * 9 / 10 {
        log::error!("{since} us after the timed-out DMA began: {answer:?}");
        testing::fail("a recovering device served a job");
    }
    let start = kernel::time::now_us();
    while accel::recover() == 0 {
        if kernel::time::now_us() - start > RECOVERY_LIMIT_US {
            testing::fail("device never recovered");
        }
        task::sleep_us(10_000);
    }
    log::info!(
        "device recovered after {} ms",
        (kernel::time::now_us() - start) / 1000
    );
    match accel::factorial(12, &pinned(Completion::Interrupt)) {
        Ok(outcome) if outcome.value == 479_001_600 && outcome.route == Route::Interrupt(0) => {}
        other => {
            log::error!("after recovery: {other:?}");
            testing::fail("device does not work after recovery");
        }
    }
    let data = alloc_free::Pattern::new(accel::MAX_COPY_BYTES);
    let bytes = &data.bytes[..accel::MAX_COPY_BYTES];
    let mut back = [0u8; 4096];
    let round_trip =
        accel::copy_to_device(bytes, &pinned(Completion::Interrupt)).and_then(|buffer| {
            accel::copy_from_device(
                &buffer.value,
                &mut back[..bytes.len()],
                &pinned(Completion::Interrupt),
            )
        });
    if round_trip.is_err() || back[..bytes.len()] != *bytes {
        log::error!("DMA after recovery: {round_trip:?}");
        testing::fail("device DMA does not work after recovery");
    }
    log::info!("factorial and DMA served after recovery");
    for line in accel::table_lines() {
        log::info!("{line}");
    }
    testing::pass()
}

/// A fixed test pattern without the heap.
mod alloc_free {
    /// Bytes `i * 7 + size` for every position.
    pub struct Pattern {
        pub bytes: [u8; 4096],
    }

    impl Pattern {
        pub fn new(size: usize) -> Self {
            let mut bytes = [0u8; 4096];
            for (index, byte) in bytes.iter_mut().enumerate() {
                *byte = (index * 7 + size) as u8;
            }
            Self { bytes }
        }
    }
}
