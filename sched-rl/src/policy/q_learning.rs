//! The Q-learning scheduler: learns which kind of agent to dispatch first.
//!
//! # Formulation
//! - **Decision state**: the set of runnable agents, each described by its
//!   behavioural state `s_i` from [`features`](super::features) (72 states:
//!   36 of behaviour, each with and without "behind its latency objective by
//!   the kernel's measurement").
//! - **Action**: dispatch one runnable agent `i`. Agents are interchangeable
//!   apart from their features, so `Q(decision state, dispatch i)` is
//!   approximated by a table entry `Q(s_i)` (a `QTable<72, 1>`): the value of
//!   dispatching an agent that looks like `s_i`.
//! - **Reward** of a dispatch, paid when the agent stops (Q16.16):
//!   `−ran_for / 1 ms` (every other runnable agent waited that long: the
//!   occupancy cost), `+1` if the agent blocked or exited (a burst completed,
//!   so a response was delivered), `+2` more if it blocked within the relative
//!   deadline its periodic hint claimed. Yields earn nothing, so yielding before each tick does
//!   not look like finishing work. There is no separate throughput term: the
//!   policy is work-conserving (never idles while an agent is runnable), so
//!   every choice delivers the same CPU time per tick.
//! - **Discount** gamma = 1/2: a dispatch mostly matters for the next few
//!   ticks (who waits behind it); a short horizon keeps the values
//!   dominated by the dispatch's own cost while still crediting dispatches
//!   whose successor completes a burst.
//! - **Update** (off-policy Q-learning), at the next decision:
//!   `Q(s) += alpha × (r + gamma × max_{j runnable} Q(s_j) − Q(s))`; the max
//!   over the next decision's options comes free with the scan that picks.
//! - **Exploration**: epsilon-greedy over runnable agents, epsilon from 1/20
//!   halving every 5 000 decisions to a floor of 1/256. **Learning rate**:
//!   `max(1/32, 1/(visits + 1))`.
//! - **No starvation**: an agent runnable for `AGING_BOUND_US` or longer is
//!   dispatched before anything else (the longest-waiting first), so no
//!   runnable agent waits longer than `AGING_BOUND_US` plus one tick per
//!   other agent past the bound, well inside the watchdog's bound.
//! - **Removal** forgets the agent's features; a dispatch ended by `remove`
//!   pays no reward and teaches nothing.
//! - **Ties** go to the earliest absolute deadline (release + relative
//!   deadline), then to the longest waiting. With an all-zero table every
//!   agent ties: the untrained policy is round robin with a one-tick
//!   quantum (earliest deadline first among agents with deadlines), so
//!   anything better than that is learned.
//! - **Learning objectives** ([`crate::objective`]): a declared latency
//!   target becomes the relative deadline of each of the agent's bursts
//!   (each burst of a server answers one request), so it shows in the slack
//!   bucket and in the tie order, but earns no deadline reward: a reward
//!   paid only for requests answered in time teaches the learner to neglect
//!   the late ones (measured: it cost 3-5 points of requests in target on
//!   the simulator's `objectives` workload). Being behind a latency
//!   objective by the kernel's measurement is a state bit of its own. A lag
//!   the agent only reports (a training loss) is not trusted at all: states
//!   for it let a lying hog borrow value (measured: it cost 6-7 points).
//!
//! `next` is one pass over the runnable agents: O(runnable), no allocation.

use super::features::{AgentFeatures, STATE_COUNT};
use crate::agent::{AgentId, ClassHint, MAX_AGENTS, Microseconds, StopReason, TICK_US};
use crate::fixed::Fixed;
use crate::learning::{EpsilonGreedy, LearningRate, QTable};
use crate::objective::{Objective, ObjectiveSignal};
use crate::random::Rng;
use crate::runnable::RunnableSet;
use crate::scheduler::{Scheduler, SchedulerStats};

