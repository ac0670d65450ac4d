//! Agent identity, class hints and the reasons an agent stops running.
//!
//! The kernel names every agent (task) by a small slot index, [`AgentId`],
//! bounded by [`MAX_AGENTS`] so that every policy can keep its per-agent
//! state in fixed-size arrays. Time is always [`Microseconds`] since boot.

/// Time in microseconds since boot (or since the start of a simulation).
pub type Microseconds = u64;

/// The most agents any policy tracks at once; slot indices are `0..MAX_AGENTS`.
///
/// Kept at 64 so that a set of agents fits one `u64` bitmap.
pub const MAX_AGENTS: usize = 64;

/// The length of one scheduler tick: the kernel's PIT runs at 1 kHz.
pub const TICK_US: Microseconds = 1_000;

/// A validated agent slot index, always `< MAX_AGENTS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(u16);

impl AgentId {
    /// Returns the id for `slot`, or `None` when `slot >= MAX_AGENTS`.
    pub const fn new(slot: usize) -> Option<Self> {
        if slot < MAX_AGENTS {
            // The bound check above makes the narrowing cast lossless.
            Some(Self(slot as u16))
        } else {
            None
        }
    }

    /// Returns the slot index, usable to index arrays of length `MAX_AGENTS`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// What an agent claims about itself when it is spawned.
///
/// Policies may use it as a prior but must not trust it blindly: an agent can
/// lie (a CPU hog may claim to be interactive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassHint {
    /// Short bursts, waits on the user or the network; wants low latency.
    Interactive,
    /// Long CPU bursts; wants throughput.
    Batch,
    /// Released periodically; each burst should finish within `deadline_us`
    /// of the wake-up that released it.
    Periodic {
        /// Relative deadline, measured from each wake-up.
        deadline_us: Microseconds,
    },
    /// No claim.
    Unknown,
}

/// What an agent blocked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// A timed sleep.
    Sleep,
    /// Device or network I/O.
    Io,
    /// A wait for an accelerator (GPU, NPU) job.
    Accelerator,
    /// Held back by a share guard ([`crate::TreeShare`]) although it could
    /// run: not the agent's choice, so it ends no burst.
    Throttled,
}

/// Why the agent that was running stopped running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The timer tick preempted it; it is still runnable.
    Preempted,
    /// It gave up the CPU voluntarily; it is still runnable.
    Yielded,
    /// It blocked; it is not runnable until a wake-up is reported.
    Blocked(BlockKind),
    /// It exited; its slot may be reused by a later arrival.
    Exited,
}

impl StopReason {
    /// Returns true when the agent is still runnable after stopping.
    pub const fn stays_runnable(self) -> bool {
        matches!(self, Self::Preempted | Self::Yielded)
    }

    /// Returns true when the agent's CPU burst ended: it blocked on its own
    /// account (not [`BlockKind::Throttled`]) or exited.
    pub const fn ends_burst(self) -> bool {
        matches!(self, Self::Exited)
            || matches!(self, Self::Blocked(kind) if !matches!(kind, BlockKind::Throttled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_id_is_bounded() {
        assert_eq!(
            AgentId::new(MAX_AGENTS - 1).map(AgentId::index),
            Some(MAX_AGENTS - 1)
        );
        assert_eq!(AgentId::new(MAX_AGENTS), None);
    }
}
