//! `virtio-drivers`' configuration-space trait over this crate's accessors.
//!
//! `virtio-drivers` finds a virtio function's capabilities and BARs through
//! its own [`ConfigurationAccess`] trait; [`VirtioConfigAccess`] answers it
//! with the kernel's accessor (legacy ports or ECAM), so the PCI transport
//! runs over the same enumeration as every other driver.

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};

use super::{ConfigAccess, PciAddress};

/// The kernel's configuration accessor, as `virtio-drivers` wants it.
#[derive(Debug, Clone, Copy)]
pub struct VirtioConfigAccess(pub &'static ConfigAccess);

/// Returns our address of `virtio-drivers`' `device_function`.
pub fn address_of(device_function: DeviceFunction) -> PciAddress {
    PciAddress::new(
        device_function.bus,
        device_function.device,
        device_function.function,
    )
}

/// Returns `virtio-drivers`' name for our `address`.
pub fn device_function_of(address: PciAddress) -> DeviceFunction {
    DeviceFunction {
        bus: address.bus,
        device: address.device,
        function: address.function,
    }
}

impl ConfigurationAccess for VirtioConfigAccess {
    fn read_word(&self, device_function: DeviceFunction, register_offset: u8) -> u32 {
        self.0
            .read_u32(address_of(device_function), u16::from(register_offset))
    }

    fn write_word(&mut self, device_function: DeviceFunction, register_offset: u8, data: u32) {
        self.0.write_u32(
            address_of(device_function),
            u16::from(register_offset),
            data,
        );
    }

    unsafe fn unsafe_clone(&self) -> Self {
        // Both copies share the accessor, which serialises its own port
        // accesses; nothing here is exclusive.
        *self
    }
}
