//! The scheduling policy the kernel runs: any `sched-rl` scheduler, boxed, behind the watchdog.

use alloc::boxed::Box;

use sched_rl::{AnyPolicy, PolicyKind, Scheduler, TreeShare, Watchdog};

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

/// The kernel's policy, guarded by the watchdog, behind the share guard
/// that gives each user tree one agent's share of the CPU (the manager puts
/// every user agent in its tree's group; kernel agents are never held back).
pub type GuardedPolicy = TreeShare<Watchdog<KernelPolicy>>;

/// Returns `policy` guarded by the watchdog and the share guard.
pub fn guard(policy: KernelPolicy) -> GuardedPolicy {
    TreeShare::new(Watchdog::new(policy))
}
