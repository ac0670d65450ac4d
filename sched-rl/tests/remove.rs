//! `remove` takes an agent out of every policy for good, whatever state it is in.
//!
//! Every policy kind runs alone and behind the watchdog (plus the SRPT
//! oracle) under one deterministic workload that drives the trait the way
//! the kernel does. The workload panics if a removed agent is ever
//! dispatched, so each test fails on the first wrong pick.

use std::rc::Rc;

use sched_rl::policy::mlfq::{BOOST_PERIOD_US, LEVELS};
use sched_rl::policy::watchdog::DEFAULT_WAIT_BOUND_US;
use sched_rl::sim::SrptOracle;
use sched_rl::sim::srpt::RemainingBursts;
use sched_rl::{
    AgentId, AnyPolicy, BlockKind, ClassHint, FallbackReason, Fifo, MAX_AGENTS, Microseconds, Mlfq,
    PolicyKind, RoundRobin, Scheduler, SchedulerStats, StopReason, TICK_US, Watchdog,
};

/// Seed of the learner's exploration.
const SEED: u64 = 7;
/// Agents `0..AGENTS` take part in every workload.
const AGENTS: usize = 4;
/// The agent the tests remove: the highest slot, so that a fresh slot above
/// it keeps every tie-break between slots the same.
const VICTIM: usize = AGENTS - 1;
/// A slot no workload uses before the fresh-agent comparison.
const FRESH_SLOT: usize = AGENTS + 1;
/// A slot no agent ever arrives in.
const UNKNOWN_SLOT: usize = MAX_AGENTS - 1;
/// Decisions before the interesting event, so every policy has history.
const WARM_UP_DECISIONS: usize = 100;
/// Decisions after a removal (at least 400 µs each: longer than the wait bound).
const DECISIONS_AFTER: usize = 2_000;
/// Decisions between a removal and the slot's reuse (longer than the wait bound).
const GAP_DECISIONS: usize = 500;
/// Decisions compared after a slot's reuse.
const COMPARED_DECISIONS: usize = 300;
/// The most decisions spent waiting for an agent to reach a state.
const PATIENCE_DECISIONS: usize = 1_000;
/// CPU time of a dispatch that ends in a yield or a block.
const SHORT_RUN_US: Microseconds = 400;
/// Every this many dispatches of an agent ends in a block.
const BLOCK_EVERY: u64 = 4;
/// How long a blocked agent sleeps before its wake-up.
const SLEEP_US: Microseconds = 2 * TICK_US;

fn agent(slot: usize) -> AgentId {
    AgentId::new(slot).expect("slot below MAX_AGENTS")
}

/// Returns every policy under test with its name; `index` picks one.
fn policies() -> Vec<(String, Box<dyn Scheduler>)> {
    let mut all: Vec<(String, Box<dyn Scheduler>)> = Vec::new();
    for kind in PolicyKind::ALL {
        all.push((kind.name().into(), Box::new(AnyPolicy::new(kind, SEED))));
        all.push((
            format!("watchdog({})", kind.name()),
            Box::new(Watchdog::new(AnyPolicy::new(kind, SEED))),
        ));
    }
    all.push((
        "srpt-oracle".into(),
        Box::new(SrptOracle::new(Rc::new(RemainingBursts::default()))),
    ));
    all
}

/// Returns a fresh copy of the `index`-th policy of [`policies`].
fn nth_policy(index: usize) -> (String, Box<dyn Scheduler>) {
    policies().swap_remove(index)
}

/// What state an agent is in when it is removed.
#[derive(Clone, Copy, Debug)]
enum State {
    /// Waiting in the policy's queues.
    Runnable,
    /// Returned by `next`, no `result` yet.
    Running,
    /// Blocked, waiting for a wake-up.
    Blocked,
}

/// A deterministic workload that drives a policy the way the kernel does.
///
/// Even slots are CPU hogs (preempted after a full tick), odd slots yield
/// after `SHORT_RUN_US`; every `BLOCK_EVERY`-th dispatch of an agent ends in
/// a block and a wake-up `SLEEP_US` later. When `noise` is set, every
/// decision is surrounded by removals of an agent that never arrived.
struct Kernel {
    now: Microseconds,
    live: [bool; MAX_AGENTS],
    wake_at: [Option<Microseconds>; MAX_AGENTS],
    dispatches: [u64; MAX_AGENTS],
    picks: Vec<AgentId>,
    noise: bool,
}

