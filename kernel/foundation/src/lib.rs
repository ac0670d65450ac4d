//! The kernel's foundation: every `unsafe` line of the kernel, behind safe types.
//!
//! In the style of Asterinas's OSTD, this crate is the only one allowed to
//! hold `unsafe` code. It owns the CPU (descriptor tables, interrupt,
//! exception, switch and syscall entries, the local APIC, the PICs and the
//! PIT), memory (physical frames, page tables, the heap, agent kernel stacks,
//! user address spaces and checked copies into them, DMA buffers, uncached
//! MMIO windows, the ACPI tables and the `virtio-drivers` HAL), port I/O and
//! the serial port, and time (ticks and the TSC clock). Everything above, the
//! kernel crate and every driver, is `#![forbid(unsafe_code)]`.
//!
//! The foundation never calls up into kernel policy: the timer, switch
//! requests, syscalls and exceptions reach the kernel through the hooks it
//! registers in [`trap`], and get back what the foundation needs (the stack
//! to resume, a syscall result) as return values.
#![no_std]
#![feature(abi_x86_interrupt)]

extern crate alloc;

pub mod arch;
pub mod io;
pub mod memory;
pub mod serial;
pub mod time;
pub mod trap;
pub mod virtio;
