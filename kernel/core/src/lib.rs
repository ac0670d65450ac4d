//! Portable kernel logic: pure algorithms and bookkeeping, unit-tested on the host.
//!
//! Everything here is ordinary safe Rust without a hardware dependency, in the
//! manner of Hubris's `kerncore`: the kernel links it for `x86_64-unknown-none`,
//! and a plain `cargo test` runs its tests on the development machine. The
//! kernel keeps what touches hardware (page tables, ports, task switching,
//! events); this crate owns the decisions and the bookkeeping those parts use.
//!
//! | module | what it owns |
//! |---|---|
//! | [`histogram`] | the log-linear histogram of cycle counts and latencies |
//! | [`line_editor`] | the shell's line editing, history and serial key decoding |
//! | [`user_range`] | checking a user pointer and length, and splitting the range into pages |
//! | [`map_window`] | which user ranges `map` gave out, the quota, and finding a free window |
//! | [`memory_budget`] | each agent tree's memory budget: charges checked and released up the chain of ancestors |
//! | [`ipc_queue`] | the per-endpoint FIFOs of senders and the state of each waiting sender |
//! | [`deadline`] | a blocking call's timeout as an absolute deadline (0 = forever) |
//! | [`spawn_rights`] | a spawned agent's capabilities: the parent's, cut down, receive rights only by grant |
//! | [`log_line`] | agent log hygiene: one `log` call is one escaped line with the agent prefix |
//! | [`qemu_exit`] | the `isa-debug-exit` protocol shared by test kernels and xtask |
//! | [`turn`] | whose turn it is at a shared resource (the longest waiter first) |
//! | [`range_alloc`] | first-fit aligned ranges of a window: resident tensors in an accelerator's data area |
//! | [`factorial`] | factorials wrapping at 32 and 64 bits in constant time (the accelerator's CPU route) |
//!
//! The crate assumes 64-bit `usize` (as on `x86_64` and every host the
//! workspace supports): offsets into a user range are `usize`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod deadline;
pub mod factorial;
pub mod frame_reserve;
pub mod histogram;
pub mod ipc_queue;
pub mod line_editor;
pub mod log_line;
pub mod map_window;
pub mod memory_budget;
pub mod qemu_exit;
pub mod range_alloc;
pub mod spawn_rights;
pub mod turn;
pub mod user_range;

/// Refuses to build where `usize` is narrower than `u64` (see the crate documentation).
const _: () = assert!(usize::BITS >= u64::BITS);
