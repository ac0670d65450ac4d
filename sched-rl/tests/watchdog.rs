//! The watchdog falls back to round robin on starvation, bad picks and idling.

use sched_rl::policy::watchdog::DEFAULT_WAIT_BOUND_US;
use sched_rl::runnable::RunnableSet;
use sched_rl::{
    AgentId, ClassHint, FallbackReason, Microseconds, RoundRobin, Scheduler, SchedulerStats,
    StopReason, TICK_US, Watchdog,
};

fn agent(slot: usize) -> AgentId {
    AgentId::new(slot).expect("slot below MAX_AGENTS")
}

/// How a deliberately broken policy misbehaves.
#[derive(Clone, Copy)]
enum Fault {
    /// Always the lowest runnable slot: starves the others.
    StaticPriority,
    /// Returns an agent that never arrived.
    Phantom,
    /// Always idles.
    Idle,
}

struct Broken {
    fault: Fault,
    runnable: RunnableSet,
}

impl Scheduler for Broken {
    fn arrive(&mut self, agent: AgentId, _hint: ClassHint, now: Microseconds) {
        self.runnable.insert(agent, now);
    }
    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        self.runnable.insert(agent, now);
    }
    fn next(&mut self, _now: Microseconds) -> Option<AgentId> {
        match self.fault {
            Fault::StaticPriority => {
                let lowest = self.runnable.agents().iter().copied().min()?;
                self.runnable.remove(lowest);
                Some(lowest)
            }
            Fault::Phantom => Some(agent(63)),
            Fault::Idle => None,
        }
    }
    fn result(
        &mut self,
        agent: AgentId,
        _ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        if reason.stays_runnable() {
            self.runnable.insert(agent, now);
        }
    }
    fn remove(&mut self, agent: AgentId) {
        self.runnable.remove(agent);
    }
    fn stats(&self) -> SchedulerStats {
        SchedulerStats::baseline("broken", 0)
    }
}

/// Runs two CPU hogs for `ticks` ticks; returns the CPU ticks each received.
fn run(policy: &mut dyn Scheduler, ticks: u64) -> [u64; 2] {
    policy.arrive(agent(0), ClassHint::Batch, 0);
    policy.arrive(agent(1), ClassHint::Batch, 0);
    let mut received = [0; 2];
    for tick in 0..ticks {
        let now = tick * TICK_US;
        if let Some(chosen) = policy.next(now) {
            received[chosen.index()] += 1;
            policy.result(chosen, TICK_US, StopReason::Preempted, now + TICK_US);
        }
    }
    received
}

fn guarded(fault: Fault) -> Watchdog<Broken> {
    Watchdog::new(Broken {
        fault,
        runnable: RunnableSet::new(),
    })
}

#[test]
fn starvation_trips_the_watchdog() {
    let mut watchdog = guarded(Fault::StaticPriority);
    let received = run(&mut watchdog, 1_000);
    let stats = watchdog.stats();
    assert_eq!(stats.fallbacks, 1);
    assert_eq!(stats.policy, "round-robin");
    match stats.fallback_reason {
        Some(FallbackReason::Starvation {
            agent: starved,
            waited_us,
        }) => {
            assert_eq!(starved, agent(1));
            assert!(
                waited_us > DEFAULT_WAIT_BOUND_US && waited_us <= DEFAULT_WAIT_BOUND_US + TICK_US
            );
        }
        other => panic!("expected starvation, got {other:?}"),
    }
    // About 101 ticks for agent 0 alone, then round robin shares the rest.
    assert!(
        received[1] >= 440,
        "the starved agent runs after the fallback: {received:?}"
    );
}

#[test]
fn a_non_runnable_pick_trips_the_watchdog() {
    let mut watchdog = guarded(Fault::Phantom);
    let received = run(&mut watchdog, 10);
    assert_eq!(
        watchdog.fallback_reason(),
        Some(FallbackReason::NotRunnable { agent: agent(63) })
    );
    assert_eq!(received, [5, 5]);
}

#[test]
fn idling_with_runnable_agents_trips_the_watchdog() {
    let mut watchdog = guarded(Fault::Idle);
    run(&mut watchdog, 10);
    assert_eq!(
        watchdog.fallback_reason(),
        Some(FallbackReason::IdleWhileRunnable)
    );
    assert_eq!(watchdog.stats().fallbacks, 1);
}

#[test]
fn a_sound_policy_never_trips_it() {
    let mut watchdog = Watchdog::new(RoundRobin::default());
    assert_eq!(run(&mut watchdog, 1_000), [500, 500]);
    assert_eq!(watchdog.stats().fallbacks, 0);
    assert_eq!(watchdog.fallback_reason(), None);
}
