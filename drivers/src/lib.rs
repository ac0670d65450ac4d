//! Device drivers: the legacy PC devices the kernel needs to boot.
//!
//! Each driver owns the register-level access to one device and exposes a safe
//! interface. `unsafe` in this crate is limited to port I/O on fixed, well-known
//! legacy ports; every block says why it is sound. Later PCI and accelerator
//! drivers sit beside these modules in the same shape: a `probe`/`new` that checks
//! the device is really there, then safe methods.
#![no_std]

pub mod pic;
pub mod pit;
pub mod qemu_exit;
pub mod serial;
