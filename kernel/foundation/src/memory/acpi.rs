//! ACPI tables read through the physical-memory window: the PCIe ECAM windows (MCFG).
//!
//! The `acpi` crate parses; it asks this module's handler to map physical
//! ranges, which are already reachable at the bootloader's offset (ACPI
//! tables sit in RAM the memory map reports), so mapping is an addition.

use core::ptr::NonNull;

use acpi::{AcpiHandler, AcpiTables, PhysicalMapping, mcfg::Mcfg};

/// Most ECAM windows kept from the MCFG table.
pub const MAX_ECAM_WINDOWS: usize = 4;

/// One PCIe configuration window from the MCFG table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EcamWindow {
    /// Physical base address (of bus 0 of the segment, as MCFG states it).
    pub base: u64,
    /// PCI segment group.
    pub segment: u16,
    /// First bus decoded.
    pub first_bus: u8,
    /// Last bus decoded.
    pub last_bus: u8,
}

#[derive(Clone, Copy, Debug)]
struct WindowHandler;

impl AcpiHandler for WindowHandler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let virtual_address =
            super::physical_to_virtual(x86_64::PhysAddr::new(physical_address as u64));
        let pointer = NonNull::new(virtual_address.as_mut_ptr::<T>()).expect("non-null window");
        // SAFETY: (1) the physical-memory window maps the range for the
        // kernel's lifetime, so the pointer is valid for `size` bytes (the
        // caller promises `T` lies there); (2) unmapping is a no-op.
        unsafe { PhysicalMapping::new(physical_address, pointer, size, size, Self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// Returns the ECAM windows the MCFG table describes, if the RSDP at
/// `rsdp_address` leads to one; `None` when there is no valid MCFG.
pub fn ecam_windows(rsdp_address: u64) -> Option<([Option<EcamWindow>; MAX_ECAM_WINDOWS], usize)> {
    // SAFETY: the bootloader hands over the RSDP's physical address, and the
    // tables it leads to lie in RAM mapped by the physical-memory window.
    let tables = unsafe { AcpiTables::from_rsdp(WindowHandler, rsdp_address as usize) }.ok()?;
    let mcfg = tables.find_table::<Mcfg>().ok()?;
    let mut windows = [None; MAX_ECAM_WINDOWS];
    let mut count = 0;
    for entry in mcfg.entries() {
        if count == MAX_ECAM_WINDOWS {
            break;
        }
        windows[count] = Some(EcamWindow {
            base: entry.base_address,
            segment: entry.pci_segment_group,
            first_bus: entry.bus_number_start,
            last_bus: entry.bus_number_end,
        });
        count += 1;
    }
    (count > 0).then_some((windows, count))
}
