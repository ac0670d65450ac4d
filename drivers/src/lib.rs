//! Device drivers: the legacy PC devices the kernel needs to boot.
//!
//! Each driver owns the register-level access to one device and exposes a safe
//! interface. `unsafe` in this crate is limited to port I/O on fixed, well-known
//! legacy ports, PCI configuration accesses and MMIO registers of mapped BARs
//! (through `volatile`); every block says why it is sound. A driver that needs
//! a mapping takes it in an `unsafe fn new` whose contract states what must be
//! mapped, then offers safe methods (`pci`, `edu`).
#![no_std]

pub mod edu;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod ps2_keyboard;
pub mod qemu_exit;
pub mod serial;
pub mod virtio_gpu;
