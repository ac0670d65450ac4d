//! The generic tabular Q-learning core: table, exploration, learning rate, agent.
//!
//! [`QLearner`] ties the pieces together for any finite MDP with `STATES`
//! states and `ACTIONS` actions: it chooses actions epsilon-greedily and
//! applies the update `Q(s,a) += alpha × (r + gamma × max_a' Q(s',a') − Q(s,a))`.
//! The scheduler (`policy::q_learning`) uses the same table and schedules
//! directly, because its actions are "dispatch one of the runnable agents".

pub mod schedule;
pub mod table;

use crate::fixed::Fixed;
use crate::random::Rng;
pub use schedule::{EpsilonGreedy, LearningRate};
pub use table::QTable;

/// Hyper-parameters of a [`QLearner`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnerConfig {
    /// Discount factor gamma in `[0, 1)` (Q16.16).
    pub discount: Fixed,
    /// Step-size schedule.
    pub learning_rate: LearningRate,
    /// Exploration schedule.
    pub exploration: EpsilonGreedy,
    /// Seed of the exploration generator.
    pub seed: u64,
}

/// A tabular Q-learning agent for a finite MDP.
#[derive(Clone, Debug)]
pub struct QLearner<const STATES: usize, const ACTIONS: usize> {
    table: QTable<STATES, ACTIONS>,
    config: LearnerConfig,
    rng: Rng,
    total_reward: Fixed,
}

impl<const STATES: usize, const ACTIONS: usize> QLearner<STATES, ACTIONS> {
    /// Returns a learner with an all-zero table.
    pub fn new(config: LearnerConfig) -> Self {
        Self {
            table: QTable::new(),
            rng: Rng::new(config.seed),
            config,
            total_reward: Fixed::ZERO,
        }
    }

    /// Returns the action to take in `state`: random with probability
    /// epsilon, greedy otherwise.
    pub fn choose(&mut self, state: usize) -> usize {
        if self.config.exploration.explore(&mut self.rng) {
            self.rng.below(ACTIONS as u64) as usize
        } else {
            self.table.best(state).0
        }
    }

    /// Learns from the transition `state --action--> next_state` that paid
    /// `reward`; `next_state` is `None` when the episode ended.
    pub fn learn(&mut self, state: usize, action: usize, reward: Fixed, next_state: Option<usize>) {
        let next_value = next_state.map_or(Fixed::ZERO, |next| self.table.max_value(next));
        let alpha = self
            .config
            .learning_rate
            .alpha(self.table.visits(state, action));
        self.table.update(
            state,
            action,
            reward,
            next_value,
            self.config.discount,
            alpha,
        );
        self.total_reward = self.total_reward + reward;
    }

    /// Returns the greedy action in `state`.
    pub fn greedy(&self, state: usize) -> usize {
        self.table.best(state).0
    }

    /// Returns the learned table.
    pub fn table(&self) -> &QTable<STATES, ACTIONS> {
        &self.table
    }

    /// Returns the current exploration probability.
    pub fn epsilon(&self) -> Fixed {
        self.config.exploration.epsilon()
    }

    /// Returns the sum of rewards seen by `learn`.
    pub fn total_reward(&self) -> Fixed {
        self.total_reward
    }

    /// Returns the exploration generator, for environments that share it.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }
}
