//! Watchdog: a broken policy is replaced by round robin, the reason is
//! recorded, and the agents keep running. Two faults are injected in turn: a
//! policy that starves every agent but its favourite, and one that dispatches
//! an agent that does not exist.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, Ordering};

use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing};
use sched_rl::{
    AgentId, ClassHint, FallbackReason, Fixed, Microseconds, Scheduler, SchedulerStats, StopReason,
};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

static WORKER_LOOPS: AtomicU64 = AtomicU64::new(0);

/// Strict priority by slot: always runs the lowest-numbered runnable agent,
/// so a spinning agent in slot 0 starves everyone else.
#[derive(Default)]
struct Favouritism {
    runnable: u64,
    decisions: u64,
}

impl Scheduler for Favouritism {
    fn arrive(&mut self, agent: AgentId, _hint: ClassHint, _now: Microseconds) {
        self.runnable |= 1 << agent.index();
    }
    fn wake(&mut self, agent: AgentId, _now: Microseconds) {
        self.runnable |= 1 << agent.index();
    }
    fn next(&mut self, _now: Microseconds) -> Option<AgentId> {
        self.decisions += 1;
        AgentId::new(self.runnable.trailing_zeros() as usize)
    }
    fn result(
        &mut self,
        agent: AgentId,
        _ran: Microseconds,
        reason: StopReason,
        _now: Microseconds,
    ) {
        if !reason.stays_runnable() {
            self.runnable &= !(1 << agent.index());
        }
    }
    fn remove(&mut self, agent: AgentId) {
        self.runnable &= !(1 << agent.index());
    }
    fn stats(&self) -> SchedulerStats {
        SchedulerStats::baseline("favouritism", self.decisions)
    }
}

/// Always dispatches slot 63, where no agent lives.
struct Phantom;

impl Scheduler for Phantom {
    fn arrive(&mut self, _agent: AgentId, _hint: ClassHint, _now: Microseconds) {}
    fn wake(&mut self, _agent: AgentId, _now: Microseconds) {}
    fn next(&mut self, _now: Microseconds) -> Option<AgentId> {
        AgentId::new(sched_rl::MAX_AGENTS - 1)
    }
    fn result(
        &mut self,
        _agent: AgentId,
        _ran: Microseconds,
        _reason: StopReason,
        _now: Microseconds,
    ) {
    }
    fn remove(&mut self, _agent: AgentId) {}
    fn stats(&self) -> SchedulerStats {
        SchedulerStats {
            exploration_rate: Fixed::ZERO,
            ..SchedulerStats::baseline("phantom", 0)
        }
    }
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "sched_watchdog");
    task::init(Box::new(Favouritism::default()));
    // Slot 0: the favourite, which never yields.
    task::spawn("hog", ClassHint::Batch, || {
        loop {
            core::hint::spin_loop();
        }
    })
    .expect("spawn hog");
    task::spawn("worker", ClassHint::Batch, || {
        loop {
            WORKER_LOOPS.fetch_add(1, Ordering::Relaxed);
            task::yield_now();
        }
    })
    .expect("spawn worker");
    task::spawn("controller", ClassHint::Interactive, controller).expect("spawn controller");
    task::run()
}

fn expect_fallback(what: &str) {
    let stats = task::policy_stats().expect("manager");
    kernel::println!(
        "{what}: fallbacks {} reason {:?}",
        stats.fallbacks,
        stats.fallback_reason
    );
    if stats.fallbacks != 1 || task::counters().fallbacks != 1 {
        testing::fail("the watchdog did not fall back exactly once");
    }
    let before = WORKER_LOOPS.load(Ordering::Relaxed);
    task::sleep_us(200_000);
    if WORKER_LOOPS.load(Ordering::Relaxed) <= before {
        testing::fail("the worker stopped running after the fallback");
    }
}

fn controller() {
    // This agent itself is starved until the watchdog steps in.
    task::sleep_us(300_000);
    expect_fallback("favouritism");
    if !matches!(
        task::policy_stats().and_then(|stats| stats.fallback_reason),
        Some(FallbackReason::Starvation { .. })
    ) {
        testing::fail("favouritism was not reported as starvation");
    }

    task::replace_policy(Box::new(Phantom));
    task::sleep_us(300_000);
    expect_fallback("phantom");
    if !matches!(
        task::policy_stats().and_then(|stats| stats.fallback_reason),
        Some(FallbackReason::NotRunnable { .. })
    ) {
        testing::fail("phantom was not reported as a non-runnable pick");
    }
    task::status::print();
    testing::pass()
}
