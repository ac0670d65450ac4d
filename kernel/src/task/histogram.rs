//! The log-linear histogram of cycle counts and latencies, from `kernel-core`.
//!
//! The type lives in [`kernel_core::histogram`] (host-tested there); this
//! module keeps the kernel's path `task::histogram::Histogram` for its users.

pub use kernel_core::histogram::Histogram;
