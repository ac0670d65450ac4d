//! The kernel binary: boot, then run the demo agents under the scheduler.
#![no_std]
#![no_main]

use bootloader_api::{BootInfo, entry_point};
use kernel::{Mode, demo, task, time};
use sched_rl::ClassHint;

entry_point!(kernel_main, config = &kernel::BOOTLOADER_CONFIG);

/// Seconds between two status tables.
const STATUS_PERIOD_SECONDS: u64 = 5;
/// Demo workload size.
const INFERENCE_AGENTS: u64 = 3;
/// Demo workload size.
const TRAINING_AGENTS: u64 = 2;
/// Policy the demo runs unless the boot command line names another.
const DEFAULT_POLICY: &str = "q-learning";

fn kernel_main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info, Mode::Normal);
    let requested = kernel::boot_args::value("sched").unwrap_or(DEFAULT_POLICY);
    let (policy_name, policy) = match task::KernelPolicy::by_name(requested) {
        Some(policy) => (requested, policy),
        None => {
            log::warn!("unknown policy {requested:?} on the command line; using {DEFAULT_POLICY}");
            let policy = task::KernelPolicy::by_name(DEFAULT_POLICY).expect("built-in policy");
            (DEFAULT_POLICY, policy)
        }
    };
    task::init(policy);
    demo::calibrate_work();
    let spawned = demo::spawn_workload(INFERENCE_AGENTS, TRAINING_AGENTS);
    let _ = task::spawn("status", ClassHint::Interactive, status_loop);
    log::info!(
        "scheduler: policy {policy_name}, {spawned} demo agents; status every {STATUS_PERIOD_SECONDS} s"
    );
    task::run()
}

fn status_loop() {
    loop {
        task::sleep_us(STATUS_PERIOD_SECONDS * 1_000_000);
        kernel::println!("--- status at {} ms ---", time::uptime_ms());
        task::status::print();
    }
}
