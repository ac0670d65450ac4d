//! Agents as first-class tasks: spawning, switching and the policy's decisions.
//!
//! An agent is a kernel task with its own stack (guard page below), saved
//! registers, a state and statistics ([`agent`]). The [`manager`] keeps the
//! table; on every timer interrupt it reports what the running agent did to
//! the `sched-rl` policy, asks the policy who runs next, and switches. The
//! policy sits behind `sched-rl`'s watchdog, which falls back to round robin
//! when a runnable agent waits longer than its bound or the policy misbehaves.
//!
//! Agents call [`yield_now`], [`sleep_us`], [`wait`] (or [`wait_until`],
//! which also wakes at a deadline) and [`exit`]; each goes
//! through the switch vector (`int 0x81`), so the state change and the switch
//! happen atomically inside one interrupt handler.
//!
//! Time: all durations are microseconds of the TSC clock ([`crate::time::now_us`]).
//! A sleep wakes no earlier than asked: sleepers (and agents blocked with a
//! deadline) are checked on every tick, so an agent wakes at most one tick
//! (1 ms) late plus the time the policy makes it wait once runnable (bounded
//! by the watchdog's bound).

pub mod agent;
pub mod histogram;
pub mod manager;
pub mod policy;
pub mod snapshot;
pub mod status;

use alloc::boxed::Box;

use sched_rl::{AgentId, ClassHint, Scheduler, SchedulerStats};
use spin::Mutex;

use crate::{
    arch::{cpu, switch},
    memory::stack::{KernelStack, StackError},
};
pub use agent::TaskData;
use manager::{Manager, Request};
pub use policy::{KernelPolicy, by_name as policy_by_name};

/// Events (wait/signal objects) available at once.
pub const MAX_EVENTS: usize = 64;

/// A wait/signal object: agents block on it until it is signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId(pub(crate) u16);

/// Why an agent could not be spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// The task manager was not started.
    NotStarted,
    /// All agent slots are taken.
    TooManyAgents,
    /// No stack could be made.
    Stack(StackError),
    /// A user parent is over its children or tree budget, or only the
    /// reserved slots are free ([`manager::MAX_CHILDREN`],
    /// [`manager::MAX_DESCENDANTS`], [`manager::RESERVED_SLOTS`]).
    OverBudget,
    /// The parent is being killed.
    ParentEnding,
}

static MANAGER: Mutex<Option<Manager>> = Mutex::new(None);

/// Encodings of [`Request`] in the switch vector's registers.
const REQUEST_YIELD: u64 = 0;
const REQUEST_SLEEP_UNTIL: u64 = 1;
const REQUEST_BLOCK: u64 = 2;
const REQUEST_EXIT: u64 = 3;
const REQUEST_BLOCK_UNTIL: u64 = 4;
/// Bits of a block request's argument that carry the event index.
const BLOCK_EVENT_BITS: u32 = 16;

#[track_caller]
fn with_manager<R>(action: impl FnOnce(&mut Manager) -> R) -> Option<R> {
    cpu::without_interrupts(|| MANAGER.lock().as_mut().map(action))
}

/// Creates the task manager with `policy`. Agents can be spawned afterwards;
/// they run once the boot flow calls [`run`].
pub fn init(policy: KernelPolicy) {
    let manager = Manager::new(policy);
    cpu::without_interrupts(|| *MANAGER.lock() = Some(manager));
}

/// Turns the calling boot flow into the idle agent and starts scheduling.
pub fn run() -> ! {
    switch::request_switch(REQUEST_YIELD, 0);
    loop {
        bury_the_dead();
        cpu::enable_interrupts_and_halt();
    }
}

/// Spawns an agent called `name` that runs `entry`, then exits with status 0.
pub fn spawn<F: FnOnce() + Send + 'static>(
    name: &str,
    class: ClassHint,
    entry: F,
) -> Result<AgentId, SpawnError> {
    let parent = current_pid();
    spawn_inner(name, class, entry, None, parent).map(|(id, _)| id)
}

