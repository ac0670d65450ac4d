//! The task manager: the agent table, the policy and every switch decision.
//!
//! All of its state sits behind one lock that is only ever taken with
//! interrupts disabled: inside the timer and switch handlers (interrupt gates
//! clear IF) and through `without_interrupts` elsewhere. On one CPU this
//! means no code can spin on the lock while its holder is interrupted, so no
//! deadlock is possible; and no tick is lost because the lock is held for
//! bounded, short work only (O(agents) per decision, no console output
//! except the rare watchdog message, which goes through the deferred buffer).

use alloc::{string::String, vec::Vec};

use sched_rl::{
    AgentId, BlockKind, ClassHint, MAX_AGENTS, Objective, ObjectiveSignal, ObjectiveTracker,
    Scheduler, StopReason,
};

use super::{
    EventId, MAX_EVENTS, SpawnError,
    agent::{Agent, AgentState, AgentStats, MAX_NAME_BYTES, Progress, TaskData},
    histogram::Histogram,
    policy::{GuardedPolicy, KernelPolicy},
    snapshot::ProgressSnapshot,
};
use crate::{
    arch::{cpu, vector::VectorState},
    memory::stack::KernelStack,
    time,
};

/// What an agent asked for through the switch vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Give up the CPU, stay runnable.
    Yield,
    /// Sleep until the microsecond clock reaches the value.
    SleepUntil(u64),
    /// Block on the event unless its generation moved past the value.
    Block(EventId, u64),
    /// Like [`Request::Block`], but wake at the deadline (µs) at the latest
    /// (`None`: no deadline); a deadline already past does not block.
    BlockUntil(EventId, u64, Option<u64>),
    /// Exit with the status.
    Exit(i64),
}

/// Counters about the scheduler as a whole.
#[derive(Debug, Clone, Copy, Default)]
pub struct ManagerCounters {
    /// Agents spawned since boot.
    pub spawned: u64,
    /// Agents that exited since boot.
    pub exited: u64,
    /// Stack switches between different agents (or idle).
    pub switches: u64,
    /// Switches that moved the vector registers from one user agent to
    /// another (save and restore).
    pub vector_switches: u64,
    /// Decisions the kernel refused because the agent was not runnable.
    pub refused_decisions: u64,
    /// Watchdog fallbacks seen.
    pub fallbacks: u32,
}

/// The agent table, the guarded policy and the switch statistics.
pub struct Manager {
    agents: Vec<Option<Agent>>,
    current: Option<AgentId>,
    idle_stack_pointer: u64,
    policy: GuardedPolicy,
    dispatched_at_us: u64,
    /// Cycles the last feedback call took, added to the next decision.
    feedback_cycles: u64,
    /// An exited agent whose stack was in use at the last switch.
    pending_reap: Option<AgentId>,
    events: [u64; MAX_EVENTS],
    events_in_use: u64,
    /// Cycles spent in the policy per decision (`next` plus the feedback).
    pub decision_cycles: Histogram,
    /// Cycles from handler entry to the chosen stack, when it changed.
    pub switch_cycles: Histogram,
    /// Cycles of the vector-register save and restore, when a switch did
    /// them (part of `switch_cycles`).
    pub vector_cycles: Histogram,
    /// The user agent whose values the vector registers hold (slot and
    /// pid, so a slot reused by a new agent is not taken for it).
    vector_owner: Option<(AgentId, u64)>,
    /// Scheduler-wide counters.
    pub counters: ManagerCounters,
    /// The last agents that exited with a non-zero status.
    pub failures: [Option<ExitRecord>; MAX_REMEMBERED_FAILURES],
    /// Where the next failure record goes in `failures`.
    next_failure: usize,
    /// Whether the boot flow became the idle agent and decisions started.
    started: bool,
    /// Next boot-unique agent id.
    next_pid: u64,
    /// Exits not yet collected by `wait`: at most [`MAX_EXIT_NOTES_PER_PARENT`]
    /// per parent (a parent's oldest is dropped for its own newest only), and
    /// only for parents that are alive (or the kernel, 0).
    exit_notes: Vec<ExitNote>,
    /// Agents taken out of the table whose memory (stack, address space) is
    /// not freed yet: [`super::bury_the_dead`] drops them outside the lock.
    graveyard: Vec<Agent>,
    /// Signalled on every exit, for agents waiting for a child.
    exit_event: EventId,
    /// Whether the running agent was dispatched by the current policy (false
    /// right after a policy change), so its stint is reported to it.
    current_from_policy: bool,
    /// The progress of the last agents that ended with an objective or
    /// reported figures (oldest first), for status views after they end.
    finished: Vec<FinishedProgress>,
}

/// What an agent that ended had declared and reached.
#[derive(Debug, Clone, Copy)]
pub struct FinishedProgress {
    /// Its boot-unique id.
    pub pid: u64,
    name: [u8; MAX_NAME_BYTES],
    name_length: usize,
    /// Its exit status.
    pub status: i64,
    /// Its objective and figures when it ended.
    pub progress: ProgressSnapshot,
}

impl FinishedProgress {
    /// Returns its name.
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_length]).unwrap_or("?")
    }
}

/// Ended agents whose progress is kept.
pub const MAX_FINISHED_PROGRESS: usize = 8;

/// What [`Manager::kill`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillOutcome {
    /// The agent was ended and freed.
    Killed,
    /// The agent is the caller: it must exit itself.
    IsCurrent,
    /// The agent is inside an operation that defers kills
    /// ([`super::with_kill_deferred`]): it ends itself when that ends.
    Deferred,
}