/// A runnable agent that has waited this long is dispatched first.
pub const AGING_BOUND_US: Microseconds = 20 * TICK_US;
/// The only action column: "dispatch an agent in this state".
const DISPATCH: usize = 0;
/// Reward for completing a burst (blocking or exiting).
const BURST_COMPLETION_REWARD: Fixed = Fixed::ONE;
/// Extra reward for completing a burst within its claimed deadline.
const DEADLINE_MET_REWARD: Fixed = Fixed::from_int(2);
/// Occupancy cost is charged per this much CPU time.
const COST_UNIT_US: i64 = 1_000;

/// Tunable parameters of the Q-learning scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QLearningConfig {
    /// Seed of the exploration generator.
    pub seed: u64,
    /// Discount factor gamma (Q16.16).
    pub discount: Fixed,
    /// Step-size schedule; `Constant(Fixed::ZERO)` disables learning.
    pub learning_rate: LearningRate,
    /// Exploration schedule.
    pub exploration: EpsilonGreedy,
    /// Runnable agents that waited this long are dispatched first.
    pub aging_bound_us: Microseconds,
}

impl QLearningConfig {
    /// Returns the documented default configuration with `seed`.
    pub const fn new(seed: u64) -> Self {
        Self {
            seed,
            discount: Fixed::from_raw(Fixed::ONE.raw() / 2),
            learning_rate: LearningRate::InverseVisits {
                floor: Fixed::from_raw(Fixed::ONE.raw() / 32),
            },
            exploration: EpsilonGreedy::new(
                Fixed::from_raw(Fixed::ONE.raw() / 20),
                Fixed::from_raw(Fixed::ONE.raw() / 256),
                5_000,
            ),
            aging_bound_us: AGING_BOUND_US,
        }
    }
}

/// The Q-learning scheduler.
#[derive(Clone, Debug)]
pub struct QLearningScheduler {
    config: QLearningConfig,
    table: QTable<STATE_COUNT, 1>,
    exploration: EpsilonGreedy,
    rng: Rng,
    runnable: RunnableSet,
    features: [AgentFeatures; MAX_AGENTS],
    dispatched: Option<(AgentId, usize)>,
    pending: Option<(usize, Fixed)>,
    decisions: u64,
    total_reward: Fixed,
}

impl QLearningScheduler {
    /// Returns a scheduler with the default configuration and `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with_config(QLearningConfig::new(seed))
    }

    /// Returns a scheduler with `config`.
    pub fn with_config(config: QLearningConfig) -> Self {
        Self {
            table: QTable::new(),
            exploration: config.exploration,
            rng: Rng::new(config.seed),
            runnable: RunnableSet::new(),
            features: [AgentFeatures::default(); MAX_AGENTS],
            dispatched: None,
            pending: None,
            decisions: 0,
            total_reward: Fixed::ZERO,
            config,
        }
    }

    /// Returns the learned value of dispatching an agent in `state`.
    pub fn value(&self, state: usize) -> Fixed {
        self.table.value(state, DISPATCH)
    }

    /// Returns the current state index of `agent` at `now`.
    pub fn state_of(&self, agent: AgentId, now: Microseconds) -> usize {
        self.features[agent.index()].state(now)
    }

    /// Applies the pending TD update now that the next options are known.
    fn learn(&mut self, next_value: Fixed) {
        if let Some((state, reward)) = self.pending.take() {
            let alpha = self
                .config
                .learning_rate
                .alpha(self.table.visits(state, DISPATCH));
            self.table.update(
                state,
                DISPATCH,
                reward,
                next_value,
                self.config.discount,
                alpha,
            );
        }
    }
}

impl Scheduler for QLearningScheduler {
    fn arrive(&mut self, agent: AgentId, hint: ClassHint, now: Microseconds) {
        self.features[agent.index()] = AgentFeatures::spawned(hint, now);
        self.runnable.insert(agent, now);
    }

    fn wake(&mut self, agent: AgentId, now: Microseconds) {
        self.features[agent.index()].woke(now);
        self.runnable.insert(agent, now);
    }