impl Kernel {
    /// Returns a kernel that has started agents `0..AGENTS` on `policy` and
    /// run `WARM_UP_DECISIONS` decisions.
    fn started(policy: &mut dyn Scheduler, noise: bool) -> Self {
        let mut kernel = Self {
            now: 0,
            live: [false; MAX_AGENTS],
            wake_at: [None; MAX_AGENTS],
            dispatches: [0; MAX_AGENTS],
            picks: Vec::new(),
            noise,
        };
        for slot in 0..AGENTS {
            kernel.arrive(policy, slot);
        }
        kernel.run(policy, WARM_UP_DECISIONS);
        kernel
    }

    fn arrive(&mut self, policy: &mut dyn Scheduler, slot: usize) {
        self.live[slot] = true;
        self.wake_at[slot] = None;
        self.dispatches[slot] = 0;
        policy.arrive(agent(slot), ClassHint::Unknown, self.now);
    }

    /// Kills `slot` in whatever state it is in and tells the policy.
    fn remove(&mut self, policy: &mut dyn Scheduler, slot: usize) {
        self.live[slot] = false;
        self.wake_at[slot] = None;
        policy.remove(agent(slot));
    }

    fn disturb(&self, policy: &mut dyn Scheduler) {
        if self.noise {
            policy.remove(agent(UNKNOWN_SLOT));
        }
    }

    /// Delivers due wake-ups and returns the policy's pick.
    ///
    /// Panics if the pick is dead or blocked.
    fn dispatch(&mut self, policy: &mut dyn Scheduler) -> Option<AgentId> {
        for (slot, wake_at) in self.wake_at.iter_mut().enumerate() {
            if wake_at.is_some_and(|time| time <= self.now) {
                *wake_at = None;
                policy.wake(agent(slot), self.now);
            }
        }
        self.disturb(policy);
        let pick = policy.next(self.now)?;
        self.disturb(policy);
        assert!(self.live[pick.index()], "{pick:?} dispatched after removal");
        assert!(
            self.wake_at[pick.index()].is_none(),
            "{pick:?} dispatched while blocked"
        );
        self.dispatches[pick.index()] += 1;
        self.picks.push(pick);
        Some(pick)
    }

    /// Runs the dispatched `running` agent and reports why it stopped.
    fn finish(&mut self, policy: &mut dyn Scheduler, running: AgentId) {
        let slot = running.index();
        let (ran_for, reason) = if self.dispatches[slot].is_multiple_of(BLOCK_EVERY) {
            (SHORT_RUN_US, StopReason::Blocked(BlockKind::Io))
        } else if slot.is_multiple_of(2) {
            (TICK_US, StopReason::Preempted)
        } else {
            (SHORT_RUN_US, StopReason::Yielded)
        };
        self.now += ran_for;
        if !reason.stays_runnable() {
            self.wake_at[slot] = Some(self.now + SLEEP_US);
        }
        policy.result(running, ran_for, reason, self.now);
    }

    /// Runs one decision: dispatch and result, or one idle tick.
    fn step(&mut self, policy: &mut dyn Scheduler) {
        match self.dispatch(policy) {
            Some(running) => self.finish(policy, running),
            None => self.now += TICK_US,
        }
    }

    fn run(&mut self, policy: &mut dyn Scheduler, decisions: usize) {
        for _ in 0..decisions {
            self.step(policy);
        }
    }

    /// Runs until `slot` is in `state`; for `Running` the agent is left
    /// dispatched without a result.
    fn bring_to(&mut self, policy: &mut dyn Scheduler, slot: usize, state: State) {
        for _ in 0..PATIENCE_DECISIONS {
            match state {
                State::Runnable if self.picks_of(slot, 0) > 0 && self.wake_at[slot].is_none() => {
                    return;
                }
                State::Blocked if self.wake_at[slot].is_some() => return,
                State::Running => match self.dispatch(policy) {
                    Some(running) if running.index() == slot => return,
                    Some(running) => self.finish(policy, running),
                    None => self.now += TICK_US,
                },
                State::Runnable | State::Blocked => self.step(policy),
            }
        }
        panic!("slot {slot} never reached {state:?}");
    }

    /// Runs until `slot` is dispatched and reports that it exited.
    fn exit(&mut self, policy: &mut dyn Scheduler, slot: usize) {
        self.bring_to(policy, slot, State::Running);
        self.live[slot] = false;
        self.now += SHORT_RUN_US;
        policy.result(agent(slot), SHORT_RUN_US, StopReason::Exited, self.now);
    }

    /// Returns how often `slot` was dispatched from decision `from` on.
    fn picks_of(&self, slot: usize, from: usize) -> usize {
        self.picks[from..]
            .iter()
            .filter(|pick| pick.index() == slot)
            .count()
    }
}

