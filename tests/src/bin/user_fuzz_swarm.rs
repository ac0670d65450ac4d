//! The swarm fuzzer (`fuzzer_swarm`) in the hostile harness: K cooperating
//! ring-3 agents with every capability issue random syscalls (spawn, wait,
//! IPC, map at chosen addresses, the accelerator, random RSP and RFLAGS)
//! beside the harness's well-behaved worker, sleeper and spawn probe. The
//! kernel must survive, the worker must finish correctly, every swarm
//! agent must finish its calls with status 0 (every message it exchanged
//! with its partner came back right), the kernel must have served at least
//! the configured number of calls, and heap bytes and allocated frames must
//! return to their starting counts.
//!
//! Boot arguments (`cargo xtask fuzz` sets them): `fuzz_calls` (total, split
//! over the agents; default 1 000 000), `fuzz_seed` (default 0xF0225EED),
//! `fuzz_agents` (default 4, at most 14). A kernel agent serves the agents'
//! configuration on endpoint 15, which no agent may receive on.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::{boxed::Box, vec::Vec};
use core::sync::atomic::{AtomicU64, Ordering};

use agent_abi::{CapabilitySet, MAX_ENDPOINTS, Syscall};
use bootloader_api::{BootInfo, entry_point};
use kernel::{boot_args, task, user::ipc};
use kernel_tests::hostile::{self, Attack, Attacker};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// Endpoint of the configuration server (the swarm's `CONFIG_ENDPOINT`).
const CONFIG_ENDPOINT: u64 = MAX_ENDPOINTS - 1;
/// Calls of a child copy.
const CHILD_CALLS: u64 = 500;
/// Most agents (the pairs use endpoints below the configuration server's).
const MAX_AGENTS: u64 = MAX_ENDPOINTS - 2;

static CALLS_PER_AGENT: AtomicU64 = AtomicU64::new(0);
static SEED: AtomicU64 = AtomicU64::new(0);
static AGENTS: AtomicU64 = AtomicU64::new(0);
static NEXT_INDEX: AtomicU64 = AtomicU64::new(0);
static CALLS_WANTED: AtomicU64 = AtomicU64::new(0);
static SYSCALLS_BEFORE: AtomicU64 = AtomicU64::new(0);

/// Parses a decimal or `0x` hexadecimal number.
fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Returns boot argument `key` as a number, or `default`.
fn argument(key: &str, default: u64) -> u64 {
    boot_args::value(key).and_then(number).unwrap_or(default)
}

/// Every syscall the kernel has answered (served, unknown or denied).
fn syscalls_served() -> u64 {
    let (unknown, denied) = kernel::syscall::refusals();
    let served: u64 = Syscall::ALL
        .iter()
        .map(|syscall| kernel::syscall::counters(*syscall).calls)
        .sum();
    served + unknown + denied
}

/// Answers every message on [`CONFIG_ENDPOINT`] with a configuration:
/// calls, seed, index, agents, child mode (five little-endian words). A
/// top-level agent asking `swarm-config` gets the next index; anyone else
/// (children, random messages) gets child mode.
fn config_server() {
    let me = task::current_pid();
    loop {
        let Ok((sender, message)) = ipc::receive(me, CONFIG_ENDPOINT, ipc::Deadline::NEVER) else {
            task::sleep_us(1_000);
            continue;
        };
        let agents = task::agents();
        let parent = agents
            .iter()
            .find(|agent| agent.pid == sender)
            .map(|agent| agent.parent);
        let child = parent
            .and_then(|parent| agents.iter().find(|agent| agent.pid == parent))
            .is_some_and(|agent| agent.name == "fuzzer_swarm");
        drop(agents);
        let total = AGENTS.load(Ordering::Relaxed);
        let index = if !child && message.payload() == b"swarm-config" {
            NEXT_INDEX.fetch_add(1, Ordering::Relaxed)
        } else {
            u64::MAX
        };
        let top_level = index < total;
        let words = [
            if top_level {
                CALLS_PER_AGENT.load(Ordering::Relaxed)
            } else {
                CHILD_CALLS
            },
            SEED.load(Ordering::Relaxed) ^ sender,
            if top_level { index } else { 0 },
            if top_level { total } else { 1 },
            u64::from(!top_level),
        ];
        let mut bytes = [0u8; 40];
        for (index, word) in words.iter().enumerate() {
            bytes[index * 8..index * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
        // A plain `send` has nobody waiting for a reply: that error is fine.
        let _ = ipc::reply(me, sender, ipc::Message::new(&bytes));
    }
}

/// Every swarm agent finished its calls (status 0, not killed), and the
/// kernel served at least the wanted number of calls.
fn check(statuses: &[i64]) -> Result<(), &'static str> {
    let served = syscalls_served() - SYSCALLS_BEFORE.load(Ordering::Relaxed);
    let wanted = CALLS_WANTED.load(Ordering::Relaxed);
    kernel::println!("[fuzz] syscalls served during the run: {served} (wanted {wanted})");
    for line in kernel::syscall::table_lines() {
        kernel::println!("[fuzz] {line}");
    }
    for agent in task::agents() {
        kernel::println!(
            "[fuzz] still alive: agent {} ({}) of {}, {}",
            agent.pid,
            agent.name,
            agent.parent,
            agent.state
        );
    }
    if statuses.iter().any(|status| *status != 0) {
        return Err("a swarm agent did not finish its calls with status 0");
    }
    if served < wanted {
        return Err("the kernel served fewer calls than the swarm was to issue");
    }
    Ok(())
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_fuzz_swarm");
    let calls = argument("fuzz_calls", 1_000_000);
    let seed = argument("fuzz_seed", 0xF022_5EED);
    let agents = argument("fuzz_agents", 4).clamp(1, MAX_AGENTS);
    let per_agent = calls.div_ceil(agents);
    CALLS_PER_AGENT.store(per_agent, Ordering::Relaxed);
    SEED.store(seed, Ordering::Relaxed);
    AGENTS.store(agents, Ordering::Relaxed);
    CALLS_WANTED.store(per_agent * agents, Ordering::Relaxed);
    kernel::println!("[fuzz] {calls} calls over {agents} agents, seed {seed:#x}");
    task::spawn("fuzz-config", ClassHint::Interactive, config_server).expect("config server");
    // Every capability, except receiving on the configuration endpoint.
    let capabilities = CapabilitySet {
        receive_endpoints: !(1 << CONFIG_ENDPOINT),
        ..CapabilitySet::ALL
    };
    let attackers: Vec<Attacker> = (0..agents)
        .map(|_| Attacker {
            program: "fuzzer_swarm",
            capabilities,
            status: Some(0),
        })
        .collect();
    // A liveness bound, not a speed claim: 30 s plus 400 us of virtual time
    // per call. Four agents took 220 to 240 s (virtual, icount shift=4) for
    // 1 000 000 calls on the 2-core CI host, so 200 us per call (the old
    // bound) failed about half the runs, the unchanged kernel's included.
    let run_for_us = 30_000_000 + per_agent * agents * 400;
    let attack = Box::leak(Box::new(Attack {
        name: "fuzz_swarm",
        attackers: Box::leak(attackers.into_boxed_slice()),
        run_for_us,
        probe_after_us: 2_000_000,
        check,
    }));
    SYSCALLS_BEFORE.store(syscalls_served(), Ordering::Relaxed);
    hostile::run(attack)
}
