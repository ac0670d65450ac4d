//! Hostile: memory via many children. `hostile_children` and every copy it
//! starts map as much as they can and spawn copies of themselves until
//! refused, then sleep; the harness kills the tree. The tree's memory
//! budget must hold: every copy's `map` ends in `OutOfMemory` and its
//! `spawn` in `OutOfMemory` or `Exhausted` (their reports, received here on
//! endpoint 9), the pages they mapped and the frames the whole kernel
//! allocated during the attack stay within one budget (a monitor samples
//! the frame count), the ledger's record of the tree shows it reached the
//! budget without passing it, and once the tree is gone no charge is left.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use agent_abi::{AGENT_MEMORY_BUDGET_BYTES, CapabilitySet, Error};
use bootloader_api::{BootInfo, entry_point};
use kernel::{memory, task, user};
use kernel_tests::hostile::{self, Attack, Attacker};
use sched_rl::ClassHint;
use spin::Mutex;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// The endpoint the copies report to (`hostile_children`'s).
const REPORT_ENDPOINT: u64 = 9;
/// Frames of one budget.
const BUDGET_FRAMES: u64 = AGENT_MEMORY_BUDGET_BYTES / memory::frame::FRAME_SIZE;
/// Frames the well-behaved agents, the spawn probe and the kernel may take
/// beside the tree during the attack (worker, probe and sleeper take well
/// under a thousand).
const OTHERS_FRAMES: u64 = 1024;
/// How often the monitor samples the frame count (µs).
const MONITOR_PERIOD_US: u64 = 2_000;

static ATTACK: Attack = Attack {
    name: "children",
    attackers: &[Attacker {
        program: "hostile_children",
        capabilities: CapabilitySet::ALL,
        status: None,
    }],
    run_for_us: 6_000_000,
    probe_after_us: 3_000_000,
    check: budget_held,
};

/// What the copies reported.
#[derive(Clone, Copy)]
struct Reports {
    count: u64,
    mapped_bytes: u64,
    /// Reports whose `map` stopped with something else than `OutOfMemory`.
    odd_map_errors: u64,
    /// Reports whose `spawn` stopped with something else than
    /// `OutOfMemory` or `Exhausted`.
    odd_spawn_errors: u64,
    /// Reports whose `spawn` stopped with `OutOfMemory`.
    spawns_out_of_memory: u64,
    malformed: u64,
}

static REPORTS: Mutex<Reports> = Mutex::new(Reports {
    count: 0,
    mapped_bytes: 0,
    odd_map_errors: 0,
    odd_spawn_errors: 0,
    spawns_out_of_memory: 0,
    malformed: 0,
});
/// Frames allocated when the monitor started, and the most seen since.
static FRAMES_AT_START: AtomicU64 = AtomicU64::new(0);
static FRAMES_PEAK: AtomicU64 = AtomicU64::new(0);

/// Receives the copies' reports forever.
fn collector() {
    let me = task::current_pid();
    loop {
        let Ok((_, message)) = user::ipc::receive(me, REPORT_ENDPOINT, user::ipc::Deadline::NEVER)
        else {
            kernel::testing::fail("the report endpoint refused its receiver");
        };
        let payload = message.payload();
        let word = |index: usize| {
            payload
                .get(index * 8..index * 8 + 8)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u64::from_le_bytes)
        };
        kernel::arch::cpu::without_interrupts(|| {
            let mut reports = REPORTS.lock();
            let (Some(mapped), Some(map_error), Some(spawn_error)) = (word(0), word(1), word(2))
            else {
                reports.malformed += 1;
                return;
            };
            reports.count += 1;
            reports.mapped_bytes += mapped;
            if map_error as i64 != Error::OutOfMemory as i64 {
                kernel::println!(
                    "[hostile] children: a copy's map stopped with {} after {mapped} bytes",
                    map_error as i64
                );
                reports.odd_map_errors += 1;
            }
            let spawn_error = spawn_error as i64;
            if spawn_error == Error::OutOfMemory as i64 {
                reports.spawns_out_of_memory += 1;
            } else if spawn_error != Error::Exhausted as i64 {
                reports.odd_spawn_errors += 1;
            }
        });
    }
}

/// Samples the allocated frames, keeping the most seen.
fn monitor() {
    FRAMES_AT_START.store(memory::frame::stats().allocated_frames, Ordering::Relaxed);
    loop {
        let frames = memory::frame::stats().allocated_frames;
        FRAMES_PEAK.fetch_max(frames, Ordering::Relaxed);
        task::sleep_us(MONITOR_PERIOD_US);
    }
}

fn budget_held(_: &[i64]) -> Result<(), &'static str> {
    let reports = kernel::arch::cpu::without_interrupts(|| *REPORTS.lock());
    let frames_taken = FRAMES_PEAK
        .load(Ordering::Relaxed)
        .saturating_sub(FRAMES_AT_START.load(Ordering::Relaxed));
    let trees = user::budget::closed_trees();
    let tree = trees
        .iter()
        .max_by_key(|record| record.refusals)
        .copied()
        .ok_or("the ledger kept no record of the tree")?;
    kernel::println!(
        "[hostile] children: {} reports, {} KiB mapped by them, {} of their spawns refused \
         for memory; frames at most {frames_taken} above the start (budget {BUDGET_FRAMES}); \
         the tree peaked at {} KiB of its {} KiB budget, {} charges refused",
        reports.count,
        reports.mapped_bytes / 1024,
        reports.spawns_out_of_memory,
        tree.peak / 1024,
        tree.budget / 1024,
        tree.refusals
    );
    if reports.malformed != 0 {
        return Err("a report did not decode");
    }
    if reports.count < 2 {
        return Err("fewer than two copies reported (the tree did not grow)");
    }
    if reports.odd_map_errors != 0 {
        return Err("a copy's map was refused with something else than OutOfMemory");
    }
    if reports.odd_spawn_errors != 0 {
        return Err("a copy's spawn was refused with something else than OutOfMemory or Exhausted");
    }
    if reports.mapped_bytes > AGENT_MEMORY_BUDGET_BYTES {
        return Err("the copies mapped more than one budget");
    }
    if reports.mapped_bytes < AGENT_MEMORY_BUDGET_BYTES / 2 {
        return Err("the copies mapped less than half a budget (the attack did not press)");
    }
    if frames_taken > BUDGET_FRAMES + OTHERS_FRAMES {
        return Err("the kernel allocated more frames during the attack than one budget allows");
    }
    if tree.budget != AGENT_MEMORY_BUDGET_BYTES || tree.peak > tree.budget {
        return Err("the ledger shows the tree above its budget");
    }
    if tree.refusals == 0 {
        return Err("the ledger never refused the tree a charge");
    }
    if tree.peak < tree.budget - tree.budget / 16 {
        return Err("the tree's charges never came near its budget");
    }
    // Every user agent is gone (the worker and the probe too): every
    // charge came back and no account is left.
    let ledger = user::budget::stats();
    if ledger.accounts != 0 || ledger.charged != 0 {
        kernel::println!("[hostile] children: ledger after the attack: {ledger:?}");
        return Err("memory budget charges or accounts outlived their agents");
    }
    Ok(())
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_children");
    task::spawn("reports", ClassHint::Interactive, collector).expect("spawn the collector");
    task::spawn("monitor", ClassHint::Interactive, monitor).expect("spawn the monitor");
    hostile::run(&ATTACK)
}