/// Spawns a kernel service agent called `name`: like [`spawn`], but its
/// parent is the kernel (id 0) whoever starts it, so it never counts against
/// a user tree's budgets and a tree kill never ends it.
pub fn spawn_service<F: FnOnce() + Send + 'static>(
    name: &str,
    class: ClassHint,
    entry: F,
) -> Result<AgentId, SpawnError> {
    spawn_inner(name, class, entry, None, 0).map(|(id, _)| id)
}

/// Spawns an agent that carries `data` (a user agent's process): `entry`
/// runs on its kernel stack with the data's address space active. Returns
/// its boot-unique id.
pub fn spawn_with_data<F: FnOnce() + Send + 'static>(
    name: &str,
    class: ClassHint,
    data: Box<dyn TaskData>,
    parent: u64,
    entry: F,
) -> Result<u64, SpawnError> {
    spawn_inner(name, class, entry, Some(data), parent).map(|(_, pid)| pid)
}

fn spawn_inner<F: FnOnce() + Send + 'static>(
    name: &str,
    class: ClassHint,
    entry: F,
    data: Option<Box<dyn TaskData>>,
    parent: u64,
) -> Result<(AgentId, u64), SpawnError> {
    bury_the_dead();
    let stack = KernelStack::new().map_err(SpawnError::Stack)?;
    let (stack, stack_pointer) = switch::prepare_stack(stack, agent_start::<F>);
    with_manager(|manager| {
        manager.add(
            name,
            class,
            stack,
            stack_pointer,
            Box::new(entry),
            data,
            parent,
        )
    })
    .unwrap_or(Err(SpawnError::NotStarted))
}

/// Returns whether `parent` may start a child now (see
/// [`SpawnError::OverBudget`] and [`SpawnError::ParentEnding`]): a cheap
/// check before the costly part of a spawn; the spawn itself checks again.
pub fn check_spawn(parent: u64) -> Result<(), SpawnError> {
    with_manager(|manager| manager.admits_child(parent)).unwrap_or(Err(SpawnError::NotStarted))
}

/// Returns the running agent's boot-unique id (0 for idle or the boot flow).
pub fn current_pid() -> u64 {
    with_manager(|manager| manager.current_identity().0).unwrap_or(0)
}

/// Returns the running agent's id and name.
pub fn current_identity() -> (u64, alloc::string::String) {
    with_manager(|manager| manager.current_identity())
        .unwrap_or((0, alloc::string::String::from("boot")))
}

/// Runs `action` on the running agent's data if it is a `T`, with
/// interrupts disabled (keep it short). `None` for agents without data or
/// with data of another type.
pub fn with_current_data<T: TaskData, R>(action: impl FnOnce(&mut T) -> R) -> Option<R> {
    with_manager(|manager| {
        let data: &mut dyn core::any::Any = manager.current_data()?;
        data.downcast_mut::<T>().map(action)
    })
    .flatten()
}

/// Most exit observers that can be registered.
const MAX_EXIT_OBSERVERS: usize = 8;

/// Told the boot-unique id of every agent that ends, however it ends.
///
/// Runs after the agent is marked exited (or, when it ends itself, just
/// before it switches away for good), with interrupts enabled and no task
/// lock held, so it may take its own locks and wake other agents.
pub type ExitObserver = fn(pid: u64);

static EXIT_OBSERVERS: Mutex<[Option<ExitObserver>; MAX_EXIT_OBSERVERS]> =
    Mutex::new([None; MAX_EXIT_OBSERVERS]);

/// Why an exit observer was not registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyObservers;

/// Registers `observer` to hear of every agent's end (exit, fault, kill):
/// the one path on which the layers above release what they hold for it.
pub fn on_agent_exit(observer: ExitObserver) -> Result<(), TooManyObservers> {
    cpu::without_interrupts(|| {
        let mut observers = EXIT_OBSERVERS.lock();
        if observers
            .iter()
            .flatten()
            .any(|known| core::ptr::fn_addr_eq(*known, observer))
        {
            return Ok(());
        }
        let free = observers
            .iter_mut()
            .find(|slot| slot.is_none())
            .ok_or(TooManyObservers)?;
        *free = Some(observer);
        Ok(())
    })
}

