//! Portable scheduling policies for the kernel, the Q-learning one first.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
