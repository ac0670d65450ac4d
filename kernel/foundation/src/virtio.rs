//! `virtio-drivers`' PCI configuration trait over any configuration accessor.
//!
//! `virtio-drivers` reaches a virtio function's capabilities through its own
//! [`ConfigurationAccess`] trait, which has one `unsafe fn` (`unsafe_clone`),
//! so its implementation lives here. Drivers implement the safe
//! [`PciConfigWords`] for their accessor (legacy ports or ECAM) and hand it
//! over wrapped in [`VirtioConfigAccess`].

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};

/// Aligned 32-bit reads and writes of PCI configuration space.
pub trait PciConfigWords: Sync {
    /// Returns the word at `offset` of `bus:device.function` (all ones where
    /// nothing answers).
    fn read_word(&self, bus: u8, device: u8, function: u8, offset: u16) -> u32;
    /// Writes the word at `offset` of `bus:device.function`.
    fn write_word(&self, bus: u8, device: u8, function: u8, offset: u16, value: u32);
}

/// A configuration accessor as `virtio-drivers` wants it.
#[derive(Clone, Copy)]
pub struct VirtioConfigAccess(pub &'static dyn PciConfigWords);

impl core::fmt::Debug for VirtioConfigAccess {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str("VirtioConfigAccess")
    }
}

impl ConfigurationAccess for VirtioConfigAccess {
    fn read_word(&self, device_function: DeviceFunction, register_offset: u8) -> u32 {
        self.0.read_word(
            device_function.bus,
            device_function.device,
            device_function.function,
            u16::from(register_offset),
        )
    }

    fn write_word(&mut self, device_function: DeviceFunction, register_offset: u8, data: u32) {
        self.0.write_word(
            device_function.bus,
            device_function.device,
            device_function.function,
            u16::from(register_offset),
            data,
        );
    }

    unsafe fn unsafe_clone(&self) -> Self {
        // Both copies share the accessor, which serialises its own accesses;
        // nothing here is exclusive.
        *self
    }
}
