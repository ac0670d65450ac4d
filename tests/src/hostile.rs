//! The harness of the hostile suite: one attack beside well-behaved agents.
//!
//! [`run`] starts, in this order: a kernel *sleeper* that sleeps 1 ms at a
//! time and records how late it wakes; a well-behaved ring-3 `worker` whose
//! result is checked; then the attacking programs. While they run it checks
//! that the shell's way of starting a program (`user::spawn` with the kernel
//! as parent) still works; after they end (or are killed as a tree when
//! they outlive [`Attack::run_for_us`]) it checks that the worker finished
//! with the right result, that the sleeper's p99 lateness stayed under
//! [`MAX_SLEEPER_P99_US`], that the scheduler watchdog never fell back
//! (a hostile agent must not be able to trip it), that the kernel heap and
//! the allocated frames are back at their starting counts, and then the
//! scenario's own check.
//! Any failed check fails the test; the numbers are printed either way.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use agent_abi::CapabilitySet;
use kernel::{memory, task, task::histogram::Histogram, testing, time};
use sched_rl::ClassHint;
use spin::Mutex;

/// The sleeper's p99 lateness must stay below this (µs).
pub const MAX_SLEEPER_P99_US: u64 = 5_000;
/// How long the sleeper sleeps each round (µs).
const SLEEP_US: u64 = 1_000;

/// One attacking program.
#[derive(Clone, Copy)]
pub struct Attacker {
    /// Its ramdisk program.
    pub program: &'static str,
    /// What it may do.
    pub capabilities: CapabilitySet,
    /// The exit status it must end with (`None`: any).
    pub status: Option<i64>,
}

/// One scenario of the hostile suite.
pub struct Attack {
    /// Scenario name, printed.
    pub name: &'static str,
    /// The attackers, started together.
    pub attackers: &'static [Attacker],
    /// Attackers still alive after this long (µs) are killed with their
    /// descendants (and then count as status [`task::KILLED_STATUS`]).
    pub run_for_us: u64,
    /// When (µs after the attack starts) the spawn probe runs.
    pub probe_after_us: u64,
    /// The scenario's own check, run after everything else passed, with
    /// the attackers' statuses.
    pub check: fn(&[i64]) -> Result<(), &'static str>,
}

/// Accepts any statuses.
pub fn no_check(_: &[i64]) -> Result<(), &'static str> {
    Ok(())
}

static SLEEPER_LATENESS: Mutex<Option<Histogram>> = Mutex::new(None);
static SLEEPER_STOP: AtomicBool = AtomicBool::new(false);
static SLEEPER_DONE: AtomicBool = AtomicBool::new(false);

fn sleeper() {
    let mut lateness = Histogram::new();
    while !SLEEPER_STOP.load(Ordering::Acquire) {
        let asked = time::now_us() + SLEEP_US;
        task::sleep_us(SLEEP_US);
        lateness.record(time::now_us().saturating_sub(asked));
    }
    kernel::arch::cpu::without_interrupts(|| *SLEEPER_LATENESS.lock() = Some(lateness));
    SLEEPER_DONE.store(true, Ordering::Release);
}

/// Heap bytes in use and frames allocated.
fn memory_counts() -> (usize, u64) {
    (
        memory::heap::stats().used,
        memory::frame::stats().allocated_frames,
    )
}

/// Returns whether agent `pid` has not ended.
fn alive(pid: u64) -> bool {
    task::agents().iter().any(|agent| agent.pid == pid)
}

/// Ends `pid` and everything it started.
fn kill_tree(pid: u64) {
    let _ = task::kill_tree(pid);
}

/// Sleeps, yielding to the others, until the counts settle (reaping of the
/// last exits happens on the next switches) or a second passes.
fn settled_counts(start: (usize, u64)) -> (usize, u64) {
    let deadline = time::now_us() + 1_000_000;
    loop {
        task::sleep_us(10_000);
        let counts = memory_counts();
        if counts == start || time::now_us() > deadline {
            return counts;
        }
    }
}

/// Starts the test kernel `scenario` with the harness's scheduler (the
/// Q-learning policy every hostile scenario is run against); agents the
/// scenario spawns before [`run`] come after this.
pub fn start(boot_info: &'static mut bootloader_api::BootInfo, scenario: &str) {
    crate::start(boot_info, scenario);
    task::init(task::policy_by_name("q-learning").expect("policy"));
}

/// Runs `attack` from a controller agent and ends the test with its verdict.
/// Call after [`start`]; does not return.
pub fn run(attack: &'static Attack) -> ! {
    task::spawn(
        "controller",
        ClassHint::Interactive,
        move || match controller(attack) {
            Ok(()) => testing::pass(),
            Err(reason) => {
                kernel::println!(
                    "[hostile] {}: since the start: {}",
                    attack.name,
                    kernel::shell::latency_summary()
                );
                kernel::println!("[hostile] {}: FAILED: {reason}", attack.name);
                testing::fail(reason)
            }
        },
    )
    .expect("spawn controller");
    task::run()
}

