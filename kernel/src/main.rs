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

/// Starts the AI demo in ring 3: the digits inference server, a request
/// generator and a training agent. Returns how many started.
fn spawn_ai_demo() -> usize {
    use agent_abi::CapabilitySet;
    let mut server = CapabilitySet::ALL;
    server.send_endpoints = 0;
    server.receive_endpoints = 1 << agent_abi::DIGITS_ENDPOINT;
    let mut client = CapabilitySet::ALL;
    client.send_endpoints = 1 << agent_abi::DIGITS_ENDPOINT;
    client.receive_endpoints = 0;
    let mut started = 0;
    for (program, capabilities) in [
        ("digits_infer", server),
        ("digits_requests", client),
        ("digits_train", CapabilitySet::ALL),
    ] {
        match kernel::user::spawn(program, capabilities, 0) {
            Ok(_) => started += 1,
            Err(error) => log::warn!("demo: cannot start {program}: {error:?}"),
        }
    }
    started
}

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
    // `demo=synthetic`: the spinning kernel agents of the scheduler
    // tests; otherwise the AI agents in ring 3.
    let synthetic = kernel::boot_args::value("demo") == Some("synthetic");
    // The shell's `spawn` starts synthetic agents in either demo.
    demo::calibrate_work();
    let spawned = if synthetic {
        demo::spawn_workload(INFERENCE_AGENTS, TRAINING_AGENTS)
    } else {
        spawn_ai_demo()
    };
    match Display::open() {
        Some(display) => {
            let _ = task::spawn("dashboard", ClassHint::Batch, move || {
                dashboard::run(display)
            });
        }
        None => log::warn!("no display: dashboard off"),
    }
    let _ = task::spawn("shell", ClassHint::Interactive, || shell::run());
    log::info!(
        "scheduler: policy {policy_name}, {spawned} {} demo agents; shell on serial",
        if synthetic { "synthetic" } else { "AI" }
    );
    task::run()
}
