//! The adaptive dispatch table: per-call handler choice learned by gradient steps.
//!
//! An operation (a [`DispatchEntry`]) has several handler implementations
//! that compute the same result at different cost: on the CPU, on a device
//! with polling, on a device with an interrupt, by DMA or by register copy,
//! on device 0 or device 1. Which one is fastest depends on the call (its
//! payload size, how many jobs already queue on the device) and on the
//! machine, so the kernel learns it instead of hard-coding it.
//!
//! # Model
//! Every handler has a linear latency model ([`LatencyModel`]) over the
//! call's [`Features`]: `predicted = K · x` with `x = (1, payload in KiB,
//! queue depth)`. After each call the kernel measures the real latency `y`
//! and takes one normalised gradient step (NLMS) on the squared error
//! `E = ½ (K · x − y)²`:
//!
//! ```text
//! K(t+1) = K(t) − α · ∇E / (1 + |x|²) = K(t) + α · (y − K · x) · x / (1 + |x|²)
//! ```
//!
//! Dividing by `1 + |x|²` makes the step size independent of the feature
//! scale, so one `α` in `(0, 2)` is stable for any payload.
//!
//! # Selection
//! [`DispatchEntry::select`] first tries every allowed handler
//! [`AdaptiveConfig::warmup_calls`] times, then picks the handler with the
//! lowest predicted latency, except with the decaying exploration
//! probability of [`EpsilonGreedy`], when it picks a random allowed one.
//! The caller says which handlers are allowed for this call (a device is
//! missing, the CPU path is not permitted) with a [`HandlerMask`].
//!
//! # Numbers and memory
//! Weights, features and latencies are Q16.16 [`Fixed`] (latency in
//! microseconds, so up to 2^47 µs fit). An entry is a fixed array of
//! [`MAX_HANDLERS`] handlers: selecting and recording never allocate and
//! never use floating point, so the kernel can call them on every
//! dispatched operation.
//!
//! [`Fixed`]: crate::Fixed
//! [`EpsilonGreedy`]: crate::learning::EpsilonGreedy

pub mod model;
pub mod table;

pub use model::{FEATURES, Features, LatencyModel};
pub use table::{
    AdaptiveConfig, DispatchEntry, HandlerId, HandlerMask, HandlerStats, MAX_HANDLERS, Selection,
    TableFull,
};