/// Why [`Manager::kill`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillError {
    /// No live agent has this id.
    NoSuchAgent,
    /// The task manager was not started.
    NotStarted,
}

/// Shortest time between two logged objective changes of one agent, µs.
const OBJECTIVE_LOG_INTERVAL_US: u64 = 1_000_000;

/// Exits remembered per parent until it waits for them: one parent's
/// notes are never evicted by another's exits.
pub const MAX_EXIT_NOTES_PER_PARENT: usize = MAX_CHILDREN;
/// Exit notes the kernel keeps at most: [`MAX_EXIT_NOTES_PER_PARENT`] for
/// each live agent and for the kernel (parent 0).
const MAX_EXIT_NOTES: usize = (MAX_AGENTS + 1) * MAX_EXIT_NOTES_PER_PARENT;
/// Live children one user agent may have.
pub const MAX_CHILDREN: usize = 8;
/// Live agents one user tree (a top-level user agent and all its
/// descendants) may have.
pub const MAX_DESCENDANTS: usize = 24;
/// Agent slots only kernel agents and kernel-parented spawns (the shell's)
/// may take: a user tree cannot fill the table.
pub const RESERVED_SLOTS: usize = 8;
/// Most dead agents waiting to be freed; beyond this they are freed at once.
const GRAVEYARD_CAPACITY: usize = MAX_AGENTS;

/// An exited agent's status, kept for its parent's `wait`.
#[derive(Debug, Clone, Copy)]
struct ExitNote {
    pid: u64,
    parent: u64,
    status: i64,
}

/// What a `wait` for a child finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    /// The child exited with this status (the note is consumed).
    Exited(i64),
    /// The child still runs; wait on the exit event past this generation.
    Running(EventId, u64),
    /// No such child of the caller.
    NotChild,
}

/// Failed exits remembered for the status table.
pub const MAX_REMEMBERED_FAILURES: usize = 16;

/// An agent that exited with a non-zero status (kept without allocation).
#[derive(Debug, Clone, Copy)]
pub struct ExitRecord {
    name: [u8; MAX_NAME_BYTES],
    name_length: usize,
    /// The exit status.
    pub status: i64,
}

impl ExitRecord {
    /// Returns the agent's name.
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_length]).unwrap_or("?")
    }
}

impl Manager {
    /// Returns an empty manager running `policy` behind the watchdog.
    pub fn new(policy: KernelPolicy) -> Self {
        let mut agents = Vec::with_capacity(MAX_AGENTS);
        agents.resize_with(MAX_AGENTS, || None);
        let mut manager = Self {
            agents,
            current: None,
            idle_stack_pointer: 0,
            policy: super::policy::guard(policy),
            dispatched_at_us: time::now_us(),
            feedback_cycles: 0,
            pending_reap: None,
            events: [0; MAX_EVENTS],
            events_in_use: 0,
            decision_cycles: Histogram::new(),
            switch_cycles: Histogram::new(),
            vector_cycles: Histogram::new(),
            vector_owner: None,
            counters: ManagerCounters::default(),
            failures: [None; MAX_REMEMBERED_FAILURES],
            next_failure: 0,
            started: false,
            next_pid: 1,
            // Preallocated: notes never allocate with the lock held.
            exit_notes: Vec::with_capacity(MAX_EXIT_NOTES),
            graveyard: Vec::with_capacity(GRAVEYARD_CAPACITY),
            exit_event: EventId(0),
            current_from_policy: true,
            finished: Vec::with_capacity(MAX_FINISHED_PROGRESS),
        };
        manager.exit_event = manager
            .new_event()
            .expect("a fresh manager has free events");
        manager
    }

    /// Returns the guarded policy.
    pub fn policy(&self) -> &GuardedPolicy {
        &self.policy
    }

    /// Returns the running agent (`None` while idle).
    pub fn current(&self) -> Option<AgentId> {
        self.current
    }

