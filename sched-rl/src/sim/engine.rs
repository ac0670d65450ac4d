//! The discrete-event simulator: runs a workload through a `Scheduler`.
//!
//! Time advances from event to event. The CPU runs the dispatched agent until
//! its burst ends or the next 1 ms tick, whichever is first; then the policy
//! hears `result` and is asked for `next`, exactly as in the kernel. Wake-ups
//! do not preempt. When the policy idles, the simulator skips to the next
//! arrival or wake-up (or the next tick, if agents are runnable anyway).
//! Every agent draws its burst and block lengths from its own generator,
//! seeded from the run's seed and its index, so every policy faces the same
//! draws.
//!
//! # Objectives
//! An agent with a latency objective gets an [`ObjectiveTracker`] when it
//! arrives (it belongs to that agent, not to the slot), and the policy hears
//! [`ObjectiveSignal::Declared`] right after the `arrive`. Each burst it
//! completes is one request whose latency is the burst's response time; the
//! policy hears [`ObjectiveSignal::RequestServed`] for it, then the tracker's
//! [`ObjectiveSignal::Behind`] if the behind status changed, both before the
//! `result` of the dispatch that completed the burst. An agent that
//! `claims-behind` sends `Behind { behind: true, observed: false }` right
//! after its `arrive`. Signals draw nothing from any generator, so every
//! policy still faces the same draws.

use super::report::SimReport;
use super::srpt::{RemainingBursts, SrptOracle};
use super::workload::{AfterBurst, Behaviour, Workload};
use crate::agent::{AgentId, BlockKind, Microseconds, StopReason, TICK_US};
use crate::objective::{ObjectiveSignal, ObjectiveTracker};
use crate::random::Rng;
use crate::scheduler::Scheduler;
use alloc::collections::BinaryHeap;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Reverse;

/// Mixed into the run seed to derive each agent's generator.
const AGENT_SEED_STRIDE: u64 = 0x2545_F491_4F6C_DD1D;

/// Returns the measurements of `workload` scheduled by `policy`.
///
/// # Panics
/// If the workload has more than `MAX_AGENTS` agents (the parser refuses such files).
pub fn simulate(workload: &Workload, policy: &mut dyn Scheduler, seed: u64) -> SimReport {
    Simulation::new(workload, seed, None).run(policy)
}

/// Returns the measurements of `workload` under the SRPT oracle.
pub fn simulate_srpt(workload: &Workload, seed: u64) -> SimReport {
    let remaining = Rc::new(RemainingBursts::default());
    let mut oracle = SrptOracle::new(Rc::clone(&remaining));
    Simulation::new(workload, seed, Some(remaining)).run(&mut oracle)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    NotArrived,
    Runnable,
    Blocked,
    Exited,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum EventKind {
    Arrival,
    Wake,
}

struct AgentState {
    id: AgentId,
    status: Status,
    rng: Rng,
    /// What is left of the current burst; `None` until computed at dispatch.
    remaining_us: Option<Microseconds>,
    burst_length_us: Microseconds,
    released_at: Microseconds,
    runnable_since: Microseconds,
    deadline_at: Option<Microseconds>,
    bursts_done: u32,
    cpu_us: Microseconds,
    wait_us: Microseconds,
    /// Its latency objective and the requests measured against it, from arrival.
    tracker: Option<ObjectiveTracker>,
}

struct Simulation<'a> {
    workload: &'a Workload,
    agents: Vec<AgentState>,
    events: BinaryHeap<Reverse<(Microseconds, u64, EventKind, usize)>>,
    sequence: u64,
    remaining: Option<Rc<RemainingBursts>>,
    report: SimReport,
}

impl<'a> Simulation<'a> {
    fn new(workload: &'a Workload, seed: u64, remaining: Option<Rc<RemainingBursts>>) -> Self {
        let mut simulation = Self {
            workload,
            agents: Vec::new(),
            events: BinaryHeap::new(),
            sequence: 0,
            remaining,
            report: SimReport {
                responses: Vec::new(),
                warmup_us: workload.warmup_us,
                duration_us: workload.duration_us,
                deadline_bursts: 0,
                deadline_misses: 0,
                completed_work_us: 0,
                longest_wait_us: 0,
                service: vec![(0, 0); workload.agents.len()],
                invalid_picks: 0,
                stats: crate::scheduler::SchedulerStats::baseline("", 0),
                objective_responses: Vec::new(),
                objective_requests: 0,
                objective_requests_met: 0,
            },
        };
        for (index, spec) in workload.agents.iter().enumerate() {
            let id = AgentId::new(index).expect("workload has more than MAX_AGENTS agents");
            let mut rng = Rng::new(seed ^ AGENT_SEED_STRIDE.wrapping_mul(index as u64 + 1));
            let arrival = spec.arrival.draw(&mut rng);
            simulation.agents.push(AgentState {
                id,
                status: Status::NotArrived,
                rng,
                remaining_us: None,
                burst_length_us: 0,
                released_at: 0,
                runnable_since: 0,
                deadline_at: None,
                bursts_done: 0,
                cpu_us: 0,
                wait_us: 0,
                tracker: None,
            });
            simulation.schedule(arrival, EventKind::Arrival, index);
        }
        simulation
    }

