//! Proof that the Q-learning core learns: small MDPs against value iteration, and a bandit.
//!
//! Each MDP's optimal Q* is computed by value iteration (in `f64`, test code
//! only); the learner, starting from an all-zero table, must reach the same
//! greedy policy and a Q within `TOLERANCE` of Q*. The optimal policies mix
//! actions, so an untrained (all-zero, always action 0) table fails.

use sched_rl::Rng;
use sched_rl::fixed::Fixed;
use sched_rl::learning::{EpsilonGreedy, LearnerConfig, LearningRate, QLearner};

/// Largest allowed |Q − Q*|, in reward units.
const TOLERANCE: f64 = 0.1;
const STATES: usize = 4;
const ACTIONS: usize = 2;
const DISCOUNT: f64 = 0.9;

/// A finite MDP: `outcomes(state, action)` lists (probability, next state, reward).
type Outcomes = Vec<(f64, usize, f64)>;

/// Action 0 advances along a ring (state 3 → 0 pays 2); action 1 jumps home
/// to state 0 and pays a state-dependent amount. With `slip`, an action has
/// that probability of landing in a uniformly random state for nothing.
fn ring(state: usize, action: usize, slip: f64) -> Outcomes {
    const CASH: [f64; STATES] = [0.0, 0.9, 0.2, 0.1];
    let (next, reward) = match action {
        0 if state == STATES - 1 => (0, 2.0),
        0 => (state + 1, 0.0),
        _ => (0, CASH[state]),
    };
    let mut outcomes = vec![(1.0 - slip, next, reward)];
    if slip > 0.0 {
        outcomes.extend((0..STATES).map(|random| (slip / STATES as f64, random, 0.0)));
    }
    outcomes
}

fn value_iteration(slip: f64) -> [[f64; ACTIONS]; STATES] {
    let mut q = [[0.0f64; ACTIONS]; STATES];
    for _ in 0..2_000 {
        let mut next = q;
        for (state, row) in next.iter_mut().enumerate() {
            for (action, value) in row.iter_mut().enumerate() {
                *value = ring(state, action, slip)
                    .iter()
                    .map(|&(probability, to, reward)| {
                        probability * (reward + DISCOUNT * q[to][0].max(q[to][1]))
                    })
                    .sum();
            }
        }
        q = next;
    }
    q
}

fn sample(outcomes: &Outcomes, rng: &mut Rng) -> (usize, f64) {
    let draw = rng.below(1_000_000) as f64 / 1_000_000.0;
    let mut cumulative = 0.0;
    for &(probability, to, reward) in outcomes {
        cumulative += probability;
        if draw < cumulative {
            return (to, reward);
        }
    }
    let &(_, to, reward) = outcomes.last().expect("non-empty");
    (to, reward)
}

fn to_fixed(value: f64) -> Fixed {
    Fixed::from_raw((value * 65_536.0).round() as i64)
}

fn to_float(value: Fixed) -> f64 {
    value.raw() as f64 / 65_536.0
}

fn learn(slip: f64, steps: u32, learning: bool) -> QLearner<STATES, ACTIONS> {
    let config = LearnerConfig {
        discount: to_fixed(DISCOUNT),
        learning_rate: if learning {
            LearningRate::InverseVisits {
                floor: Fixed::from_ratio(1, 200),
            }
        } else {
            LearningRate::Constant(Fixed::ZERO)
        },
        // Off-policy: a fixed, generous exploration rate visits every pair.
        exploration: EpsilonGreedy::new(Fixed::from_ratio(1, 2), Fixed::from_ratio(1, 2), 1),
        seed: 11,
    };
    let mut learner = QLearner::new(config);
    let mut environment = Rng::new(5);
    let mut state = 0;
    for _ in 0..steps {
        let action = learner.choose(state);
        let (next, reward) = sample(&ring(state, action, slip), &mut environment);
        learner.learn(state, action, to_fixed(reward), Some(next));
        state = next;
    }
    learner
}

