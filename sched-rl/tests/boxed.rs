//! `Box<S>` is a `Scheduler` that forwards every call to the boxed policy.
#![cfg(feature = "alloc")]

use std::sync::{Arc, Mutex};

use sched_rl::{
    AgentId, AnyPolicy, BlockKind, ClassHint, Fixed, Microseconds, PolicyKind, Scheduler,
    SchedulerStats, StopReason, TICK_US, Watchdog,
};

/// Seed of the learner's exploration.
const SEED: u64 = 11;
/// Agents in the comparison workload.
const AGENTS: usize = 4;
/// Decisions in the comparison workload.
const DECISIONS: u64 = 1_000;
/// The decision at which the comparison workload removes one agent.
const REMOVAL_DECISION: u64 = DECISIONS / 2;

fn agent(slot: usize) -> AgentId {
    AgentId::new(slot).expect("slot below MAX_AGENTS")
}

/// One call received by a [`Recorder`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Arrive(AgentId, ClassHint, Microseconds),
    Wake(AgentId, Microseconds),
    Next(Microseconds),
    Result(AgentId, Microseconds, StopReason, Microseconds),
    Remove(AgentId),
}

/// A policy that records every call and answers `next` with a fixed agent.
struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
    answer: Option<AgentId>,
}

impl Recorder {
    fn record(&self, call: Call) {
        self.calls.lock().expect("no test panicked").push(call);
    }
}

impl Scheduler for Recorder {
    fn arrive(&mut self, agent: AgentId, hint: ClassHint, now: Microseconds) {
        self.record(Call::Arrive(agent, hint, now));
    }
    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        self.record(Call::Wake(agent, now));
    }
    fn next(&mut self, now: Microseconds) -> Option<AgentId> {
        self.record(Call::Next(now));
        self.answer
    }
    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        self.record(Call::Result(agent, ran_for, reason, now));
    }
    fn remove(&mut self, agent: AgentId) {
        self.record(Call::Remove(agent));
    }
    fn stats(&self) -> SchedulerStats {
        SchedulerStats {
            exploration_rate: Fixed::from_int(3),
            ..SchedulerStats::baseline("recorder", 42)
        }
    }
}

/// Makes every call once through `policy`, which the compiler must treat as
/// a `Scheduler` of its own type (so a box uses its own impl, not deref).
fn call_everything<S: Scheduler>(policy: &mut S) -> (Option<AgentId>, SchedulerStats) {
    policy.arrive(agent(1), ClassHint::Periodic { deadline_us: 5 }, 10);
    policy.wake(agent(2), 20);
    let pick = policy.next(30);
    policy.result(agent(1), 40, StopReason::Blocked(BlockKind::Sleep), 70);
    policy.remove(agent(3));
    (pick, policy.stats())
}

#[test]
fn a_boxed_policy_forwards_every_call() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut boxed: Box<dyn Scheduler + Send> = Box::new(Recorder {
        calls: Arc::clone(&calls),
        answer: Some(agent(9)),
    });
    let (pick, stats) = call_everything(&mut boxed);
    assert_eq!(pick, Some(agent(9)));
    assert_eq!(stats.policy, "recorder");
    assert_eq!(stats.decisions, 42);
    assert_eq!(stats.exploration_rate, Fixed::from_int(3));
    assert_eq!(
        *calls.lock().expect("no test panicked"),
        [
            Call::Arrive(agent(1), ClassHint::Periodic { deadline_us: 5 }, 10),
            Call::Wake(agent(2), 20),
            Call::Next(30),
            Call::Result(agent(1), 40, StopReason::Blocked(BlockKind::Sleep), 70),
            Call::Remove(agent(3)),
        ]
    );
}

/// Runs CPU hogs that yield every third dispatch, removing one halfway;
/// returns the picks and final statistics.
fn run<S: Scheduler>(policy: &mut S) -> (Vec<AgentId>, SchedulerStats) {
    for slot in 0..AGENTS {
        policy.arrive(agent(slot), ClassHint::Batch, 0);
    }
    let mut picks = Vec::new();
    for decision in 0..DECISIONS {
        let now = decision * TICK_US;
        if decision == REMOVAL_DECISION {
            policy.remove(agent(AGENTS - 1));
        }
        let pick = policy.next(now).expect("hogs are always runnable");
        let reason = if decision % 3 == 0 {
            StopReason::Yielded
        } else {
            StopReason::Preempted
        };
        policy.result(pick, TICK_US, reason, now + TICK_US);
        picks.push(pick);
    }
    (picks, policy.stats())
}

#[test]
fn a_boxed_policy_behind_the_watchdog_matches_the_unboxed_one() {
    for kind in PolicyKind::ALL {
        let boxed: Box<dyn Scheduler + Send> = Box::new(AnyPolicy::new(kind, SEED));
        let (boxed_picks, boxed_stats) = run(&mut Watchdog::new(boxed));
        let (picks, stats) = run(&mut Watchdog::new(AnyPolicy::new(kind, SEED)));
        assert_eq!(boxed_picks, picks, "{}", kind.name());
        assert_eq!(boxed_stats, stats, "{}", kind.name());
        assert!(
            !picks[REMOVAL_DECISION as usize..].contains(&agent(AGENTS - 1)),
            "{}: the removed agent never runs",
            kind.name()
        );
    }
}