    fn schedule(&mut self, at: Microseconds, kind: EventKind, index: usize) {
        self.sequence += 1;
        self.events.push(Reverse((at, self.sequence, kind, index)));
    }

    /// Delivers every event due strictly before `limit`.
    fn deliver_before(&mut self, limit: Microseconds, policy: &mut dyn Scheduler) {
        while let Some(&Reverse((at, _, kind, index))) = self.events.peek() {
            if at >= limit {
                break;
            }
            self.events.pop();
            self.release(index, at);
            let id = self.agents[index].id;
            match kind {
                EventKind::Arrival => {
                    let spec = &self.workload.agents[index];
                    self.agents[index].tracker = spec
                        .objective
                        .map(|objective| ObjectiveTracker::new(objective, at));
                    policy.arrive(id, spec.hint, at);
                    if let Some(objective) = spec.objective {
                        policy.objective(id, ObjectiveSignal::Declared(objective), at);
                    }
                    if spec.claims_behind {
                        let claim = ObjectiveSignal::Behind {
                            behind: true,
                            observed: false,
                        };
                        policy.objective(id, claim, at);
                    }
                }
                EventKind::Wake => policy.wake(id, at),
            }
        }
    }

    /// Makes agent `index` runnable at `now` with a fresh burst.
    fn release(&mut self, index: usize, now: Microseconds) {
        let agent = &mut self.agents[index];
        agent.status = Status::Runnable;
        agent.released_at = now;
        agent.runnable_since = now;
        self.start_burst(index, now);
    }

    fn start_burst(&mut self, index: usize, now: Microseconds) {
        let phase = self.workload.agents[index].phase_at(now);
        let agent = &mut self.agents[index];
        agent.deadline_at = None;
        match phase.behaviour {
            Behaviour::Bursts { burst, after } => {
                let length = burst.draw(&mut agent.rng);
                agent.remaining_us = Some(length);
                agent.burst_length_us = length;
                if let AfterBurst::Periodic { deadline_us, .. } = after {
                    agent.deadline_at = Some(agent.released_at + deadline_us);
                }
                self.tell_remaining(index, length);
            }
            Behaviour::YieldBeforeTick { margin_us } => {
                agent.remaining_us = None;
                self.tell_remaining(index, TICK_US.saturating_sub(margin_us));
            }
        }
    }

    fn tell_remaining(&self, index: usize, remaining_us: Microseconds) {
        if let Some(remaining) = &self.remaining {
            remaining.set(self.agents[index].id, remaining_us);
        }
    }

    /// Returns the part of `[start, end)` after the warm-up.
    fn measured(&self, start: Microseconds, end: Microseconds) -> Microseconds {
        end.saturating_sub(start.max(self.workload.warmup_us))
    }

    fn run(mut self, policy: &mut dyn Scheduler) -> SimReport {
        let duration = self.workload.duration_us;
        let mut now = 0;
        loop {
            self.deliver_before(now + 1, policy);
            if now >= duration {
                break;
            }
            let next_tick = (now / TICK_US + 1) * TICK_US;
            now = match policy.next(now) {
                Some(agent)
                    if self
                        .agents
                        .get(agent.index())
                        .is_some_and(|state| state.status == Status::Runnable) =>
                {
                    self.dispatch(agent.index(), now, next_tick.min(duration), policy)
                }
                pick => {
                    if pick.is_some() {
                        self.report.invalid_picks += 1;
                    }
                    let any_runnable = self
                        .agents
                        .iter()
                        .any(|agent| agent.status == Status::Runnable);
                    let next_event = self.events.peek().map_or(duration, |Reverse((at, ..))| *at);
                    let resume = if any_runnable || pick.is_some() {
                        next_tick.min(next_event)
                    } else {
                        next_event
                    };
                    resume.min(duration)
                }
            };
        }
        self.finish(policy)
    }

