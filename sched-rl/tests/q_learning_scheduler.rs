//! The Q-learning scheduler against round robin in the simulator (fixed seeds).

use sched_rl::learning::LearningRate;
use sched_rl::policy::q_learning::AGING_BOUND_US;
use sched_rl::policy::watchdog::DEFAULT_WAIT_BOUND_US;
use sched_rl::sim::{builtin, builtin_workloads, parse_workload, simulate};
use sched_rl::{
    Fixed, QLearningConfig, QLearningScheduler, RoundRobin, Scheduler, TICK_US, Watchdog,
};

const SEED: u64 = 42;

fn p99_mixed(policy: &mut dyn Scheduler) -> u64 {
    let workload = parse_workload(builtin::MIXED).unwrap();
    simulate(&workload, policy, SEED).percentile_response_us(99)
}

#[test]
fn beats_round_robin_on_interactive_p99_in_the_mixed_workload() {
    let round_robin = p99_mixed(&mut RoundRobin::default());
    let learner = p99_mixed(&mut QLearningScheduler::new(SEED));
    assert!(
        2 * learner <= round_robin,
        "q-learning p99 {learner} us, round robin {round_robin} us"
    );
}

#[test]
fn without_learning_it_does_not_beat_round_robin() {
    let mut config = QLearningConfig::new(SEED);
    config.learning_rate = LearningRate::Constant(Fixed::ZERO);
    let frozen = p99_mixed(&mut QLearningScheduler::with_config(config));
    let round_robin = p99_mixed(&mut RoundRobin::default());
    assert!(
        4 * frozen > 3 * round_robin,
        "a frozen table {frozen} us should not beat round robin {round_robin} us"
    );
}

#[test]
fn learns_that_short_bursts_are_worth_dispatching_first() {
    let workload = parse_workload(builtin::MIXED).unwrap();
    let mut learner = QLearningScheduler::new(SEED);
    simulate(&workload, &mut learner, SEED);
    // State layout: (burst bucket × 3 + block bucket) × 3 + slack bucket.
    let short_blocking = (3 + 2) * 3;
    let long_never_blocking = (3 * 3) * 3;
    assert!(
        learner.value(short_blocking)
            > learner.value(long_never_blocking) + Fixed::from_ratio(1, 2)
    );
}

#[test]
fn never_starves_an_agent_on_any_builtin_workload() {
    for workload in builtin_workloads() {
        let mut guarded = Watchdog::new(QLearningScheduler::new(SEED));
        let report = simulate(&workload, &mut guarded, SEED);
        assert_eq!(
            report.stats.fallbacks, 0,
            "{}: {:?}",
            workload.name, report.stats.fallback_reason
        );
        assert_eq!(report.invalid_picks, 0);
        // Aging dispatches an agent once it waited the bound; others that
        // reached it meanwhile wait at most one tick each beyond it.
        let bound = AGING_BOUND_US + 64 * TICK_US;
        assert!(
            report.longest_wait_us <= bound.min(DEFAULT_WAIT_BOUND_US),
            "{}: {}",
            workload.name,
            report.longest_wait_us
        );
    }
}

#[test]
fn same_seed_same_decisions() {
    let workload = parse_workload(builtin::GAMING).unwrap();
    let first = simulate(&workload, &mut QLearningScheduler::new(7), SEED);
    let second = simulate(&workload, &mut QLearningScheduler::new(7), SEED);
    assert_eq!(first.responses, second.responses);
    assert_eq!(first.stats, second.stats);
}

/// A lag the agent only reports (a training loss nobody can check) changes
/// no decision: the same run with and without the claim dispatches alike.
#[test]
fn a_reported_lag_changes_nothing() {
    use sched_rl::{AgentId, ClassHint, ObjectiveSignal, StopReason};
    let run = |claim: bool| {
        let mut learner = QLearningScheduler::new(SEED);
        let mut now = 0;
        for slot in 0..3 {
            learner.arrive(AgentId::new(slot).unwrap(), ClassHint::Batch, now);
        }
        if claim {
            let lie = ObjectiveSignal::Behind {
                behind: true,
                observed: false,
            };
            learner.objective(AgentId::new(1).unwrap(), lie, now);
        }
        let mut picks = Vec::new();
        for _ in 0..2_000 {
            let agent = learner.next(now).expect("three hogs are always runnable");
            picks.push(agent.index());
            now += TICK_US;
            learner.result(agent, TICK_US, StopReason::Preempted, now);
        }
        picks
    };
    assert_eq!(run(true), run(false));
}

/// A declared latency target gives each burst a deadline: among agents the
/// table cannot tell apart, the one due first runs first; a measured lag
/// is a state of its own.
#[test]
fn a_latency_objective_sets_deadlines_and_a_measured_lag_its_own_state() {
    use sched_rl::{AgentId, ClassHint, Objective, ObjectiveSignal};
    let waiting = AgentId::new(0).unwrap();
    let server = AgentId::new(1).unwrap();
    let first_pick = |declare: bool| {
        let mut learner = QLearningScheduler::new(SEED);
        learner.arrive(waiting, ClassHint::Interactive, 0);
        learner.arrive(server, ClassHint::Interactive, 10);
        if declare {
            let objective = Objective::latency(TICK_US).unwrap();
            learner.objective(server, ObjectiveSignal::Declared(objective), 10);
        }
        learner.next(20)
    };
    assert_eq!(first_pick(false), Some(waiting));
    assert_eq!(first_pick(true), Some(server));
    let mut learner = QLearningScheduler::new(SEED);
    learner.arrive(server, ClassHint::Interactive, 0);
    let calm = learner.state_of(server, 0);
    let behind = ObjectiveSignal::Behind {
        behind: true,
        observed: true,
    };
    learner.objective(server, behind, 0);
    assert_ne!(learner.state_of(server, 0), calm);
}
