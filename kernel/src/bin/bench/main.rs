//! The benchmark kernel: times kernel primitives or accelerator routes and prints `BENCH` lines.
//!
//! Booted by `cargo xtask bench kernel` and `cargo xtask bench accel`, never
//! by `cargo xtask test`. The boot command line picks the benchmark
//! (`bench=kernel` or `bench=accel`, see `kernel::boot_args`) and its length
//! (`quick=1`). Every result is one serial line
//! `BENCH name=... key=value ...`; lines `BENCHCTX key=value ...` give the
//! context of the results that follow (policy, TSC frequency). The kernel
//! ends QEMU through the exit device: success once every measurement is
//! printed, failure (as any panic does in test mode) when one went wrong.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod accel;
mod primitives;
mod report;

use bootloader_api::{BootInfo, entry_point};
use kernel::{Mode, task, testing, time};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// The policy the benchmark kernel starts with (each benchmark sets its own).
const START_POLICY: &str = "round-robin";

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info, Mode::Test);
    let which = kernel::boot_args::value("bench").unwrap_or("kernel");
    let quick = kernel::boot_args::value("quick") == Some("1");
    kernel::println!(
        "BENCHCTX tsc_hz={} tick_hz={} bench={which} quick={}",
        time::tsc_hz(),
        time::tick_frequency_hz(),
        u8::from(quick)
    );
    task::init(task::policy_by_name(START_POLICY).expect("built-in policy"));
    let spawned = task::spawn("bench", ClassHint::Interactive, move || {
        match which {
            "kernel" => primitives::run(quick),
            "accel" => accel::run(quick),
            other => {
                kernel::println!("unknown benchmark {other:?}: use bench=kernel or bench=accel");
                testing::fail("unknown benchmark")
            }
        }
        kernel::println!("BENCHDONE");
        testing::exit(testing::QemuExitCode::Success)
    });
    if spawned.is_err() {
        testing::fail("cannot spawn the benchmark agent");
    }
    task::run()
}
