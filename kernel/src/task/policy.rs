//! The scheduling policy the kernel runs: any `sched-rl` scheduler, boxed, behind the watchdog.

use alloc::boxed::Box;

use sched_rl::{AnyPolicy, PolicyKind, Scheduler, Watchdog};

/// Seed of the learner's exploration; fixed so runs are reproducible.
pub const POLICY_SEED: u64 = 0x5EED_0FA6_E700;

/// A policy the kernel can run: a built-in one, or any other implementation
/// (tests inject broken policies this way).
pub type KernelPolicy = Box<dyn Scheduler + Send>;

/// Returns the built-in policy `kind`.
pub fn builtin(kind: PolicyKind) -> KernelPolicy {
    Box::new(AnyPolicy::new(kind, POLICY_SEED))
}

/// Returns the built-in policy called `name` (`round-robin`, `mlfq`,
/// `fair`, `fifo`, `q-learning`), or `None` for an unknown name.
pub fn by_name(name: &str) -> Option<KernelPolicy> {
    PolicyKind::from_name(name).map(builtin)
}

/// The kernel's policy, guarded by the watchdog.
pub type GuardedPolicy = Watchdog<KernelPolicy>;