/// Tells every exit observer that agent `pid` ended.
fn notify_exit(pid: u64) {
    let observers = cpu::without_interrupts(|| *EXIT_OBSERVERS.lock());
    for observer in observers.into_iter().flatten() {
        observer(pid);
    }
}

/// Waits until the caller's child `child` exits; returns its status, or
/// `None` if `child` is not a child of the caller.
pub fn wait_child(child: u64) -> Option<i64> {
    wait_child_until(child, None).ok()
}

/// Why [`wait_child_until`] returned without a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitChildError {
    /// `child` is not a child of the caller (or its status was taken).
    NotChild,
    /// The deadline came first; the child's status stays for a later wait.
    TimedOut,
}

/// Waits until the caller's child `child` exits or the microsecond clock
/// reaches `deadline_us` (`None`: no deadline); returns its status.
pub fn wait_child_until(child: u64, deadline_us: Option<u64>) -> Result<i64, WaitChildError> {
    let caller = current_pid();
    loop {
        bury_the_dead();
        let state = with_manager(|manager| manager.child_state(caller, child))
            .ok_or(WaitChildError::NotChild)?;
        match state {
            manager::ChildState::Exited(status) => return Ok(status),
            manager::ChildState::NotChild => return Err(WaitChildError::NotChild),
            manager::ChildState::Running(event, generation) => {
                if deadline_us.is_some_and(|deadline| crate::time::now_us() >= deadline) {
                    return Err(WaitChildError::TimedOut);
                }
                wait_until(event, generation, deadline_us);
            }
        }
    }
}

/// First code an agent runs. Generic over the entry's type so the closure
/// is moved out of its box (freeing the box) before it runs: an agent that
/// ends with [`exit`] from inside the closure leaks nothing the kernel owns.
extern "C" fn agent_start<F: FnOnce() + Send + 'static>() -> ! {
    let entry = with_manager(Manager::take_current_entry)
        .flatten()
        .and_then(|entry| entry.downcast::<F>().ok());
    if let Some(boxed) = entry {
        // The block ends the box's scope, so it is freed before `entry` runs
        // (a moved-out box is otherwise freed only at the end of its scope).
        let entry: F = {
            let boxed = boxed;
            *boxed
        };
        entry();
    }
    exit(0)
}

/// Exit status of an agent ended by [`kill`].
pub const KILLED_STATUS: i64 = -9;

/// Ends agent `pid` with [`KILLED_STATUS`] (the caller itself included:
/// then this does not return). The exit observers hear of it. An agent
/// inside an operation that defers kills ([`with_kill_deferred`]) ends
/// itself as soon as that operation returns.
pub fn kill(pid: u64) -> Result<(), manager::KillError> {
    let outcome = with_manager(|manager| manager.kill(pid, KILLED_STATUS))
        .unwrap_or(Err(manager::KillError::NotStarted))?;
    match outcome {
        manager::KillOutcome::Killed => {
            notify_exit(pid);
            bury_the_dead();
            Ok(())
        }
        manager::KillOutcome::IsCurrent => exit(KILLED_STATUS),
        // It ends itself when its operation does (and its observers hear
        // of it then).
        manager::KillOutcome::Deferred => Ok(()),
    }
}

/// Runs `action` for the calling agent with kills of it deferred until
/// `action` returns: for kernel work that owns heap memory, frames or a
/// stack slot only through its own stack frames (a spawn, a log line),
/// which a kill in the middle would leak, since an ended agent's stack is
/// freed without unwinding. `action` must not block (a kill would wait for
/// it); such sections nest. If a kill came meanwhile, the result is dropped and the agent exits
/// with [`KILLED_STATUS`] (a doomed agent cannot spawn, so a spawn the kill
/// interrupted starts no child).
pub fn with_kill_deferred<R>(action: impl FnOnce() -> R) -> R {
    let deferral = defer_kills();
    let result = action();
    if deferral.end() {
        drop(result);
        exit(KILLED_STATUS);
    }
    result
}

