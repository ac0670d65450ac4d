//! `bench=kernel`: cycles per scheduling decision, context switch, null syscall and IPC call.
//!
//! - Decisions: for each policy and workload (N agents that each burn
//!   [`SPIN_BURST_US`] of CPU then yield, for N in [`AGENT_COUNTS`]; and the
//!   demo workload of `kernel::demo`), the task manager's own
//!   `decision_cycles` histogram (`next` plus the feedback call, rdtsc)
//!   over a window of [`WINDOW_MS`]; the benchmark agent sleeps meanwhile.
//! - Context switch: two kernel agents yield to each other under round
//!   robin; a sample is the rdtsc round trip (two switches) halved. The
//!   manager's `switch_cycles` (handler entry to the chosen stack) is
//!   printed beside it.
//! - Null syscall and IPC call: ring-3 programs `bench_null`,
//!   `bench_ipc_client` and `bench_ipc_server` time themselves with rdtsc
//!   and print their own `BENCH` lines; beside the IPC pair, the manager's
//!   switch and vector hand-over histograms (ring-3 pair: every switch
//!   saves and restores vector state; the kernel pair above moves none).
//! - Inference under each policy: `digits_client` sends the digits test
//!   split to `digits_infer` while `digits_train` trains beside them, and
//!   prints round-trip and in-server latency per request.

use alloc::{format, vec::Vec};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use agent_abi::CapabilitySet;
use kernel::{arch::cpu, demo, task, testing};
use sched_rl::{ClassHint, PolicyKind};

use crate::report;

/// Workload sizes of the decision benchmark. 63 spinning agents plus the
/// sleeping benchmark agent fill the table (`sched_rl::MAX_AGENTS` = 64).
const AGENT_COUNTS: [usize; 3] = [4, 16, 63];
/// CPU each spinning agent burns before it yields, µs.
const SPIN_BURST_US: u64 = 300;
/// Measurement window per policy and workload, ms.
const WINDOW_MS: u64 = 500;
/// Window with `quick=1`, ms.
const QUICK_WINDOW_MS: u64 = 150;
/// Time a new workload runs before the window starts, ms.
const SETTLE_MS: u64 = 20;
/// Timed yield round trips of the switch benchmark.
const SWITCH_ROUNDS: usize = 20_000;
/// Round trips with `quick=1`.
const QUICK_SWITCH_ROUNDS: usize = 4_000;
/// Untimed round trips first.
const WARM_UP_ROUNDS: usize = 500;
/// Policies the IPC benchmark runs under.
const IPC_POLICIES: [&str; 2] = ["round-robin", "q-learning"];
/// Endpoint the IPC programs use (matches `bench_ipc_*`).
const IPC_ENDPOINT: u64 = 2;
/// How often the benchmark agent looks whether a phase ended, µs.
const POLL_US: u64 = 2_000;

static STOP: AtomicBool = AtomicBool::new(false);
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// Runs every kernel benchmark.
pub fn run(quick: bool) {
    demo::calibrate_work();
    let window_ms = if quick { QUICK_WINDOW_MS } else { WINDOW_MS };
    decisions(window_ms);
    switches(if quick {
        QUICK_SWITCH_ROUNDS
    } else {
        SWITCH_ROUNDS
    });
    null_syscall();
    for policy in IPC_POLICIES {
        ipc(policy);
    }
    for kind in PolicyKind::ALL {
        inference(kind.name());
    }
}

fn set_policy(name: &str) {
    task::replace_policy(task::policy_by_name(name).expect("built-in policy"));
    kernel::println!("BENCHCTX policy={name}");
}

/// Waits until only the benchmark agent is left.
fn wait_for_others() {
    while task::live_agents() > 1 {
        task::sleep_us(POLL_US);
    }
}

fn spinner() {
    while !STOP.load(Ordering::Relaxed) {
        demo::burn_us(SPIN_BURST_US);
        task::yield_now();
    }
}

/// Measures the decision cost of every policy on every workload.
fn decisions(window_ms: u64) {
    let workloads = AGENT_COUNTS.iter().map(|count| Some(*count)).chain([None]);
    for workload in workloads {
        for kind in PolicyKind::ALL {
            set_policy(kind.name());
            STOP.store(false, Ordering::Relaxed);
            demo::allow();
            let (label, agents) = match workload {
                Some(count) => {
                    for index in 0..count {
                        // Half interactive, half batch, so class-aware
                        // policies see both.
                        let class = if index % 2 == 0 {
                            ClassHint::Interactive
                        } else {
                            ClassHint::Batch
                        };
                        if task::spawn(&format!("spin-{index}"), class, spinner).is_err() {
                            testing::fail("cannot spawn a spinning agent");
                        }
                    }
                    ("spin", count)
                }
                None => ("demo", demo::spawn_workload(3, 2)),
            };
            task::sleep_us(SETTLE_MS * 1_000);
            task::reset_statistics();
            let switches_before = task::counters().switches;
            task::sleep_us(window_ms * 1_000);
            let (decisions, switch_cycles) = task::scheduler()
                .map(|scheduler| (scheduler.decision_cycles, scheduler.switch_cycles))
                .expect("task manager runs");
            let switches = task::counters().switches - switches_before;
            let fallbacks = task::policy_stats().map_or(0, |stats| stats.fallbacks);
            STOP.store(true, Ordering::Relaxed);
            demo::stop();
            wait_for_others();
            let extra = format!(
                "policy={} workload={label} agents={agents} window_ms={window_ms} switches={switches} fallbacks={fallbacks}",
                kind.name()
            );
            report::print_histogram("decision", &decisions, &extra);
            report::print_histogram("switch_in_handler", &switch_cycles, &extra);
        }
    }
    demo::allow();
}

