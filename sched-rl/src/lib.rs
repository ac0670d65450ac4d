//! Portable scheduling policies for the kernel, the Q-learning one first.
//!
//! This crate is the kernel's scheduling brain. It has no hardware
//! dependency and no `unsafe`; the kernel links it, the host tests and
//! benchmarks it.
//!
//! # Interface
//! [`Scheduler`] has one decision call ([`Scheduler::next`]) and feedback
//! calls ([`Scheduler::arrive`], [`Scheduler::wake`], [`Scheduler::result`],
//! and [`Scheduler::remove`] for an agent killed in any state); see
//! [`scheduler`] for the contract. Agents are [`AgentId`] slots below
//! [`MAX_AGENTS`]; time is [`Microseconds`]. At boot the kernel calls
//! [`PolicyKind::from_name`], builds [`AnyPolicy::new`] and guards it with
//! [`Watchdog::new`] (for example in a `Box<dyn Scheduler + Send>`, which is
//! a `Scheduler` itself with the `alloc` feature). Per-tick calls never
//! allocate, never use floating point and cost O(runnable agents).
//!
//! # Numbers
//! Learned values, rewards and rates are [`Fixed`]: signed Q16.16 in an
//! `i64` (raw = value × 2^16). Randomness is the seeded [`Rng`] (SplitMix64),
//! so every run is reproducible from its seed.
//!
//! # Response time
//! The response time of a burst is the time from the agent becoming runnable
//! (arrival or wake-up) until that CPU burst completes (the agent blocks,
//! yields or exits); preemptions in between do not restart the clock. The
//! simulator reports it for agents the workload marks latency-sensitive, and
//! a kernel measures it the same way from the same events.
//!
//! # The learner
//! [`learning`] is a generic tabular Q-learning core (table, epsilon-greedy
//! with decay, learning-rate schedule, TD update), proven on small MDPs whose
//! optimum is computed by value iteration in the tests. The scheduler built
//! on it is [`QLearningScheduler`]; its state, action, reward and discount are
//! stated in [`policy::q_learning`] and [`policy::features`]. In short: the
//! state of an agent is (burst-length bucket, block-frequency bucket,
//! deadline-slack bucket, behind its latency objective by measurement), the
//! action is "dispatch this runnable agent", the reward is −(CPU time the
//! dispatch held others back, in ms) + 1 per completed burst + 2 per burst
//! finished within its hinted deadline, gamma = 1/2, ties go to the earliest
//! deadline (a latency objective's target is each burst's deadline), and an
//! aging bound forbids starvation. Learning objectives ([`objective`]) are
//! hints like the class hint: only what the kernel measures is used.
//!
//! # The adaptive dispatch table
//! [`adaptive`] is the kernel's second learning mechanism. An operation with
//! several implementations (CPU, device with polling or interrupt, DMA or
//! register copy, which device of a pool) is a [`DispatchEntry`]; each handler
//! has a linear latency model over the call's features (payload size, queue
//! depth) whose weights take one normalised gradient step per measured call,
//! `K(t+1) = K(t) - alpha * grad(error)`, and selection picks the lowest
//! predicted latency with decaying exploration. Fixed-point, no allocation.
//!
//! # Baselines
//! [`Fifo`], [`RoundRobin`], [`Mlfq`], [`FairShare`], and in the simulator
//! only the SRPT oracle (`sim::SrptOracle`), which knows every burst length.
//!
//! # Simulator and workload files
//! With the default `sim` feature (which uses `alloc`, never in a policy),
//! [`sim`] runs workloads through the same trait. Agents may declare latency
//! objectives or claim to be behind one; the simulator measures each request,
//! sends the [`ObjectiveSignal`]s and counts the targets met, and
//! `sim::ObjectiveBlind` runs a policy deaf to those signals for comparison.
//! Workloads are text files; the format is in `WORKLOAD_FORMAT.md` beside
//! this crate's manifest and is reproduced here:
//!
#![doc = include_str!("../WORKLOAD_FORMAT.md")]
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod adaptive;
pub mod agent;
pub mod fixed;
pub mod learning;
pub mod objective;
pub mod policy;
pub mod queue;
pub mod random;
pub mod runnable;
pub mod scheduler;
#[cfg(feature = "sim")]
pub mod sim;

pub use adaptive::{DispatchEntry, Features, HandlerId, HandlerMask};
pub use agent::{AgentId, BlockKind, ClassHint, MAX_AGENTS, Microseconds, StopReason, TICK_US};
pub use fixed::Fixed;
pub use objective::{Objective, ObjectiveSignal, ObjectiveStatus, ObjectiveTracker};
pub use policy::fair::FairShare;
pub use policy::fifo::Fifo;
pub use policy::mlfq::Mlfq;
pub use policy::q_learning::{QLearningConfig, QLearningScheduler};
pub use policy::round_robin::RoundRobin;
pub use policy::tree_share::TreeShare;
pub use policy::watchdog::{FallbackReason, Watchdog};
pub use policy::{AnyPolicy, PolicyKind};
pub use random::Rng;
pub use scheduler::{Scheduler, SchedulerStats};