/// Defers kills of the calling agent while the returned guard lives, the
/// form of [`with_kill_deferred`] for kernel memory held across calls (the
/// CPU-route buffer of an accelerator copy): dropping the guard ends the
/// agent with [`KILLED_STATUS`] if a kill came meanwhile, so it must be the
/// last thing its holder drops. The holder must not block while it lives,
/// and only the agent that took it may drop it (it is neither `Send` nor
/// `Sync`).
pub fn defer_kills() -> KillDeferral {
    with_manager(|manager| manager.defer_kills(true));
    KillDeferral {
        _agent_bound: core::marker::PhantomData,
    }
}

/// See [`defer_kills`].
#[derive(Debug)]
pub struct KillDeferral {
    _agent_bound: core::marker::PhantomData<*const ()>,
}

impl KillDeferral {
    /// Leaves the deferral; whether a kill came meanwhile (the caller ends
    /// the agent).
    fn end(self) -> bool {
        let doomed = with_manager(|manager| manager.defer_kills(false)) == Some(true);
        core::mem::forget(self);
        doomed
    }
}

impl Drop for KillDeferral {
    fn drop(&mut self) {
        if with_manager(|manager| manager.defer_kills(false)) == Some(true) {
            exit(KILLED_STATUS);
        }
    }
}

/// Ends agent `pid` and every live descendant with [`KILLED_STATUS`]
/// (descendants first, so none is re-parented or survives); the exit
/// observers hear of each. The whole tree is first marked doomed at once,
/// so none of its agents can start a child while the others are ended.
/// The caller itself, if in the tree, ends last (then this does not
/// return). Returns how many agents were ended.
pub fn kill_tree(pid: u64) -> Result<usize, manager::KillError> {
    let descendants = with_manager(|manager| manager.doom_tree(pid))
        .unwrap_or(Err(manager::KillError::NotStarted))?;
    let me = current_pid();
    let mut ended = 0;
    // Deepest first; agents that ended on their own meanwhile are skipped.
    for &child in descendants.iter().rev() {
        if child != me && kill(child).is_ok() {
            ended += 1;
        }
    }
    if pid != me {
        kill(pid)?;
        ended += 1;
    }
    if pid == me || descendants.contains(&me) {
        exit(KILLED_STATUS);
    }
    Ok(ended)
}

/// Frees the memory (kernel stacks, address spaces) of agents that left the
/// table, one agent per lock hold, with interrupts enabled while it is freed
/// (frames are returned one lock hold each). Called from the killer, from
/// spawn, wait and exit paths and from the idle loop; never from an
/// interrupt handler. Returns how many agents were freed.
pub fn bury_the_dead() -> usize {
    bury(true)
}

/// Frees the dead agents (see [`bury_the_dead`]). Each is owned by this
/// stack frame while it is dropped, so kills of the caller are deferred
/// meanwhile (else a kill would leak the half-freed agent); a caller that
/// turns out doomed exits then, if `exit_if_doomed` (not when it is exiting
/// already).
fn bury(exit_if_doomed: bool) -> usize {
    let mut freed = 0;
    loop {
        let dead = with_manager(|manager| {
            let dead = manager.take_dead();
            if dead.is_some() {
                manager.defer_kills(true);
            }
            dead
        })
        .flatten();
        let Some(agent) = dead else {
            return freed;
        };
        drop(agent);
        freed += 1;
        if with_manager(|manager| manager.defer_kills(false)) == Some(true) && exit_if_doomed {
            exit(KILLED_STATUS);
        }
    }
}

/// Returns how many dead agents wait for [`bury_the_dead`].
pub fn dead_waiting() -> usize {
    with_manager(|manager| manager.dead_waiting()).unwrap_or(0)
}