    /// Returns every agent in the table, exited ones not yet freed included.
    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.agents.iter().flatten()
    }

    /// Returns the agent in slot `id`.
    pub fn agent_mut(&mut self, id: AgentId) -> Option<&mut Agent> {
        self.agents.get_mut(id.index()).and_then(Option::as_mut)
    }

    /// Returns the number of agents that have not exited.
    pub fn live_agents(&self) -> usize {
        self.agents()
            .filter(|agent| !matches!(agent.state, AgentState::Exited { .. }))
            .count()
    }

    /// Adds a runnable agent and introduces it to the policy.
    /// Returns its slot and its boot-unique id.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site, each argument distinct"
    )]
    pub fn add(
        &mut self,
        name: &str,
        class: ClassHint,
        stack: KernelStack,
        saved_stack_pointer: u64,
        entry: alloc::boxed::Box<dyn core::any::Any + Send>,
        data: Option<alloc::boxed::Box<dyn TaskData>>,
        parent: u64,
    ) -> Result<(AgentId, u64), SpawnError> {
        self.admits_child(parent)?;
        let slot = self
            .agents
            .iter()
            .position(Option::is_none)
            .ok_or(SpawnError::TooManyAgents)?;
        let id = AgentId::new(slot).ok_or(SpawnError::TooManyAgents)?;
        let now = time::now_us();
        let mut short_name = String::new();
        for character in name.chars() {
            if short_name.len() + character.len_utf8() > super::agent::MAX_NAME_BYTES {
                break;
            }
            short_name.push(character);
        }
        let pid = self.next_pid;
        self.next_pid += 1;
        let tree = if self.kernel_parent(parent) {
            pid
        } else {
            self.live(parent).map_or(pid, |agent| agent.tree)
        };
        self.agents[slot] = Some(Agent {
            id,
            pid,
            parent,
            tree,
            data,
            name: short_name,
            class,
            state: AgentState::Runnable,
            saved_stack_pointer,
            stack,
            entry: Some(entry),
            runnable_since_us: now,
            ready_since_us: now,
            burst_cpu_us: 0,
            needs_arrival: false,
            block_deadline_us: None,
            stats: AgentStats::default(),
            progress: Progress::default(),
            kill_deferred: 0,
            doomed: false,
        });
        self.policy.arrive(id, class, now);
        if let Some(agent) = self.agents[slot].as_ref() {
            self.policy.set_group(id, share_group(agent));
        }
        self.counters.spawned += 1;
        Ok((id, pid))
    }

    /// Returns the live agent with id `pid`.
    fn live(&self, pid: u64) -> Option<&Agent> {
        self.agents()
            .find(|agent| agent.pid == pid && !matches!(agent.state, AgentState::Exited { .. }))
    }

    /// Returns whether a spawn with parent `parent` is the kernel's: parent
    /// 0 (the shell, boot code) or a kernel agent (one without task data).
    fn kernel_parent(&self, parent: u64) -> bool {
        parent == 0 || self.live(parent).is_some_and(|agent| agent.data.is_none())
    }

    /// Returns the top-level user agent of `pid`'s tree (`pid` itself when
    /// the kernel started it), or `None` for kernel agents. The tree is the
    /// one fixed at spawn ([`Agent::tree`]), even when agents between `pid`
    /// and the top have ended.
    pub fn tree_root(&self, pid: u64) -> Option<u64> {
        if self.kernel_parent(pid) {
            return None;
        }
        self.agents()
            .find(|agent| agent.pid == pid)
            .map(|agent| agent.tree)
    }

    /// Returns the live agents of the tree rooted at user agent `root`.
    pub fn tree_size(&self, root: u64) -> usize {
        self.agents()
            .filter(|agent| !matches!(agent.state, AgentState::Exited { .. }))
            .filter(|agent| agent.tree == root)
            .count()
    }

    /// Refuses a child of `parent` while `parent` is being killed or over
    /// its children, tree or free-slot budget.
    pub fn admits_child(&self, parent: u64) -> Result<(), SpawnError> {
        if self.live(parent).is_some_and(|agent| agent.doomed) {
            return Err(SpawnError::ParentEnding);
        }
        self.check_slot_budget(parent)
    }

    /// Refuses a user spawn over the children, tree or free-slot budget.
    fn check_slot_budget(&self, parent: u64) -> Result<(), SpawnError> {
        if self.kernel_parent(parent) {
            return Ok(());
        }
        let free = self.agents.iter().filter(|slot| slot.is_none()).count();
        if free <= RESERVED_SLOTS {
            return Err(SpawnError::OverBudget);
        }
        let children = self
            .agents()
            .filter(|agent| {
                agent.parent == parent && !matches!(agent.state, AgentState::Exited { .. })
            })
            .count();
        if children >= MAX_CHILDREN {
            return Err(SpawnError::OverBudget);
        }
        if let Some(root) = self.tree_root(parent)
            && self.tree_size(root) >= MAX_DESCENDANTS
        {
            return Err(SpawnError::OverBudget);
        }
        Ok(())
    }

    /// Returns the live descendants of `pid` (children before their own
    /// children), not `pid` itself. For the top of a user tree that is the
    /// whole tree, agents whose parent already ended included.
    pub fn descendants(&self, pid: u64) -> Vec<u64> {
        let mut found: Vec<u64> = Vec::new();
        let mut next = 0;
        let mut parent = pid;
        loop {
            for agent in self.agents() {
                if agent.parent == parent
                    && agent.pid != pid
                    && !matches!(agent.state, AgentState::Exited { .. })
                    && !found.contains(&agent.pid)
                {
                    found.push(agent.pid);
                }
            }
            match found.get(next) {
                Some(&child) => parent = child,
                None => break,
            }
            next += 1;
        }
        if self.tree_root(pid) == Some(pid) {
            for agent in self.agents() {
                if agent.tree == pid
                    && agent.pid != pid
                    && !matches!(agent.state, AgentState::Exited { .. })
                    && !found.contains(&agent.pid)
                {
                    found.push(agent.pid);
                }
            }
        }
        found
    }

    /// Returns the live descendants of `pid` (as [`Self::descendants`]) and
    /// marks them and `pid` doomed, all in one hold of the lock: none of
    /// them can spawn from now on, so a tree kill that ends them one by one
    /// leaves no child started meanwhile behind.
    pub fn doom_tree(&mut self, pid: u64) -> Result<Vec<u64>, KillError> {
        self.slot_of(pid).ok_or(KillError::NoSuchAgent)?;
        let descendants = self.descendants(pid);
        for agent in self.agents.iter_mut().flatten() {
            if agent.pid == pid || descendants.contains(&agent.pid) {
                agent.doomed = true;
            }
        }
        Ok(descendants)
    }

    /// Takes one dead agent to free (outside the lock).
    pub fn take_dead(&mut self) -> Option<Agent> {
        self.graveyard.pop()
    }

    /// Returns how many dead agents wait to be freed.
    pub fn dead_waiting(&self) -> usize {
        self.graveyard.len()
    }

    /// Moves the agent in `slot` out of the table into the graveyard (freed
    /// later, outside the lock), or frees it now when the graveyard is full.
    fn bury(&mut self, slot: usize) {
        if let Some(agent) = self.agents[slot].take() {
            if self.graveyard.len() < GRAVEYARD_CAPACITY {
                self.graveyard.push(agent);
            } else {
                drop(agent);
            }
        }
    }

    /// Takes the code the running agent should start with.
    pub fn take_current_entry(&mut self) -> Option<alloc::boxed::Box<dyn core::any::Any + Send>> {
        let id = self.current?;
        self.agent_mut(id)?.entry.take()
    }

    /// Returns a fresh event, or `None` when all are in use.
    pub fn new_event(&mut self) -> Option<EventId> {
        let free = (!self.events_in_use).trailing_zeros() as usize;
        if free >= MAX_EVENTS {
            return None;
        }
        self.events_in_use |= 1 << free;
        self.events[free] = 0;
        Some(EventId(free as u16))
    }

    /// Releases `event`.
    pub fn free_event(&mut self, event: EventId) {
        self.events_in_use &= !(1 << event.0);
    }

    /// Returns how often `event` was signalled.
    pub fn event_generation(&self, event: EventId) -> u64 {
        self.events.get(usize::from(event.0)).copied().unwrap_or(0)
    }

    /// Signals `event`: bumps its generation and wakes every agent blocked on it.
    pub fn signal(&mut self, event: EventId) -> usize {
        let Some(generation) = self.events.get_mut(usize::from(event.0)) else {
            return 0;
        };
        *generation += 1;
        let now = time::now_us();
        let mut woken = 0;
        for slot in 0..self.agents.len() {
            let blocked = matches!(
                self.agents[slot].as_ref().map(|agent| agent.state),
                Some(AgentState::Blocked { event: waited, .. }) if waited == event
            );
            if blocked {
                self.make_runnable(slot, now);
                woken += 1;
            }
        }
        woken
    }

    /// Signals `event` for agent `pid` only: bumps the generation (so the
    /// agent, if it is about to block on it, does not) and wakes `pid` if
    /// it is blocked on the event; the other agents blocked on it stay
    /// blocked. Returns whether `pid` woke.
    pub fn signal_agent(&mut self, event: EventId, pid: u64) -> bool {
        let Some(generation) = self.events.get_mut(usize::from(event.0)) else {
            return false;
        };
        *generation += 1;
        let slot = self.agents.iter().position(|agent| {
            agent.as_ref().is_some_and(|agent| {
                agent.pid == pid
                    && matches!(agent.state, AgentState::Blocked { event: waited, .. } if waited == event)
            })
        });
        match slot {
            Some(slot) => {
                self.make_runnable(slot, time::now_us());
                true
            }
            None => false,
        }
    }

    /// Records that the running agent met or missed a deadline.
    pub fn report_deadline(&mut self, met: bool) {
        if let Some(id) = self.current
            && let Some(agent) = self.agent_mut(id)
        {
            if met {
                agent.stats.deadlines_met += 1;
            } else {
                agent.stats.deadline_misses += 1;
            }
        }
    }

    /// Sets the running agent's learning objective (replacing any earlier
    /// one) and tells the policy where it stands.
    pub fn declare_objective(&mut self, objective: Objective, now: u64) -> bool {
        let Some(id) = self.current else {
            return false;
        };
        let Some(agent) = self.agent_mut(id) else {
            return false;
        };
        agent.progress.objective = Some(ObjectiveTracker::new(objective, now));
        agent.progress.status = None;
        agent.progress.logged_status = None;
        self.refresh_objective(id, now);
        true
    }

    /// Records a training loss (× `LOSS_ONE`) the running agent reports.
    pub fn report_loss(&mut self, loss: u64, now: u64) {
        let Some(id) = self.current else {
            return;
        };
        if let Some(agent) = self.agent_mut(id) {
            agent.progress.loss = Some(loss);
            if let Some(tracker) = agent.progress.objective.as_mut() {
                tracker.report_loss(loss, now);
            }
        }
        self.refresh_objective(id, now);
    }

    /// Records an accuracy (`correct` of `total`) the running agent reports.
    pub fn report_accuracy(&mut self, correct: u64, total: u64) {
        if let Some(id) = self.current
            && let Some(agent) = self.agent_mut(id)
        {
            agent.progress.accuracy = Some((correct, total));
        }
    }

    /// Notes that the running agent starts an IPC `call` at `now`: the
    /// start of the request its server's latency objective is measured by.
    pub fn note_call_start(&mut self, now: u64) {
        if let Some(id) = self.current
            && let Some(agent) = self.agent_mut(id)
        {
            agent.progress.call_started_us = Some(now);
        }
    }

    /// Takes the start of the call agent `caller` waits in, if noted.
    pub fn take_call_start(&mut self, caller: u64) -> Option<u64> {
        self.agents
            .iter_mut()
            .flatten()
            .find(|agent| agent.pid == caller)
            .and_then(|agent| agent.progress.call_started_us.take())
    }

    /// Records that the running agent answered at `now` a call that
    /// started at `started`: the request's latency counts against the
    /// server's latency objective, and the policy hears of it.
    pub fn request_served(&mut self, started: u64, now: u64) {
        let Some(id) = self.current else {
            return;
        };
        let Some(tracker) = self
            .agent_mut(id)
            .and_then(|agent| agent.progress.objective.as_mut())
        else {
            return;
        };
        let met = tracker.request(now.saturating_sub(started));
        self.policy
            .objective(id, ObjectiveSignal::RequestServed { met }, now);
        self.refresh_objective(id, now);
    }

    /// Tells the policy (and the log, at most once a second per agent)
    /// when `id`'s objective status changed.
    fn refresh_objective(&mut self, id: AgentId, now: u64) {
        let Some(agent) = self.agents[id.index()].as_mut() else {
            return;
        };
        let Some(tracker) = agent.progress.objective else {
            return;
        };
        if agent.progress.status.is_none() {
            // Newly declared, or a new policy: it hears the objective first.
            self.policy
                .objective(id, ObjectiveSignal::Declared(tracker.objective()), now);
        }
        let Some(agent) = self.agents[id.index()].as_mut() else {
            return;
        };
        let status = tracker.status(now);
        let changed = agent.progress.status != Some(status);
        // The log names the status it last showed; a change within a
        // second of the last line waits for the next look after that.
        let log_due = agent
            .progress
            .logged_us
            .is_none_or(|logged| now.saturating_sub(logged) >= OBJECTIVE_LOG_INTERVAL_US);
        if log_due && agent.progress.logged_status != Some(status) {
            agent.progress.logged_us = Some(now);
            agent.progress.logged_status = Some(status);
            log::info!(
                "objective: {} (agent {}) {}: {} ({}.{}% done)",
                agent.name,
                agent.pid,
                super::ObjectiveText(tracker.objective(), tracker.declared_us()),
                status.label(),
                tracker.progress_permille() / 10,
                tracker.progress_permille() % 10,
            );
        }
        if !changed {
            return;
        }
        agent.progress.status = Some(status);
        self.policy.objective(id, tracker.signal(now), now);
    }

    /// Keeps (and logs) the final progress of agent `id`, which ends with
    /// `status`, if it declared an objective or reported figures.
    fn record_progress(&mut self, id: AgentId, status: i64) {
        let now = time::now_us();
        let Some(agent) = self.agents[id.index()].as_ref() else {
            return;
        };
        let progress = super::snapshot::progress(&agent.progress, now);
        if progress.is_empty() {
            return;
        }
        if let Some((objective, declared_us)) = progress.objective {
            let (served, met) = progress.requests;
            let (last_us, worst_us) = progress.latencies_us;
            let head = format_args!(
                "objective: {} (agent {}) ended, {}: {} ({}.{}% done",
                agent.name,
                agent.pid,
                super::ObjectiveText(objective, declared_us),
                progress.status.map_or("-", |status| status.label()),
                progress.progress_permille / 10,
                progress.progress_permille % 10,
            );
            match (objective, progress.loss) {
                (Objective::Latency { .. }, _) => log::info!(
                    "{head}; {met}/{served} requests in target, last {last_us} us, worst {worst_us} us)"
                ),
                (Objective::Loss { .. }, Some(loss)) => log::info!(
                    "{head}; last loss {}.{:06})",
                    loss / sched_rl::objective::LOSS_ONE,
                    loss % sched_rl::objective::LOSS_ONE
                ),
                (Objective::Loss { .. }, None) => log::info!("{head}; no loss reported)"),
            }
        }
        let mut name = [0; MAX_NAME_BYTES];
        let name_length = agent.name.len().min(MAX_NAME_BYTES);
        name[..name_length].copy_from_slice(&agent.name.as_bytes()[..name_length]);
        if self.finished.len() == MAX_FINISHED_PROGRESS {
            self.finished.remove(0);
        }
        // Within the capacity reserved at start: no allocation under the lock.
        self.finished.push(FinishedProgress {
            pid: agent.pid,
            name,
            name_length,
            status,
            progress,
        });
    }

    /// Returns the progress of the last agents that ended with any (oldest first).
    pub fn finished_progress(&self) -> &[FinishedProgress] {
        &self.finished
    }

    /// Replaces the policy; agents blocked now are introduced to it when they wake.
    pub fn replace_policy(&mut self, policy: KernelPolicy) {
        self.policy = super::policy::guard(policy);
        self.counters.fallbacks = 0;
        let now = time::now_us();
        for agent in self.agents.iter_mut().flatten() {
            match agent.state {
                AgentState::Runnable | AgentState::Running => {
                    self.policy.arrive(agent.id, agent.class, now);
                    agent.needs_arrival = false;
                }
                AgentState::Sleeping { .. } | AgentState::Blocked { .. } => {
                    agent.needs_arrival = true
                }
                AgentState::Exited { .. } => continue,
            }
            self.policy.set_group(agent.id, share_group(agent));
            // The new policy hears the objective's status when the agent
            // next stops (after its arrival).
            agent.progress.status = None;
        }
        // The running agent keeps running, but the new policy did not
        // dispatch it: its current stint is not reported to the policy.
        self.current_from_policy = false;
    }

    /// Forgets every statistic (agents' and the manager's histograms).
    pub fn reset_statistics(&mut self) {
        for agent in self.agents.iter_mut().flatten() {
            agent.stats = AgentStats::default();
        }
        self.decision_cycles.clear();
        self.switch_cycles.clear();
        self.vector_cycles.clear();
    }

    fn make_runnable(&mut self, slot: usize, now: u64) {
        let Some(agent) = self.agents[slot].as_mut() else {
            return;
        };
        agent.state = AgentState::Runnable;
        agent.runnable_since_us = now;
        agent.ready_since_us = now;
        agent.burst_cpu_us = 0;
        let (id, class) = (agent.id, agent.class);
        if core::mem::take(&mut agent.needs_arrival) {
            self.policy.arrive(id, class, now);
        } else {
            self.policy.wake(id, now);
        }
    }

    fn reap(&mut self) {
        if let Some(id) = self.pending_reap.take()
            && Some(id) != self.current
        {
            // Its stack, name, statistics and data are freed outside the
            // lock by `bury_the_dead`.
            self.bury(id.index());
        }
    }

    /// Wakes sleepers, and agents blocked with a deadline, whose time came.
    fn wake_sleepers(&mut self, now: u64) {
        for slot in 0..self.agents.len() {
            let due = match self.agents[slot].as_ref().map(|agent| agent.state) {
                Some(AgentState::Sleeping { until_us }) => until_us <= now,
                Some(AgentState::Blocked {
                    until_us: Some(until_us),
                    ..
                }) => until_us <= now,
                _ => false,
            };
            if due {
                self.make_runnable(slot, now);
            }
        }
    }

    /// Stores the deadline of the running agent's next timed block.
    pub fn set_block_deadline(&mut self, until_us: Option<u64>) {
        if let Some(id) = self.current
            && let Some(agent) = self.agent_mut(id)
        {
            agent.block_deadline_us = until_us;
        }
    }

    /// Takes the deadline the running agent stored for its timed block.
    pub fn take_block_deadline(&mut self) -> Option<u64> {
        let id = self.current?;
        self.agent_mut(id)?.block_deadline_us.take()
    }

    /// Ends the running agent's stint with `reason` and tells the policy.
    fn stop_current(&mut self, reason: StopReason, now: u64) {
        let Some(id) = self.current else {
            return;
        };
        let ran_for = now.saturating_sub(self.dispatched_at_us);
        let Some(agent) = self.agents[id.index()].as_mut() else {
            return;
        };
        agent.stats.cpu_time_us += ran_for;
        agent.burst_cpu_us += ran_for;
        if !matches!(reason, StopReason::Preempted) {
            let response = now.saturating_sub(agent.runnable_since_us);
            agent.stats.response_us.record(response);
            agent.stats.push_burst(agent.burst_cpu_us);
            agent.burst_cpu_us = 0;
            agent.runnable_since_us = now;
        }
        agent.ready_since_us = now;
        if agent.state == AgentState::Running {
            agent.state = AgentState::Runnable;
        }
        if !core::mem::replace(&mut self.current_from_policy, true) {
            self.dispatched_at_us = now;
            return;
        }
        let reward_before = self.policy.stats().total_reward.raw();
        let cycles_before = cpu::read_timestamp_counter();
        self.policy.result(id, ran_for, reason, now);
        self.feedback_cycles = cpu::read_timestamp_counter().wrapping_sub(cycles_before);
        let reward = self.policy.stats().total_reward.raw() - reward_before;
        if let Some(agent) = self.agents[id.index()].as_mut() {
            agent.stats.reward += reward;
        }
        // A loss objective's lag grows with time alone (and its deadline
        // passes): look again whenever its agent stops.
        self.refresh_objective(id, now);
        self.dispatched_at_us = now;
    }

    /// Saves `stack_pointer` as the running context, asks the policy for the
    /// next agent and returns the stack pointer to resume.
    fn decide(&mut self, stack_pointer: u64, now: u64, entry_cycles: u64) -> u64 {
        let previous = self.current;
        match previous.and_then(|id| self.agents[id.index()].as_mut()) {
            Some(agent) => agent.saved_stack_pointer = stack_pointer,
            None => self.idle_stack_pointer = stack_pointer,
        }

        let cycles_before = cpu::read_timestamp_counter();
        let mut pick = self.policy.next(now);
        let decision = cpu::read_timestamp_counter().wrapping_sub(cycles_before);
        self.decision_cycles
            .record(decision + core::mem::take(&mut self.feedback_cycles));
        self.note_fallbacks();

        if let Some(id) = pick {
            let runnable = matches!(
                self.agents
                    .get(id.index())
                    .and_then(Option::as_ref)
                    .map(|agent| agent.state),
                Some(AgentState::Runnable | AgentState::Running)
            );
            if !runnable {
                self.counters.refused_decisions += 1;
                pick = None;
            }
        }

        if let Some(id) = previous
            && pick != previous
            && let Some(agent) = self.agents[id.index()].as_mut()
            && agent.state == AgentState::Running
        {
            agent.state = AgentState::Runnable;
        }
        self.current = pick;
        self.dispatched_at_us = now;
        let next_stack_pointer = match pick.and_then(|id| self.agents[id.index()].as_mut()) {
            Some(agent) => {
                if agent.state == AgentState::Runnable {
                    let waited = now.saturating_sub(agent.ready_since_us);
                    agent.stats.wait_time_us += waited;
                    agent.stats.longest_wait_us = agent.stats.longest_wait_us.max(waited);
                    agent.state = AgentState::Running;
                }
                if pick != previous {
                    agent.stats.runs += 1;
                }
                agent.saved_stack_pointer
            }
            None => self.idle_stack_pointer,
        };
        if pick != previous {
            self.enter_address_space(pick);
            self.hand_over_vector_state(pick);
            self.counters.switches += 1;
            self.switch_cycles
                .record(cpu::read_timestamp_counter().wrapping_sub(entry_cycles));
        }
        next_stack_pointer
    }

    /// Gives the vector registers to `pick` if it is a user agent that does
    /// not hold them: the owner's values go to its save area (unless it
    /// ended), `pick`'s are loaded. Kernel agents and idle never touch the
    /// registers, so switching to them moves nothing (the owner keeps its
    /// values in the CPU until another user agent runs).
    fn hand_over_vector_state(&mut self, pick: Option<AgentId>) {
        let Some(id) = pick else {
            return;
        };
        let Some(pid) = self.agents[id.index()].as_ref().map(|agent| agent.pid) else {
            return;
        };
        if self.vector_owner == Some((id, pid)) || self.vector_state_of(id, pid).is_none() {
            return;
        }
        let start = cpu::read_timestamp_counter();
        if let Some((owner, owner_pid)) = self.vector_owner
            && let Some(state) = self.vector_state_of(owner, owner_pid)
        {
            state.save();
        }
        if let Some(state) = self.vector_state_of(id, pid) {
            state.restore();
        }
        self.vector_owner = Some((id, pid));
        self.counters.vector_switches += 1;
        self.vector_cycles
            .record(cpu::read_timestamp_counter().wrapping_sub(start));
    }

    /// Saves the live vector registers into their owner's area, before
    /// kernel code uses the unit ([`super::with_kernel_vector`]).
    pub fn save_live_vector(&mut self) {
        if let Some((owner, pid)) = self.vector_owner
            && let Some(state) = self.vector_state_of(owner, pid)
        {
            state.save();
        }
    }

    /// Gives the live owner its vector registers back after kernel code
    /// used the unit.
    pub fn restore_live_vector(&mut self) {
        if let Some((owner, pid)) = self.vector_owner
            && let Some(state) = self.vector_state_of(owner, pid)
        {
            state.restore();
        }
    }

    /// Returns the vector save area of agent `id` if it is still agent
    /// `pid` (its slot may hold a newer agent), has not exited, and has one.
    fn vector_state_of(&mut self, id: AgentId, pid: u64) -> Option<&mut VectorState> {
        let agent = self.agents[id.index()].as_mut()?;
        if agent.pid != pid || matches!(agent.state, AgentState::Exited { .. }) {
            return None;
        }
        agent.data.as_deref_mut()?.vector_state()
    }

    /// Activates the address space and ring-0 stack of `pick`.
    fn enter_address_space(&self, pick: Option<AgentId>) {
        match pick.and_then(|id| self.agents[id.index()].as_ref()) {
            Some(agent) => {
                crate::arch::set_kernel_stack(agent.stack.top());
                match agent.data.as_ref().and_then(|data| data.address_space()) {
                    Some(space) => space.activate(),
                    None => crate::memory::paging::activate_kernel_root(),
                }
            }
            None => crate::memory::paging::activate_kernel_root(),
        }
    }

    /// Returns what `caller` waiting for its child `child` finds.
    pub fn child_state(&mut self, caller: u64, child: u64) -> ChildState {
        if let Some(index) = self
            .exit_notes
            .iter()
            .position(|note| note.pid == child && note.parent == caller)
        {
            return ChildState::Exited(self.exit_notes.remove(index).status);
        }
        let running = self.agents().any(|agent| {
            agent.pid == child
                && agent.parent == caller
                && !matches!(agent.state, AgentState::Exited { .. })
        });
        if running {
            ChildState::Running(self.exit_event, self.event_generation(self.exit_event))
        } else {
            ChildState::NotChild
        }
    }

    /// Returns the running agent's data (see [`TaskData`]).
    pub fn current_data(&mut self) -> Option<&mut dyn TaskData> {
        let id = self.current?;
        self.agents[id.index()].as_mut()?.data.as_deref_mut()
    }

    /// Returns the running agent's id and name.
    pub fn current_identity(&self) -> (u64, String) {
        self.current
            .and_then(|id| self.agents[id.index()].as_ref())
            .map_or((0, String::from("idle")), |agent| {
                (agent.pid, agent.name.clone())
            })
    }

    /// Returns the slot of the agent with boot-unique id `pid`.
    pub fn slot_of(&self, pid: u64) -> Option<AgentId> {
        self.agents()
            .find(|agent| agent.pid == pid && !matches!(agent.state, AgentState::Exited { .. }))
            .map(|agent| agent.id)
    }

    fn note_fallbacks(&mut self) {
        let stats = self.policy.stats();
        if stats.fallbacks > self.counters.fallbacks {
            self.counters.fallbacks = stats.fallbacks;
            log::warn!(
                "scheduler watchdog: policy replaced by round robin ({:?}); fallback #{}",
                self.policy.inner().fallback_reason(),
                stats.fallbacks
            );
        }
    }

    /// Handles a timer tick; returns the stack pointer to resume.
    pub fn on_tick(&mut self, stack_pointer: u64) -> u64 {
        if !self.started {
            return stack_pointer;
        }
        let entry_cycles = cpu::read_timestamp_counter();
        let now = time::now_us();
        self.reap();
        self.wake_sleepers(now);
        self.stop_current(StopReason::Preempted, now);
        self.decide(stack_pointer, now, entry_cycles)
    }

    /// Handles an agent's (or idle's) request; returns the stack pointer to resume.
    pub fn on_request(&mut self, stack_pointer: u64, request: Request) -> u64 {
        let entry_cycles = cpu::read_timestamp_counter();
        let now = time::now_us();
        self.reap();
        let Some(id) = self.current else {
            // Idle asks to look for work; the first time, this starts the
            // scheduler. Before that, requests come from the boot flow,
            // which keeps running.
            if !self.started && request != Request::Yield {
                return stack_pointer;
            }
            self.started = true;
            return self.decide(stack_pointer, now, entry_cycles);
        };
        let reason = match request {
            Request::Yield => StopReason::Yielded,
            Request::SleepUntil(until_us) if until_us <= now => StopReason::Yielded,
            Request::SleepUntil(until_us) => {
                self.set_state(id, AgentState::Sleeping { until_us });
                StopReason::Blocked(BlockKind::Sleep)
            }
            Request::Block(event, seen) | Request::BlockUntil(event, seen, None) => {
                if self.event_generation(event) != seen {
                    // Signalled since the caller looked: do not block.
                    return stack_pointer;
                }
                self.set_state(
                    id,
                    AgentState::Blocked {
                        event,
                        until_us: None,
                    },
                );
                StopReason::Blocked(BlockKind::Io)
            }
            Request::BlockUntil(event, seen, Some(until_us)) => {
                if self.event_generation(event) != seen || until_us <= now {
                    // Signalled since the caller looked, or the deadline
                    // passed: do not block.
                    return stack_pointer;
                }
                self.set_state(
                    id,
                    AgentState::Blocked {
                        event,
                        until_us: Some(until_us),
                    },
                );
                StopReason::Blocked(BlockKind::Io)
            }
            Request::Exit(status) => {
                self.record_exit(id, status);
                self.pending_reap = Some(id);
                StopReason::Exited
            }
        };
        self.stop_current(reason, now);
        self.decide(stack_pointer, now, entry_cycles)
    }

    /// Marks `id` exited with `status`: failure record, exit note for its
    /// parent, counters, and a signal to agents waiting for children.
    fn record_exit(&mut self, id: AgentId, status: i64) {
        self.record_progress(id, status);
        if let Some(agent) = self.agents[id.index()].as_ref()
            && status != 0
        {
            let mut name = [0; MAX_NAME_BYTES];
            let name_length = agent.name.len().min(MAX_NAME_BYTES);
            name[..name_length].copy_from_slice(&agent.name.as_bytes()[..name_length]);
            self.failures[self.next_failure] = Some(ExitRecord {
                name,
                name_length,
                status,
            });
            self.next_failure = (self.next_failure + 1) % MAX_REMEMBERED_FAILURES;
        }
        if let Some(agent) = self.agents[id.index()].as_ref() {
            let note = ExitNote {
                pid: agent.pid,
                parent: agent.parent,
                status,
            };
            let pid = agent.pid;
            // Its own children's notes go with it: nobody can wait for them.
            self.exit_notes.retain(|kept| kept.parent != pid);
            if note.parent == 0 || self.live(note.parent).is_some() {
                let siblings = self
                    .exit_notes
                    .iter()
                    .filter(|kept| kept.parent == note.parent)
                    .count();
                if siblings >= MAX_EXIT_NOTES_PER_PARENT
                    && let Some(oldest) = self
                        .exit_notes
                        .iter()
                        .position(|kept| kept.parent == note.parent)
                {
                    self.exit_notes.remove(oldest);
                }
                self.exit_notes.push(note);
            }
        }
        self.set_state(id, AgentState::Exited { status });
        self.counters.exited += 1;
        self.signal(self.exit_event);
    }

    /// Ends agent `pid`, which is not the running agent, with `status`.
    ///
    /// The policy is told with `remove` (whatever state it knows the agent
    /// in), and the agent leaves the table at once: its stack is not in use
    /// (only the running agent's is). Its memory (stack, a user agent's
    /// process) goes to the graveyard, freed by [`super::bury_the_dead`]
    /// with interrupts enabled.
    pub fn kill(&mut self, pid: u64, status: i64) -> Result<KillOutcome, KillError> {
        let id = self.slot_of(pid).ok_or(KillError::NoSuchAgent)?;
        if Some(id) == self.current {
            return Ok(KillOutcome::IsCurrent);
        }
        let agent = self.agents[id.index()]
            .as_mut()
            .ok_or(KillError::NoSuchAgent)?;
        if agent.kill_deferred > 0 {
            agent.doomed = true;
            return Ok(KillOutcome::Deferred);
        }
        let needs_arrival = agent.needs_arrival;
        self.record_exit(id, status);
        if !needs_arrival {
            self.policy.remove(id);
        }
        self.bury(id.index());
        Ok(KillOutcome::Killed)
    }

    /// Enters (`deferred`) or leaves an operation of the running agent that
    /// defers kills (they nest); returns, when leaving the outermost one,
    /// whether the agent is doomed (and forgets it: the caller ends it).
    pub fn defer_kills(&mut self, deferred: bool) -> bool {
        let Some(agent) = self.current.and_then(|id| self.agent_mut(id)) else {
            return false;
        };
        if deferred {
            agent.kill_deferred = agent.kill_deferred.saturating_add(1);
            return false;
        }
        agent.kill_deferred = agent.kill_deferred.saturating_sub(1);
        agent.kill_deferred == 0 && core::mem::take(&mut agent.doomed)
    }

    fn set_state(&mut self, id: AgentId, state: AgentState) {
        if let Some(agent) = self.agents[id.index()].as_mut() {
            agent.state = state;
        }
    }
}

/// The share-guard group of `agent`: its tree for a user agent, none for a
/// kernel agent (never held back).
fn share_group(agent: &Agent) -> Option<u64> {
    agent.data.is_some().then_some(agent.tree)
}
