//! This crate's configuration accessor as the foundation's virtio adapter wants it.
//!
//! `virtio-drivers` finds a virtio function's capabilities and BARs through
//! its own configuration trait; the foundation's [`VirtioConfigAccess`]
//! implements it over [`PciConfigWords`], which [`ConfigAccess`] implements
//! here, so the PCI transport runs over the same enumeration as every other
//! driver.

use foundation::virtio::PciConfigWords;
pub use foundation::virtio::VirtioConfigAccess;
use virtio_drivers::transport::pci::bus::DeviceFunction;

use super::{ConfigAccess, PciAddress};

/// Returns `virtio-drivers`' name for our `address`.
pub fn device_function_of(address: PciAddress) -> DeviceFunction {
    DeviceFunction {
        bus: address.bus,
        device: address.device,
        function: address.function,
    }
}

impl PciConfigWords for ConfigAccess {
    fn read_word(&self, bus: u8, device: u8, function: u8, offset: u16) -> u32 {
        self.read_u32(PciAddress::new(bus, device, function), offset)
    }

    fn write_word(&self, bus: u8, device: u8, function: u8, offset: u16, value: u32) {
        self.write_u32(PciAddress::new(bus, device, function), offset, value);
    }
}
