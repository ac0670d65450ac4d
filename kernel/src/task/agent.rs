//! An agent: a schedulable kernel task with its own stack, state and statistics.

use alloc::{boxed::Box, string::String};

use sched_rl::{AgentId, ClassHint, ObjectiveStatus, ObjectiveTracker};

use super::histogram::Histogram;
use crate::arch::vector::VectorState;
use crate::memory::{address_space::AddressSpace, stack::KernelStack};

/// Recent CPU bursts remembered per agent.
pub const RECENT_BURSTS: usize = 8;
/// Longest agent name kept, in bytes.
pub const MAX_NAME_BYTES: usize = 24;

/// Where an agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// Ready to run, waiting for the CPU.
    Runnable,
    /// On the CPU now.
    Running,
    /// Sleeping until the microsecond clock reaches `until_us`.
    Sleeping {
        /// Wake-up time.
        until_us: u64,
    },
    /// Waiting for `event` to be signalled, or until the microsecond clock
    /// reaches `until_us` when there is a deadline.
    Blocked {
        /// The event waited for.
        event: super::EventId,
        /// Wake-up time even without the event (`None`: wait for it only).
        until_us: Option<u64>,
    },
    /// Finished with `status`; its resources are freed at the next switch.
    Exited {
        /// Exit status (0 = success).
        status: i64,
    },
}

impl AgentState {
    /// Returns a short name for status tables.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Runnable => "ready",
            Self::Running => "run",
            Self::Sleeping { .. } => "sleep",
            Self::Blocked { .. } => "block",
            Self::Exited { .. } => "exit",
        }
    }
}

/// What the kernel observed about an agent.
#[derive(Clone, Default)]
pub struct AgentStats {
    /// CPU time used, microseconds.
    pub cpu_time_us: u64,
    /// Time spent runnable but not running, microseconds.
    pub wait_time_us: u64,
    /// Longest single wait while runnable, microseconds.
    pub longest_wait_us: u64,
    /// Times the agent was dispatched after another agent (or idle) ran.
    pub runs: u64,
    /// Recent CPU burst lengths, microseconds (ring buffer).
    pub recent_bursts_us: [u32; RECENT_BURSTS],
    /// Next slot in `recent_bursts_us`.
    pub next_burst: usize,
    /// Response times (runnable until the burst ends), microseconds.
    pub response_us: Histogram,
    /// Deadlines met, as reported by the agent.
    pub deadlines_met: u64,
    /// Deadlines missed, as reported by the agent.
    pub deadline_misses: u64,
    /// Sum of the learner's reward signal for this agent's bursts (Q16.16).
    pub reward: i64,
}

impl AgentStats {
    /// Remembers a finished CPU burst.
    pub fn push_burst(&mut self, burst_us: u64) {
        self.recent_bursts_us[self.next_burst] = burst_us.min(u64::from(u32::MAX)) as u32;
        self.next_burst = (self.next_burst + 1) % RECENT_BURSTS;
    }
}

/// What an agent is trying to achieve and how it is doing: its declared
/// learning objective and the figures it reports (the kernel cannot check
/// a reported loss or accuracy; it shows them as the agent's claims).
#[derive(Clone, Copy, Default)]
pub struct Progress {
    /// The declared objective and what was measured or reported against it.
    pub objective: Option<ObjectiveTracker>,
    /// The status last told to the policy (and logged).
    pub status: Option<ObjectiveStatus>,
    /// When a status change was last logged, µs.
    pub logged_us: Option<u64>,
    /// The status the log last showed.
    pub logged_status: Option<ObjectiveStatus>,
    /// The latest loss the agent reported (× `LOSS_ONE`).
    pub loss: Option<u64>,
    /// The latest accuracy the agent reported: (correct, total).
    pub accuracy: Option<(u64, u64)>,
    /// When the agent's pending IPC `call` started, µs (the kernel's own
    /// start of a request, for the server's latency objective).
    pub call_started_us: Option<u64>,
}

/// A schedulable task.
pub struct Agent {
    /// Slot index, also the policy's name for it.
    pub id: AgentId,
    /// Identity unique for the whole boot (slots are reused, ids never).
    pub pid: u64,
    /// The id of the agent that spawned it (0: the kernel itself).
    pub parent: u64,
    /// The user tree it belongs to, fixed at spawn: its own id when the
    /// kernel started it (parent 0 or a kernel agent), else its parent's
    /// tree. Slot budgets count trees by it, so a tree whose inner agents
    /// end does not split into fresh trees with budgets of their own.
    pub tree: u64,
    /// Data of the layer that made the agent (a user agent's process),
    /// opaque to the task manager; dropped when the agent is freed.
    pub data: Option<Box<dyn TaskData>>,
    /// Name for logs and status tables.
    pub name: String,
    /// What the agent claimed about itself at spawn.
    pub class: ClassHint,
    /// Life-cycle state.
    pub state: AgentState,
    /// Saved stack pointer while not running (see `arch::switch`).
    pub saved_stack_pointer: u64,
    /// The agent's kernel stack; freed with the agent.
    pub stack: KernelStack,
    /// Code to run, taken when the agent first starts.
    pub entry: Option<Box<dyn core::any::Any + Send>>,
    /// When the current burst became runnable (arrival or wake-up), µs.
    pub runnable_since_us: u64,
    /// When the agent last became ready to run (including after preemption), µs.
    pub ready_since_us: u64,
    /// CPU time used in the current burst so far, µs.
    pub burst_cpu_us: u64,
    /// The policy has not been told about this agent yet (policy replaced
    /// while it was blocked); tell it at the next wake-up.
    pub needs_arrival: bool,
    /// The deadline of the agent's next timed block ([`super::wait_until`]
    /// stores it before its switch request, which takes it).
    pub block_deadline_us: Option<u64>,
    /// Statistics.
    pub stats: AgentStats,
    /// Learning objective and reported progress.
    pub progress: Progress,
    /// How deep the agent is in kernel operations that own memory on its
    /// stack (a spawn, a log line, freeing a dead agent): while above 0, a
    /// kill waits for them to end.
    pub kill_deferred: u32,
    /// A kill came while `kill_deferred`, or the agent's tree is being
    /// killed: it may not spawn, and ends itself when its operation ends.
    pub doomed: bool,
}

/// What a layer above the task manager attaches to an agent it spawns (the
/// user layer's process: address space, capabilities, mappings).
///
/// The task manager never looks inside; it only asks which address space
/// to activate when the agent runs, and drops the data when the agent is
/// freed. The owning layer gets its own type back with
/// [`super::with_current_data`].
pub trait TaskData: core::any::Any + Send {
    /// Returns the address space to activate while this agent runs
    /// (`None`: the kernel's own).
    fn address_space(&self) -> Option<&AddressSpace>;

    /// Returns the agent's saved vector registers (`None`: it runs no
    /// ring-3 code and never touches them).
    fn vector_state(&mut self) -> Option<&mut VectorState> {
        None
    }
}