/// Returns the top-level user agent of `pid`'s tree (`None` for kernel
/// agents and unknown ids).
pub fn tree_root(pid: u64) -> Option<u64> {
    with_manager(|manager| manager.slot_of(pid).and_then(|_| manager.tree_root(pid))).flatten()
}

/// Gives up the CPU; the policy decides who runs next (possibly the caller).
pub fn yield_now() {
    bury_the_dead();
    switch::request_switch(REQUEST_YIELD, 0);
}

/// Sleeps for at least `duration_us` microseconds.
pub fn sleep_us(duration_us: u64) {
    // Agents that sleep free the dead meanwhile (interrupts enabled here).
    bury_the_dead();
    let until = crate::time::now_us().saturating_add(duration_us);
    switch::request_switch(REQUEST_SLEEP_UNTIL, until);
}

/// Ends the calling agent with `status`.
///
/// Like a process exit, this does not run destructors of values on the
/// agent's own stack frames; everything the kernel holds for the agent
/// (stack, name, entry) is freed. Returning from the entry closure is the
/// leak-free way to end with status 0.
pub fn exit(status: i64) -> ! {
    notify_exit(current_pid());
    bury(false);
    switch::request_switch(REQUEST_EXIT, status as u64);
    unreachable!("an exited agent was resumed")
}

/// Returns a new event, or `None` when all [`MAX_EVENTS`] are in use.
pub fn new_event() -> Option<EventId> {
    with_manager(Manager::new_event).flatten()
}

/// Gives `event` back.
pub fn free_event(event: EventId) {
    with_manager(|manager| manager.free_event(event));
}

/// Returns how often `event` was signalled; pass it to [`wait`].
pub fn event_generation(event: EventId) -> u64 {
    with_manager(|manager| manager.event_generation(event)).unwrap_or(0)
}

/// Blocks until `event` is signalled after it had generation `seen`
/// (returns at once if that already happened, so no wake-up is lost).
pub fn wait(event: EventId, seen: u64) {
    let argument = (seen << BLOCK_EVENT_BITS) | u64::from(event.0);
    switch::request_switch(REQUEST_BLOCK, argument);
}

/// Like [`wait`], but returns at the latest once the microsecond clock
/// reaches `deadline_us` (`None`: no deadline, as [`wait`]). A deadline
/// already past returns at once. The agent does not poll: it is blocked,
/// and woken by the signal or by the tick that finds the deadline passed
/// (at most one tick, 1 ms, late). The caller tells which by looking at
/// its state and the clock.
pub fn wait_until(event: EventId, seen: u64, deadline_us: Option<u64>) {
    let Some(deadline_us) = deadline_us else {
        return wait(event, seen);
    };
    with_manager(|manager| manager.set_block_deadline(Some(deadline_us)));
    let argument = (seen << BLOCK_EVENT_BITS) | u64::from(event.0);
    switch::request_switch(REQUEST_BLOCK_UNTIL, argument);
}

/// Signals `event`, waking every agent blocked on it; returns how many woke.
pub fn signal(event: EventId) -> usize {
    with_manager(|manager| manager.signal(event)).unwrap_or(0)
}

/// Signals `event` for agent `pid` alone: wakes it if it is blocked on the
/// event (or keeps it from blocking if it is about to), and no other agent
/// blocked on it. Returns whether it woke.
pub fn signal_agent(event: EventId, pid: u64) -> bool {
    with_manager(|manager| manager.signal_agent(event, pid)).unwrap_or(false)
}

/// Records that the calling agent met (`true`) or missed a deadline.
pub fn report_deadline(met: bool) {
    with_manager(|manager| manager.report_deadline(met));
}

/// Declares the calling agent's learning objective (see
/// `sched_rl::objective`); it replaces any earlier one. The manager
/// reports progress against it ([`agents`]) and tells the policy.
pub fn declare_objective(objective: sched_rl::Objective) -> bool {
    with_manager(|manager| manager.declare_objective(objective, crate::time::now_us()))
        .unwrap_or(false)
}