/// Removes `VICTIM` in `state` and checks it never runs again while the
/// others keep running and the watchdog (if any) stays quiet.
fn check_never_picked_after_removal(state: State) {
    for index in 0..policies().len() {
        let (name, mut policy) = nth_policy(index);
        let policy = policy.as_mut();
        let mut kernel = Kernel::started(policy, false);
        assert!(kernel.picks_of(VICTIM, 0) > 0, "{name}: the victim ran");
        kernel.bring_to(policy, VICTIM, state);
        kernel.remove(policy, VICTIM);
        let from = kernel.picks.len();
        kernel.run(policy, DECISIONS_AFTER);
        for slot in (0..AGENTS).filter(|&slot| slot != VICTIM) {
            assert!(kernel.picks_of(slot, from) > 0, "{name}: slot {slot} ran");
        }
        assert_eq!(kernel.picks_of(VICTIM, from), 0, "{name}");
        assert_eq!(policy.stats().fallbacks, 0, "{name}: no fallback");
    }
}

#[test]
fn a_removed_runnable_agent_is_never_picked_again() {
    check_never_picked_after_removal(State::Runnable);
}

#[test]
fn a_removed_running_agent_is_never_picked_again() {
    check_never_picked_after_removal(State::Running);
}

#[test]
fn a_removed_blocked_agent_is_never_picked_again() {
    check_never_picked_after_removal(State::Blocked);
}

/// Returns the picks after `VICTIM` was removed in `state` and then
/// `arriving` arrived, with `arriving` written as `VICTIM`.
fn picks_after_reuse(index: usize, state: State, arriving: usize) -> Vec<AgentId> {
    let (name, mut policy) = nth_policy(index);
    let policy = policy.as_mut();
    let mut kernel = Kernel::started(policy, false);
    kernel.bring_to(policy, VICTIM, state);
    kernel.remove(policy, VICTIM);
    kernel.run(policy, GAP_DECISIONS);
    kernel.arrive(policy, arriving);
    let from = kernel.picks.len();
    kernel.run(policy, COMPARED_DECISIONS);
    assert!(
        kernel.picks_of(arriving, from) > 0,
        "{name}: the newcomer ran"
    );
    assert_eq!(policy.stats().fallbacks, 0, "{name}: no fallback");
    kernel.picks[from..]
        .iter()
        .map(|&pick| {
            if pick.index() == arriving {
                agent(VICTIM)
            } else {
                pick
            }
        })
        .collect()
}

#[test]
fn a_reused_slot_behaves_like_a_fresh_one() {
    for state in [State::Runnable, State::Running, State::Blocked] {
        for index in 0..policies().len() {
            let reused = picks_after_reuse(index, state, VICTIM);
            let fresh = picks_after_reuse(index, state, FRESH_SLOT);
            assert_eq!(reused, fresh, "{} after {state:?}", nth_policy(index).0);
        }
    }
}

/// Returns the picks and statistics of a workload in which an agent exits
/// and another is removed; with `noise`, unknown and dead agents are
/// removed too, everywhere.
fn run_with_removals(index: usize, noise: bool) -> (Vec<AgentId>, SchedulerStats) {
    let (_, mut policy) = nth_policy(index);
    let policy = policy.as_mut();
    if noise {
        policy.remove(agent(UNKNOWN_SLOT));
    }
    let mut kernel = Kernel::started(policy, noise);
    kernel.exit(policy, 0);
    if noise {
        policy.remove(agent(0));
    }
    kernel.run(policy, WARM_UP_DECISIONS);
    kernel.remove(policy, VICTIM);
    if noise {
        policy.remove(agent(VICTIM));
    }
    kernel.run(policy, WARM_UP_DECISIONS);
    (kernel.picks, policy.stats())
}

#[test]
fn removing_an_unknown_or_removed_agent_changes_nothing() {
    for index in 0..policies().len() {
        let quiet = run_with_removals(index, false);
        let noisy = run_with_removals(index, true);
        assert_eq!(quiet, noisy, "{}", nth_policy(index).0);
    }
}

#[test]
fn an_empty_policy_ignores_remove() {
    for (name, mut policy) in policies() {
        policy.remove(agent(UNKNOWN_SLOT));
        assert_eq!(policy.next(0), None, "{name}");
        assert_eq!(policy.stats().fallbacks, 0, "{name}");
    }
}

/// Runs one tick of whichever hog `mlfq` picks at `now`; returns the pick.
fn run_hog_tick(mlfq: &mut Mlfq, now: &mut Microseconds) -> AgentId {
    let pick = mlfq.next(*now).expect("hogs are always runnable");
    *now += TICK_US;
    mlfq.result(pick, TICK_US, StopReason::Preempted, *now);
    pick
}

