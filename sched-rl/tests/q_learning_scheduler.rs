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

/// Two CPU hogs that look alike, except that one is behind its latency
/// objective and answers requests within the target during its
/// dispatches (the kernel's observation): the learner comes to dispatch
/// it more often. A third hog that only reports itself behind (a training
/// loss nobody can check) gains nothing over the calm one.
#[test]
fn learns_that_serving_requests_within_target_is_worth_it() {
    use sched_rl::{AgentId, ClassHint, ObjectiveSignal, StopReason};
    let mut learner = QLearningScheduler::new(SEED);
    let server = AgentId::new(0).unwrap();
    let liar = AgentId::new(1).unwrap();
    let calm = AgentId::new(2).unwrap();
    let mut now = 0;
    for agent in [server, liar, calm] {
        learner.arrive(agent, ClassHint::Batch, now);
    }
    let behind = |observed| ObjectiveSignal::Behind {
        behind: true,
        observed,
    };
    learner.objective(server, behind(true), now);
    learner.objective(liar, behind(false), now);
    let mut runs = [0u32; 3];
    for _ in 0..4_000 {
        let agent = learner.next(now).expect("three hogs are always runnable");
        runs[agent.index()] += 1;
        if agent == server {
            learner.objective(server, ObjectiveSignal::RequestServed { met: true }, now);
        }
        now += TICK_US;
        learner.result(agent, TICK_US, StopReason::Preempted, now);
    }
    let (served, lied, honest) = (runs[0], runs[1], runs[2]);
    assert!(
        served > lied && served > honest && served > 2_000,
        "server {served}, liar {lied}, calm {honest}"
    );
    let behind_value = learner.value(learner.state_of(liar, now));
    let calm_value = learner.value(learner.state_of(calm, now));
    let server_value = learner.value(learner.state_of(server, now));
    assert!(
        server_value > behind_value && server_value > calm_value,
        "{server_value} vs {behind_value}, {calm_value}"
    );
    assert!(
        lied.abs_diff(honest) * 5 < lied + honest,
        "liar {lied}, calm {honest}"
    );
}