/// Measures a context switch: two agents yielding to each other.
fn switches(rounds: usize) {
    set_policy("round-robin");
    STOP.store(false, Ordering::Relaxed);
    FINISHED.store(0, Ordering::Relaxed);
    let partner = || {
        while !STOP.load(Ordering::Relaxed) {
            task::yield_now();
        }
    };
    let timer = move || {
        for _ in 0..WARM_UP_ROUNDS {
            task::yield_now();
        }
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = cpu::read_timestamp_counter();
            task::yield_now();
            samples.push(cpu::read_timestamp_counter().wrapping_sub(start) / 2);
        }
        STOP.store(true, Ordering::Relaxed);
        report::print(
            "context_switch",
            &mut samples,
            "cycles",
            "policy=round-robin method=yield-round-trip/2",
        );
        FINISHED.store(1, Ordering::Relaxed);
    };
    if task::spawn("switch-partner", ClassHint::Batch, partner).is_err()
        || task::spawn("switch-timer", ClassHint::Batch, timer).is_err()
    {
        testing::fail("cannot spawn the switch agents");
    }
    // Sleep long first so the benchmark agent stays out of the rotation.
    while FINISHED.load(Ordering::Relaxed) == 0 {
        task::sleep_us(50 * POLL_US);
    }
    let switch_cycles = task::scheduler().expect("task manager runs").switch_cycles;
    wait_for_others();
    report::print_histogram(
        "switch_in_handler",
        &switch_cycles,
        "policy=round-robin workload=yield-pair agents=2",
    );
}

fn run_program(name: &str, capabilities: CapabilitySet) -> u64 {
    match kernel::user::spawn(name, capabilities, task::current_pid()) {
        Ok(child) => child,
        Err(error) => {
            kernel::println!("cannot start {name}: {error:?}");
            testing::fail("benchmark program missing from the ramdisk")
        }
    }
}

fn check_status(name: &str, status: Option<i64>) {
    if status != Some(0) {
        kernel::println!("{name} ended with {status:?}");
        testing::fail("a benchmark program failed");
    }
}

/// Runs `bench_null`, which prints its own `BENCH` lines.
fn null_syscall() {
    set_policy("round-robin");
    let child = run_program("bench_null", CapabilitySet::ALL);
    check_status("bench_null", task::wait_child(child));
}

/// Runs the IPC pair under `policy`; the client prints the `BENCH` line.
fn ipc(policy: &str) {
    set_policy(policy);
    let mut server_caps = CapabilitySet::ALL;
    server_caps.send_endpoints = 0;
    server_caps.receive_endpoints = 1 << IPC_ENDPOINT;
    let mut client_caps = CapabilitySet::ALL;
    client_caps.send_endpoints = 1 << IPC_ENDPOINT;
    client_caps.receive_endpoints = 0;
    task::reset_statistics();
    let server = run_program("bench_ipc_server", server_caps);
    let client = run_program("bench_ipc_client", client_caps);
    check_status("bench_ipc_client", task::wait_child(client));
    check_status("bench_ipc_server", task::wait_child(server));
    // Every switch between the two ring-3 agents hands the vector state
    // over (save + restore); the kernel pair of `switches` moves none.
    let scheduler = task::scheduler().expect("task manager runs");
    let extra = format!("policy={policy} workload=ipc-pair agents=2");
    report::print_histogram("switch_in_handler", &scheduler.switch_cycles, &extra);
    report::print_histogram("vector_handover", &scheduler.vector_cycles, &extra);
}

/// Serves the digits test split under `policy`: `digits_infer` answers
/// `digits_client`'s requests while `digits_train` trains beside them (CPU
/// load the policy must schedule around); the client prints the
/// `inference_*` `BENCH` lines.
fn inference(policy: &str) {
    set_policy(policy);
    let mut server_caps = CapabilitySet::ALL;
    server_caps.send_endpoints = 0;
    server_caps.receive_endpoints = 1 << agent_abi::DIGITS_ENDPOINT;
    let mut client_caps = CapabilitySet::ALL;
    client_caps.send_endpoints = 1 << agent_abi::DIGITS_ENDPOINT;
    client_caps.receive_endpoints = 0;
    let server = run_program("digits_infer", server_caps);
    let trainer = run_program("digits_train", CapabilitySet::ALL);
    let client = run_program("digits_client", client_caps);
    check_status("digits_client", task::wait_child(client));
    check_status("digits_infer", task::wait_child(server));
    check_status("digits_train", task::wait_child(trainer));
    // The server's latency objective, as the task manager measured it
    // (every request from the client's `call` to the server's `reply`).
    let finished = task::finished_progress();
    let Some(served) = finished.iter().find(|agent| agent.pid == server) else {
        testing::fail("the digits server's objective was not recorded");
    };
    let target_us = match served.progress.objective {
        Some((sched_rl::Objective::Latency { target_us }, _)) => target_us,
        _ => testing::fail("the digits server declared no latency objective"),
    };
    let (requests, met) = served.progress.requests;
    kernel::println!(
        "BENCH name=inference_objective requests={requests} met={met} target_us={target_us} worst_us={} unit=requests policy={policy}",
        served.progress.latencies_us.1
    );
}
