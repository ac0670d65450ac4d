//! The kernel binary: boot, then run the demo agents, the dashboard and the shell.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use kernel::{Mode, dashboard, demo, display::Display, shell, task};
use sched_rl::ClassHint;

entry_point!(kernel_main, config = &kernel::BOOTLOADER_CONFIG);

/// Demo workload size.
const INFERENCE_AGENTS: u64 = 3;
/// Demo workload size.
const TRAINING_AGENTS: u64 = 2;
/// Policy the demo runs unless the boot command line names another.
const DEFAULT_POLICY: &str = "q-learning";

fn kernel_main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info, Mode::Normal);
    let requested = kernel::boot_args::value("sched").unwrap_or(DEFAULT_POLICY);
    let (policy_name, policy) = match task::policy_by_name(requested) {
        Some(policy) => (requested, policy),
        None => {
            log::warn!("unknown policy {requested:?} on the command line; using {DEFAULT_POLICY}");
            let policy = task::policy_by_name(DEFAULT_POLICY).expect("built-in policy");
            (DEFAULT_POLICY, policy)
        }
    };
    task::init(policy);
    demo::calibrate_work();
    let spawned = demo::spawn_workload(INFERENCE_AGENTS, TRAINING_AGENTS);
    match Display::open() {
        Some(display) => {
            let _ = task::spawn("dashboard", ClassHint::Batch, move || {
                dashboard::run(display)
            });
        }
        None => log::warn!("no display: dashboard off"),
    }
    let _ = task::spawn("shell", ClassHint::Interactive, || shell::run());
    log::info!("scheduler: policy {policy_name}, {spawned} demo agents; shell on serial");
    task::run()
}