fn controller(attack: &Attack) -> Result<(), &'static str> {
    let me = task::current_pid();
    // Warm up: one program start and end, so memory the kernel makes once
    // (events, tables) is not counted against the attack.
    let warm = kernel::user::spawn("hello", CapabilitySet::ALL, me).map_err(|_| "warm-up spawn")?;
    if task::wait_child(warm) != Some(0) {
        return Err("warm-up program failed");
    }
    // The controller's own lists exist before the start counts are taken.
    let count = attack.attackers.len();
    let (mut attackers, mut killed, mut statuses) = (
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
    );
    // The accelerator's watchdog agent and device events, made once on the
    // first interrupt job: made now, so they are not counted as the attack's.
    kernel::accel::start_service();
    let start = settled_counts(memory_counts());
    kernel::println!(
        "[hostile] {}: start heap {} B, frames {}",
        attack.name,
        start.0,
        start.1
    );

    let fallbacks = task::counters().fallbacks;
    kernel::arch::interrupts_off::reset_interrupts_off_stats();
    SLEEPER_STOP.store(false, Ordering::Release);
    task::spawn("sleeper", ClassHint::Interactive, sleeper).map_err(|_| "spawn sleeper")?;
    let worker =
        kernel::user::spawn("worker", CapabilitySet::ALL, me).map_err(|_| "spawn worker")?;

    let began = time::now_us();
    for attacker in attack.attackers {
        let pid = kernel::user::spawn(attacker.program, attacker.capabilities, me)
            .map_err(|_| "spawn attacker")?;
        attackers.push(pid);
    }

    let mut probed = false;
    loop {
        let elapsed = time::now_us() - began;
        if !probed && elapsed >= attack.probe_after_us {
            probed = true;
            // What the shell's `spawn` does: the kernel as parent.
            let probe = kernel::user::spawn("hello", CapabilitySet::ALL, 0);
            kernel::println!("[hostile] {}: spawn probe {probe:?}", attack.name);
            let pid = probe.map_err(|_| "the shell could not spawn during the attack")?;
            let deadline = time::now_us() + 5_000_000;
            while alive(pid) {
                if time::now_us() > deadline {
                    return Err("the spawn probe did not finish within 5 s");
                }
                task::sleep_us(5_000);
            }
        }
        let running: Vec<u64> = attackers
            .iter()
            .copied()
            .filter(|pid| alive(*pid))
            .collect();
        if running.is_empty() && probed {
            break;
        }
        if elapsed >= attack.run_for_us {
            for pid in running {
                kernel::println!("[hostile] {}: killing attacker {pid}", attack.name);
                kill_tree(pid);
                killed.push(pid);
            }
            if probed {
                break;
            }
        }
        task::sleep_us(5_000);
    }

    for (pid, attacker) in attackers.iter().zip(attack.attackers) {
        let status = task::wait_child(*pid).ok_or("lost an attacker")?;
        kernel::println!(
            "[hostile] {}: attacker {} ({pid}) ended with {status}",
            attack.name,
            attacker.program
        );
        if let Some(expected) = attacker.status
            && !killed.contains(pid)
            && status != expected
        {
            return Err("an attacker ended with an unexpected status");
        }
        statuses.push(status);
    }
    let worker_status = task::wait_child(worker);
    kernel::println!("[hostile] {}: worker {worker_status:?}", attack.name);
    if worker_status != Some(0) {
        return Err("the well-behaved worker did not finish correctly");
    }

    SLEEPER_STOP.store(true, Ordering::Release);
    while !SLEEPER_DONE.load(Ordering::Acquire) {
        task::sleep_us(2_000);
    }
    let lateness = kernel::arch::cpu::without_interrupts(|| SLEEPER_LATENESS.lock().take())
        .ok_or("the sleeper left no record")?;
    let p99 = lateness.percentile(99);
    kernel::println!(
        "[hostile] {}: sleeper lateness p50 {} us, p99 {p99} us, max {} us over {} sleeps; \
         {} dispatches held back by the share guard",
        attack.name,
        lateness.percentile(50),
        lateness.max(),
        lateness.count(),
        task::scheduler().map_or(0, |scheduler| scheduler.held_back)
    );
    if p99 >= MAX_SLEEPER_P99_US {
        return Err("the sleeper's p99 lateness reached 5 ms");
    }

    if task::counters().fallbacks != fallbacks {
        return Err("the attack tripped the scheduler watchdog");
    }

    let end = settled_counts(start);
    kernel::println!(
        "[hostile] {}: end heap {} B, frames {}",
        attack.name,
        end.0,
        end.1
    );
    if end != start {
        for agent in task::agents() {
            kernel::println!(
                "[hostile] {}: still there: agent {} ({}) parent {} {}",
                attack.name,
                agent.pid,
                agent.name,
                agent.parent,
                agent.state
            );
        }
        kernel::println!(
            "[hostile] {}: {} dead agents not yet freed, memory budgets {:?}",
            attack.name,
            task::dead_waiting(),
            kernel::user::budget::stats()
        );
        return Err("heap or frames did not return to their starting counts");
    }
    (attack.check)(&statuses)?;
    kernel::println!("[hostile] {}: passed", attack.name);
    Ok(())
}