fn optimal_policy(q: &[[f64; ACTIONS]; STATES]) -> Vec<usize> {
    q.iter().map(|row| usize::from(row[1] > row[0])).collect()
}

fn check_learns(slip: f64, steps: u32) {
    let optimum = value_iteration(slip);
    let policy = optimal_policy(&optimum);
    assert!(
        policy.contains(&0) && policy.contains(&1),
        "the MDP must need both actions: {policy:?}"
    );
    let learner = learn(slip, steps, true);
    let greedy: Vec<usize> = (0..STATES).map(|state| learner.greedy(state)).collect();
    assert_eq!(
        greedy, policy,
        "learned greedy policy differs from the optimum (Q* = {optimum:?})"
    );
    for (state, row) in optimum.iter().enumerate() {
        for (action, &expected) in row.iter().enumerate() {
            let learned = to_float(learner.table().value(state, action));
            assert!(
                (learned - expected).abs() <= TOLERANCE,
                "Q({state},{action}) = {learned:.4}, Q* = {expected:.4}"
            );
        }
    }
}

#[test]
fn learns_deterministic_mdp() {
    check_learns(0.0, 60_000);
}

#[test]
fn learns_stochastic_mdp() {
    check_learns(0.2, 400_000);
}

#[test]
fn without_learning_the_policy_is_not_optimal() {
    let optimum = value_iteration(0.0);
    let learner = learn(0.0, 60_000, false);
    let greedy: Vec<usize> = (0..STATES).map(|state| learner.greedy(state)).collect();
    assert_ne!(greedy, optimal_policy(&optimum));
}

/// Bernoulli arms of a 5-armed bandit (probability of reward 1).
const ARM_MEANS: [f64; 5] = [0.2, 0.4, 0.5, 0.6, 0.8];

/// Returns the expected regret accumulated by each step of `steps`.
fn bandit_regret(steps: usize, learning: bool) -> Vec<f64> {
    let config = LearnerConfig {
        discount: Fixed::ZERO,
        learning_rate: if learning {
            LearningRate::InverseVisits {
                floor: Fixed::from_raw(1),
            }
        } else {
            LearningRate::Constant(Fixed::ZERO)
        },
        exploration: EpsilonGreedy::new(Fixed::ONE, Fixed::ZERO, 50),
        seed: 3,
    };
    let mut learner: QLearner<1, 5> = QLearner::new(config);
    let mut environment = Rng::new(9);
    let best = ARM_MEANS.iter().copied().fold(0.0, f64::max);
    let mut total = 0.0;
    let mut cumulative = Vec::with_capacity(steps);
    for _ in 0..steps {
        let arm = learner.choose(0);
        let paid = (environment.below(1_000) as f64) < ARM_MEANS[arm] * 1_000.0;
        learner.learn(0, arm, if paid { Fixed::ONE } else { Fixed::ZERO }, None);
        total += best - ARM_MEANS[arm];
        cumulative.push(total);
    }
    cumulative
}

#[test]
fn bandit_regret_grows_sublinearly() {
    const STEPS: usize = 80_000;
    let regret = bandit_regret(STEPS, true);
    let quarter = regret[STEPS / 4 - 1];
    let half = regret[STEPS / 2 - 1];
    let full = regret[STEPS - 1];
    // Linear growth would double the regret with each doubling of time.
    assert!(
        half < 1.5 * quarter,
        "regret {quarter:.1} at T/4, {half:.1} at T/2"
    );
    assert!(full < 1.5 * half, "regret {half:.1} at T/2, {full:.1} at T");
    let untrained = bandit_regret(STEPS, false);
    assert!(
        untrained[STEPS - 1] > 1.9 * untrained[STEPS / 2 - 1],
        "an untrained learner's regret is linear"
    );
    assert!(full * 5.0 < untrained[STEPS - 1]);
}