/// Records a training loss (× `sched_rl::objective::LOSS_ONE`) the calling agent reports.
pub fn report_loss(loss: u64) {
    with_manager(|manager| manager.report_loss(loss, crate::time::now_us()));
}

/// Records an accuracy (`correct` of `total`) the calling agent reports.
pub fn report_accuracy(correct: u64, total: u64) {
    with_manager(|manager| manager.report_accuracy(correct, total));
}

/// Notes that the calling agent starts an IPC `call` now.
pub fn note_call_start() {
    with_manager(|manager| manager.note_call_start(crate::time::now_us()));
}

/// Takes the start time of the call `caller` waits in, if it noted one.
pub fn take_call_start(caller: u64) -> Option<u64> {
    with_manager(|manager| manager.take_call_start(caller)).flatten()
}

/// Records that the calling agent answered, now, a call that started at
/// `started_us` (from [`take_call_start`]).
pub fn request_served(started_us: u64) {
    with_manager(|manager| manager.request_served(started_us, crate::time::now_us()));
}

/// An objective as status views print it, e.g. `latency <= 3000 us` or
/// `loss <= 0.300000 within 20.0 s` (the deadline counted from when it was
/// declared). Formats without allocating (the manager logs it under its lock).
pub struct ObjectiveText(pub sched_rl::Objective, pub u64);

impl core::fmt::Display for ObjectiveText {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use sched_rl::objective::LOSS_ONE;
        let Self(objective, declared_us) = *self;
        match objective {
            sched_rl::Objective::Latency { target_us } => {
                write!(formatter, "latency <= {target_us} us")
            }
            sched_rl::Objective::Loss {
                target,
                deadline_us,
            } => {
                let tenths = deadline_us.saturating_sub(declared_us).div_ceil(100_000);
                write!(
                    formatter,
                    "loss <= {}.{:04} within {}.{} s",
                    target / LOSS_ONE,
                    target % LOSS_ONE / 100,
                    tenths / 10,
                    tenths % 10
                )
            }
        }
    }
}

/// Runs `work` with the vector unit (x87/SSE/AVX), the kernel's
/// `kernel_fpu_begin/end`: the live owner's registers (the last user agent
/// that ran) are saved first and restored after, interrupts stay off in
/// between, and MXCSR and the x87 control word are the kernel's defaults
/// inside. Returns `None` (without running `work`) when the unit is off or
/// inside another such section. Keep `work` short: it holds the timer off.
pub fn with_kernel_vector<R>(
    work: impl FnOnce(&crate::arch::vector::KernelVector) -> R,
) -> Option<R> {
    crate::arch::vector::kernel_section(
        || {
            with_manager(Manager::save_live_vector);
        },
        || {
            with_manager(Manager::restore_live_vector);
        },
        work,
    )
}

/// Returns the running agent's (CPU µs, wait µs, runs, p99 response µs).
pub fn current_stats() -> Option<(u64, u64, u64, u64)> {
    inspect(|manager| {
        let id = manager.current()?;
        manager.agents().find(|agent| agent.id == id).map(|agent| {
            let stats = &agent.stats;
            (
                stats.cpu_time_us,
                stats.wait_time_us,
                stats.runs,
                stats.response_us.percentile(99),
            )
        })
    })
    .flatten()
}

/// Returns the calling agent's id (`None` for idle or before start).
pub fn current() -> Option<AgentId> {
    with_manager(|manager| manager.current()).flatten()
}

/// Replaces the scheduling policy at run time.
pub fn replace_policy(policy: KernelPolicy) {
    with_manager(|manager| manager.replace_policy(policy));
}

/// Forgets all scheduling statistics (for measurements over a window).
pub fn reset_statistics() {
    with_manager(Manager::reset_statistics);
}

/// Returns the policy's statistics.
pub fn policy_stats() -> Option<SchedulerStats> {
    with_manager(|manager| manager.policy().stats())
}

