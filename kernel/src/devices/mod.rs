//! Devices found at boot: PCI enumeration now, more buses later.
//!
//! [`init`] runs once from [`crate::init`]: it keeps the ACPI RSDP the
//! bootloader handed over, enumerates PCI (ECAM when ACPI has an MCFG
//! table, the legacy ports otherwise) and logs every function like `lspci`.

pub mod pci;

use core::sync::atomic::{AtomicU64, Ordering};

/// Physical address of the ACPI RSDP (0 when the bootloader had none).
static RSDP_ADDRESS: AtomicU64 = AtomicU64::new(0);

/// Records the RSDP address and enumerates PCI.
pub fn init(rsdp_address: Option<u64>) {
    RSDP_ADDRESS.store(rsdp_address.unwrap_or(0), Ordering::Relaxed);
    pci::init(rsdp_address);
}

/// Returns the physical address of the ACPI RSDP, if the bootloader gave one.
pub fn rsdp_address() -> Option<u64> {
    Some(RSDP_ADDRESS.load(Ordering::Relaxed)).filter(|address| *address != 0)
}