#[test]
fn mlfq_forgets_an_agent_boosted_but_not_yet_caught_up() {
    let mut mlfq = Mlfq::new();
    mlfq.arrive(agent(0), ClassHint::Batch, 0);
    mlfq.arrive(agent(1), ClassHint::Batch, 0);
    let mut now = 0;
    while now + TICK_US < BOOST_PERIOD_US {
        run_hog_tick(&mut mlfq, &mut now);
    }
    now = BOOST_PERIOD_US;
    // This decision boosts both hogs to the top queue but catches up only
    // the one it picks; the other keeps its stale bottom level until it runs.
    let first = run_hog_tick(&mut mlfq, &mut now);
    let other = agent(1 - first.index());
    assert_eq!(mlfq.level(other), LEVELS - 1, "the other hog is stale");
    mlfq.remove(other);
    for _ in 0..DECISIONS_AFTER {
        assert_eq!(run_hog_tick(&mut mlfq, &mut now), first);
    }
}

/// Runs a FIFO hog in slot 0 that starves slot 1 behind the watchdog;
/// removes slot 1 early when `remove` is set. Returns the fallback reason.
fn starve_behind_fifo(remove: bool) -> Option<FallbackReason> {
    const REMOVAL_TICK: u64 = 10;
    let mut watchdog = Watchdog::new(Fifo::new());
    watchdog.arrive(agent(0), ClassHint::Batch, 0);
    watchdog.arrive(agent(1), ClassHint::Batch, 0);
    for tick in 0..3 * DEFAULT_WAIT_BOUND_US / TICK_US {
        let now = tick * TICK_US;
        if remove && tick == REMOVAL_TICK {
            watchdog.remove(agent(1));
        }
        let pick = watchdog.next(now).expect("the hog is always runnable");
        if remove && tick >= REMOVAL_TICK {
            assert_eq!(pick, agent(0));
        }
        watchdog.result(pick, TICK_US, StopReason::Preempted, now + TICK_US);
    }
    watchdog.fallback_reason()
}

#[test]
fn the_watchdog_never_reports_starvation_for_a_removed_agent() {
    assert!(
        matches!(
            starve_behind_fifo(false),
            Some(FallbackReason::Starvation { agent: starved, .. }) if starved == agent(1)
        ),
        "without the removal the agent starves"
    );
    assert_eq!(starve_behind_fifo(true), None);
}

#[test]
fn a_watchdog_that_fell_back_still_forgets_removed_agents() {
    let mut watchdog = Watchdog::new(Fifo::new());
    for slot in 0..3 {
        watchdog.arrive(agent(slot), ClassHint::Batch, 0);
    }
    let mut received = [0; 3];
    let mut tick = 0;
    while watchdog.fallback_reason().is_none() {
        let now = tick * TICK_US;
        let pick = watchdog.next(now).expect("hogs are always runnable");
        watchdog.result(pick, TICK_US, StopReason::Preempted, now + TICK_US);
        tick += 1;
    }
    watchdog.remove(agent(2));
    for _ in 0..DECISIONS_AFTER {
        let now = tick * TICK_US;
        let pick = watchdog.next(now).expect("hogs are always runnable");
        received[pick.index()] += 1;
        watchdog.result(pick, TICK_US, StopReason::Preempted, now + TICK_US);
        tick += 1;
    }
    assert_eq!(received[2], 0, "{received:?}");
    assert_eq!(received[0], received[1], "round robin shares: {received:?}");
    assert_eq!(watchdog.stats().fallbacks, 1);
}

/// Round robin that ignores `remove`: a policy bug the watchdog must catch.
struct Forgetful(RoundRobin);

impl Scheduler for Forgetful {
    fn arrive(&mut self, agent: AgentId, hint: ClassHint, now: Microseconds) {
        self.0.arrive(agent, hint, now);
    }
    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        self.0.wake(agent, now);
    }
    fn next(&mut self, now: Microseconds) -> Option<AgentId> {
        self.0.next(now)
    }
    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        self.0.result(agent, ran_for, reason, now);
    }
    fn remove(&mut self, _agent: AgentId) {}
    fn stats(&self) -> SchedulerStats {
        self.0.stats()
    }
}

#[test]
fn the_watchdog_catches_a_policy_that_ignores_remove() {
    let mut watchdog = Watchdog::new(Forgetful(RoundRobin::default()));
    let mut kernel = Kernel::started(&mut watchdog, false);
    kernel.bring_to(&mut watchdog, VICTIM, State::Runnable);
    kernel.remove(&mut watchdog, VICTIM);
    kernel.run(&mut watchdog, DECISIONS_AFTER);
    assert_eq!(
        watchdog.fallback_reason(),
        Some(FallbackReason::NotRunnable {
            agent: agent(VICTIM)
        })
    );
}