    fn next(&mut self, now: Microseconds) -> Option<AgentId> {
        if self.runnable.is_empty() {
            self.learn(Fixed::ZERO);
            return None;
        }
        let mut best: Option<(Fixed, (Microseconds, Microseconds), AgentId, usize)> = None;
        let mut oldest: Option<(Microseconds, AgentId, usize)> = None;
        for &agent in self.runnable.agents() {
            let features = &self.features[agent.index()];
            let state = features.state(now);
            let value = self.table.value(state, DISPATCH);
            let since = self.runnable.since(agent);
            // Ties: the earliest deadline first, then the longest waiting.
            let order = (features.due_at(), since);
            if best.is_none_or(|(best_value, best_order, ..)| {
                value > best_value || (value == best_value && order < best_order)
            }) {
                best = Some((value, order, agent, state));
            }
            if oldest.is_none_or(|(oldest_since, ..)| since < oldest_since) {
                oldest = Some((since, agent, state));
            }
        }
        let (best_value, _, best_agent, best_state) = best?;
        let (oldest_since, oldest_agent, oldest_state) = oldest?;
        self.learn(best_value);
        let explore = self.exploration.explore(&mut self.rng);
        let (agent, state) = if now.saturating_sub(oldest_since) >= self.config.aging_bound_us {
            (oldest_agent, oldest_state)
        } else if explore {
            let agent = self
                .runnable
                .get(self.rng.below(self.runnable.len() as u64) as usize)?;
            (agent, self.features[agent.index()].state(now))
        } else {
            (best_agent, best_state)
        };
        self.runnable.remove(agent);
        self.dispatched = Some((agent, state));
        self.decisions += 1;
        Some(agent)
    }

    fn result(
        &mut self,
        agent: AgentId,
        ran_for: Microseconds,
        reason: StopReason,
        now: Microseconds,
    ) {
        let features = &mut self.features[agent.index()];
        let ran = i64::try_from(ran_for).unwrap_or(i64::MAX);
        let mut reward = -Fixed::from_ratio(ran, COST_UNIT_US);
        if reason.ends_burst() {
            reward = reward + BURST_COMPLETION_REWARD;
        }
        if matches!(reason, StopReason::Blocked(_))
            && reason.ends_burst()
            && !features.deadline_from_objective()
            && features.met_deadline(now)
        {
            reward = reward + DEADLINE_MET_REWARD;
        }
        features.stopped(ran_for, reason);
        if let Some((dispatched, state)) = self.dispatched.take()
            && dispatched == agent
        {
            self.pending = Some((state, reward));
            self.total_reward = self.total_reward + reward;
        }
        if reason.stays_runnable() {
            self.runnable.insert(agent, now);
        }
    }

    fn remove(&mut self, agent: AgentId) {
        self.runnable.remove(agent);
        self.features[agent.index()] = AgentFeatures::default();
        // A dispatch ended by removal has no outcome to learn from.
        if self
            .dispatched
            .is_some_and(|(dispatched, _)| dispatched == agent)
        {
            self.dispatched = None;
        }
    }

    fn objective(&mut self, agent: AgentId, signal: ObjectiveSignal, _now: Microseconds) {
        let features = &mut self.features[agent.index()];
        match signal {
            ObjectiveSignal::Declared(Objective::Latency { target_us }) => {
                features.set_deadline(target_us)
            }
            // A loss objective says nothing about any one burst.
            ObjectiveSignal::Declared(Objective::Loss { .. }) => {}
            ObjectiveSignal::Behind {
                behind,
                observed: true,
            } => features.set_behind(behind),
            // A lag only the agent reports is not trusted at all.
            ObjectiveSignal::Behind {
                observed: false, ..
            } => {}
            // Met or missed shows in the deadline slack already; a reward
            // paid only for requests answered in time would teach the
            // learner to neglect the late ones.
            ObjectiveSignal::RequestServed { .. } => {}
        }
    }

    fn stats(&self) -> SchedulerStats {
        SchedulerStats {
            policy: "q-learning",
            exploration_rate: self.exploration.epsilon(),
            decisions: self.decisions,
            total_reward: self.total_reward,
            fallbacks: 0,
            fallback_reason: None,
        }
    }
}