/// Returns the number of agents that have not exited.
pub fn live_agents() -> usize {
    with_manager(|manager| manager.live_agents()).unwrap_or(0)
}

/// Returns the response times of every agent whose class hint satisfies
/// `selects`, merged, plus the longest wait of any agent (µs).
pub fn response_times(selects: impl Fn(ClassHint) -> bool) -> (histogram::Histogram, u64) {
    inspect(|manager| {
        let mut merged = histogram::Histogram::new();
        let mut longest_wait = 0;
        for agent in manager.agents() {
            longest_wait = longest_wait.max(agent.stats.longest_wait_us);
            if selects(agent.class) {
                merged.merge(&agent.stats.response_us);
            }
        }
        (merged, longest_wait)
    })
    .unwrap_or_default()
}

/// Returns the manager's counters.
pub fn counters() -> manager::ManagerCounters {
    inspect(|manager| manager.counters).unwrap_or_default()
}

/// Runs `action` on the manager with interrupts disabled; the layers above
/// get copies ([`agents`], [`scheduler`]) instead.
///
/// Keep `action` short: it delays the timer interrupt.
fn inspect<R>(action: impl FnOnce(&Manager) -> R) -> Option<R> {
    with_manager(|manager| action(manager))
}

/// Returns a copy of every agent that has not exited (empty before [`init`]).
pub fn agents() -> alloc::vec::Vec<snapshot::AgentSnapshot> {
    inspect(snapshot::agents).unwrap_or_default()
}

/// Returns the final progress of the last agents that ended with an
/// objective or reported figures, oldest first.
pub fn finished_progress() -> alloc::vec::Vec<manager::FinishedProgress> {
    inspect(|manager| manager.finished_progress().to_vec()).unwrap_or_default()
}

/// Returns a copy of the scheduler's state (`None` before [`init`]).
pub fn scheduler() -> Option<snapshot::SchedulerSnapshot> {
    inspect(snapshot::scheduler)
}

/// Timer interrupt path (called by `arch::switch`): returns the stack
/// pointer to resume.
pub fn on_timer_tick(stack_pointer: u64) -> u64 {
    match MANAGER.try_lock() {
        Some(mut guard) => match guard.as_mut() {
            Some(manager) => manager.on_tick(stack_pointer),
            None => stack_pointer,
        },
        // Only reachable if a lock holder enabled interrupts, which the
        // locking rule forbids; skip this decision rather than deadlock.
        None => stack_pointer,
    }
}

/// Switch vector path (called by `arch::switch`): returns the stack
/// pointer to resume.
pub fn on_switch_request(stack_pointer: u64, request: u64, argument: u64) -> u64 {
    let request = match request {
        REQUEST_YIELD => Request::Yield,
        REQUEST_SLEEP_UNTIL => Request::SleepUntil(argument),
        REQUEST_BLOCK => {
            let event = EventId((argument & ((1 << BLOCK_EVENT_BITS) - 1)) as u16);
            if usize::from(event.0) >= MAX_EVENTS {
                return stack_pointer;
            }
            Request::Block(event, argument >> BLOCK_EVENT_BITS)
        }
        REQUEST_BLOCK_UNTIL => {
            let event = EventId((argument & ((1 << BLOCK_EVENT_BITS) - 1)) as u16);
            if usize::from(event.0) >= MAX_EVENTS {
                return stack_pointer;
            }
            // The deadline is the running agent's, read under the lock below.
            Request::BlockUntil(event, argument >> BLOCK_EVENT_BITS, None)
        }
        REQUEST_EXIT => Request::Exit(argument as i64),
        _ => return stack_pointer,
    };
    match MANAGER.try_lock() {
        Some(mut guard) => match guard.as_mut() {
            Some(manager) => {
                let request = match request {
                    Request::BlockUntil(event, seen, _) => {
                        Request::BlockUntil(event, seen, manager.take_block_deadline())
                    }
                    other => other,
                };
                manager.on_request(stack_pointer, request)
            }
            None => stack_pointer,
        },
        None => stack_pointer,
    }
}