    /// Runs agent `index` from `now` until its burst ends or `limit`; returns the stop time.
    fn dispatch(
        &mut self,
        index: usize,
        now: Microseconds,
        limit: Microseconds,
        policy: &mut dyn Scheduler,
    ) -> Microseconds {
        let since = self.agents[index].runnable_since;
        let waited = self.measured(since, now);
        self.report.longest_wait_us = self.report.longest_wait_us.max(now - since);
        self.agents[index].wait_us += waited;
        let remaining = match self.agents[index].remaining_us {
            Some(remaining) => remaining,
            None => {
                let margin = match self.workload.agents[index].phase_at(now).behaviour {
                    Behaviour::YieldBeforeTick { margin_us } => margin_us,
                    Behaviour::Bursts { .. } => 0,
                };
                let to_tick = TICK_US - now % TICK_US;
                let length = if to_tick > margin {
                    to_tick - margin
                } else {
                    to_tick + TICK_US - margin
                };
                self.agents[index].burst_length_us = length;
                length
            }
        };
        let end = (now + remaining).min(limit);
        self.deliver_before(end, policy);
        let ran = end - now;
        let cpu = self.measured(now, end);
        let agent = &mut self.agents[index];
        agent.cpu_us += cpu;
        let left = remaining - ran;
        let reason = if left > 0 {
            agent.remaining_us = Some(left);
            agent.runnable_since = end;
            self.tell_remaining(index, left);
            StopReason::Preempted
        } else {
            let response = end - agent.released_at;
            let reason = self.complete_burst(index, end);
            self.serve_request(index, response, end, policy);
            reason
        };
        policy.result(self.agents[index].id, ran, reason, end);
        end
    }

    /// Records a completed burst at `now` and returns how the agent stops.
    fn complete_burst(&mut self, index: usize, now: Microseconds) -> StopReason {
        let spec = &self.workload.agents[index];
        let phase = spec.phase_at(self.agents[index].released_at);
        let agent = &mut self.agents[index];
        agent.bursts_done += 1;
        if now >= self.workload.warmup_us {
            self.report.completed_work_us += agent.burst_length_us;
            if let Some(deadline) = agent.deadline_at {
                self.report.deadline_bursts += 1;
                if now > deadline {
                    self.report.deadline_misses += 1;
                }
            }
        }
        if phase.latency_sensitive {
            self.report.responses.push((now, now - agent.released_at));
        }
        if spec.bursts.is_some_and(|limit| agent.bursts_done >= limit) {
            agent.status = Status::Exited;
            return StopReason::Exited;
        }
        let after = match spec.phase_at(now).behaviour {
            Behaviour::Bursts { after, .. } => after,
            Behaviour::YieldBeforeTick { .. } => AfterBurst::Yield,
        };
        match after {
            AfterBurst::Yield => {
                agent.released_at = now;
                agent.runnable_since = now;
                self.start_burst(index, now);
                StopReason::Yielded
            }
            AfterBurst::Block { kind, duration } => {
                agent.status = Status::Blocked;
                let wake = now + duration.draw(&mut agent.rng);
                self.schedule(wake, EventKind::Wake, index);
                StopReason::Blocked(kind)
            }
            AfterBurst::Periodic { period_us, .. } => {
                agent.status = Status::Blocked;
                let wake = (agent.released_at + period_us).max(now);
                self.schedule(wake, EventKind::Wake, index);
                StopReason::Blocked(BlockKind::Sleep)
            }
        }
    }

    /// Counts the burst agent `index` completed at `now`, `response` after
    /// its release, as one request against its latency objective (if it has
    /// one) and tells `policy` how it went.
    fn serve_request(
        &mut self,
        index: usize,
        response: Microseconds,
        now: Microseconds,
        policy: &mut dyn Scheduler,
    ) {
        let id = self.agents[index].id;
        let Some(tracker) = &mut self.agents[index].tracker else {
            return;
        };
        let was_behind = tracker.status(now).is_behind();
        let met = tracker.request(response);
        let status_changed = tracker.status(now).is_behind() != was_behind;
        let status = tracker.signal(now);
        self.report.objective_responses.push((now, response));
        if now >= self.workload.warmup_us {
            self.report.objective_requests += 1;
            self.report.objective_requests_met += u64::from(met);
        }
        policy.objective(id, ObjectiveSignal::RequestServed { met }, now);
        if status_changed {
            policy.objective(id, status, now);
        }
    }

    fn finish(mut self, policy: &mut dyn Scheduler) -> SimReport {
        let duration = self.workload.duration_us;
        for index in 0..self.agents.len() {
            let agent = &self.agents[index];
            if agent.status == Status::Runnable {
                let waited = self.measured(agent.runnable_since, duration);
                self.report.longest_wait_us = self
                    .report
                    .longest_wait_us
                    .max(duration - agent.runnable_since);
                if agent.deadline_at.is_some_and(|deadline| {
                    deadline >= self.workload.warmup_us && deadline < duration
                }) {
                    self.report.deadline_bursts += 1;
                    self.report.deadline_misses += 1;
                }
                self.agents[index].wait_us += waited;
            }
            self.report.service[index] = (self.agents[index].cpu_us, self.agents[index].wait_us);
        }
        self.report.stats = policy.stats();
        self.report
    }
}
