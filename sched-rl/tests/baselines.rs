//! Sanity tests of every baseline: each does what its name promises.

use sched_rl::policy::mlfq::{BOOST_PERIOD_US, LEVELS};
use sched_rl::sim::{parse_workload, simulate, simulate_srpt};
use sched_rl::{
    AgentId, BlockKind, ClassHint, FairShare, Fifo, Mlfq, RoundRobin, Scheduler, StopReason,
    TICK_US,
};

fn agent(slot: usize) -> AgentId {
    AgentId::new(slot).expect("slot below MAX_AGENTS")
}

/// Runs `ticks` ticks of CPU hogs (always preempted) and returns each one's CPU time.
fn run_hogs(policy: &mut dyn Scheduler, hogs: usize, ticks: u64) -> Vec<u64> {
    for slot in 0..hogs {
        policy.arrive(agent(slot), ClassHint::Batch, 0);
    }
    let mut received = vec![0; hogs];
    for tick in 0..ticks {
        let now = tick * TICK_US;
        let chosen = policy.next(now).expect("hogs are always runnable");
        received[chosen.index()] += TICK_US;
        policy.result(chosen, TICK_US, StopReason::Preempted, now + TICK_US);
    }
    received
}

#[test]
fn round_robin_is_fair() {
    let received = run_hogs(&mut RoundRobin::default(), 4, 4_000);
    assert!(
        received.iter().all(|&cpu| cpu == 1_000 * TICK_US),
        "{received:?}"
    );
}

#[test]
fn round_robin_takes_turns_in_order() {
    let mut policy = RoundRobin::default();
    for slot in 0..3 {
        policy.arrive(agent(slot), ClassHint::Unknown, 0);
    }
    let order: Vec<usize> = (0..6)
        .map(|tick| {
            let chosen = policy.next(tick * TICK_US).unwrap();
            policy.result(chosen, TICK_US, StopReason::Preempted, (tick + 1) * TICK_US);
            chosen.index()
        })
        .collect();
    assert_eq!(order, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn fair_share_equalises_cpu_and_favours_sleepers() {
    let mut policy = FairShare::new();
    let received = run_hogs(&mut policy, 3, 3_000);
    assert!(
        received
            .iter()
            .all(|&cpu| cpu.abs_diff(1_000 * TICK_US) <= TICK_US),
        "{received:?}"
    );
    let sleeper = agent(10);
    policy.arrive(sleeper, ClassHint::Interactive, 3_000 * TICK_US);
    let chosen = policy.next(3_000 * TICK_US).unwrap();
    policy.result(
        chosen,
        200,
        StopReason::Blocked(BlockKind::Io),
        3_000 * TICK_US + 200,
    );
    policy.wake(sleeper, 3_010 * TICK_US);
    assert_eq!(
        policy.next(3_010 * TICK_US),
        Some(sleeper),
        "a waking sleeper has the smallest virtual runtime"
    );
}

#[test]
fn fifo_runs_each_agent_until_it_blocks() {
    let mut policy = Fifo::new();
    policy.arrive(agent(0), ClassHint::Unknown, 0);
    policy.arrive(agent(1), ClassHint::Unknown, 0);
    for tick in 0..5 {
        assert_eq!(policy.next(tick * TICK_US), Some(agent(0)));
        policy.result(
            agent(0),
            TICK_US,
            StopReason::Preempted,
            (tick + 1) * TICK_US,
        );
    }
    assert_eq!(policy.next(5 * TICK_US), Some(agent(0)));
    policy.result(
        agent(0),
        10,
        StopReason::Blocked(BlockKind::Sleep),
        5 * TICK_US + 10,
    );
    assert_eq!(policy.next(5 * TICK_US + 10), Some(agent(1)));
}

#[test]
fn mlfq_demotes_cpu_hogs_and_keeps_short_bursts_on_top() {
    let mut policy = Mlfq::new();
    let (hog, interactive) = (agent(0), agent(1));
    policy.arrive(hog, ClassHint::Interactive, 0);
    let mut now = 0;
    for _ in 0..8 {
        let chosen = policy.next(now).unwrap();
        policy.result(chosen, TICK_US, StopReason::Preempted, now + TICK_US);
        now += TICK_US;
    }
    assert_eq!(
        policy.level(hog),
        LEVELS - 1,
        "a hog sinks to the bottom level"
    );
    policy.arrive(interactive, ClassHint::Unknown, now);
    for _ in 0..3 {
        assert_eq!(
            policy.next(now),
            Some(interactive),
            "the top level runs first"
        );
        policy.result(
            interactive,
            300,
            StopReason::Blocked(BlockKind::Io),
            now + 300,
        );
        now += 300;
        policy.wake(interactive, now);
    }
    assert_eq!(policy.level(interactive), 0, "short bursts stay on top");
    assert_eq!(policy.next(now), Some(interactive));
    policy.result(
        interactive,
        300,
        StopReason::Blocked(BlockKind::Io),
        now + 300,
    );
    assert_eq!(policy.next(now + 300), Some(hog));
    policy.result(hog, TICK_US, StopReason::Preempted, BOOST_PERIOD_US);
    policy.next(BOOST_PERIOD_US);
    assert_eq!(
        policy.level(hog),
        0,
        "the periodic boost lifts the hog back to the top"
    );
}

#[test]
fn mlfq_is_not_fooled_by_yielding_before_the_tick() {
    let mut policy = Mlfq::new();
    let gamer = agent(0);
    policy.arrive(gamer, ClassHint::Interactive, 0);
    for tick in 0..8 {
        let chosen = policy.next(tick * TICK_US).unwrap();
        policy.result(
            chosen,
            TICK_US - 50,
            StopReason::Yielded,
            (tick + 1) * TICK_US - 50,
        );
    }
    assert_eq!(
        policy.level(gamer),
        LEVELS - 1,
        "the allotment counts CPU time across yields"
    );
}

/// Three agents arrive together with one burst each: 3 ms, 1 ms and 2 ms.
const THREE_JOBS: &str = "\
workload three-jobs
duration 20ms
warmup 0
agent long bursts=1 sensitive burst=3ms block=sleep:1ms
agent short bursts=1 sensitive burst=1ms block=sleep:1ms
agent middle bursts=1 sensitive burst=2ms block=sleep:1ms
";

#[test]
fn srpt_is_optimal_on_a_hand_checked_case() {
    let workload = parse_workload(THREE_JOBS).unwrap();
    let report = simulate_srpt(&workload, 1);
    // Shortest first: completions at 1, 3 and 6 ms.
    assert_eq!(report.measured_responses(), [1_000, 3_000, 6_000]);
    let srpt_total: u64 = report.measured_responses().iter().sum();
    // Every order of the three jobs; SRPT's total response is the least.
    let bursts = [3_000u64, 1_000, 2_000];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let best = orders
        .iter()
        .map(|order| {
            order
                .iter()
                .scan(0, |clock, &job| {
                    *clock += bursts[job];
                    Some(*clock)
                })
                .sum::<u64>()
        })
        .min()
        .unwrap();
    assert_eq!(srpt_total, best);
    let round_robin: u64 = simulate(&workload, &mut RoundRobin::default(), 1)
        .measured_responses()
        .iter()
        .sum();
    assert!(round_robin > srpt_total);
}
