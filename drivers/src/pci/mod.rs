//! PCI and PCI Express: configuration space access, headers, BARs and MSI.
//!
//! Configuration space is reached either through the legacy `0xCF8`/`0xCFC`
//! port pair ([`ConfigAccess::Legacy`], 256 bytes per function) or through
//! a memory-mapped ECAM window that ACPI's MCFG table describes
//! ([`ConfigAccess::Ecam`], 4 KiB per function). Everything above the two
//! accessors is safe code: [`header`] decodes a function's header, sizes its
//! BARs and finds its capabilities; [`msi`] and [`msix`] program
//! message-signalled interrupts. The kernel walks the buses with [`enumerate`].

pub mod config;
pub mod header;
pub mod msi;
pub mod msix;
pub mod virtio;

pub use config::{ConfigAccess, Ecam, EcamError, PciAddress};

pub use header::{Bar, BarKind, ClassCode, FunctionInfo, MAX_BARS};

/// Vendor ID read from a slot where no function answers.
pub const NO_VENDOR: u16 = 0xFFFF;
/// Devices per bus.
pub const DEVICES_PER_BUS: u8 = 32;
/// Functions per device.
pub const FUNCTIONS_PER_DEVICE: u8 = 8;

/// Walks every bus reachable from the host bridges, depth first through
/// PCI-to-PCI bridges, and calls `found` with every function that answers.
///
/// Buses are scanned at most once (a bitmap guards against bridges that
/// claim an already-scanned bus). Returns the number of functions found.
pub fn enumerate(access: &ConfigAccess, mut found: impl FnMut(FunctionInfo)) -> usize {
    let mut scanned = [0u64; 4];
    let mut count = 0;
    let host = PciAddress::new(0, 0, 0);
    let root_buses =
        if access.read_vendor(host) != NO_VENDOR && header::is_multifunction(access, host) {
            // Several host bridges: function N of 0:0 is the controller of bus N.
            FUNCTIONS_PER_DEVICE
        } else {
            1
        };
    for function in 0..root_buses {
        if access.read_vendor(PciAddress::new(0, 0, function)) == NO_VENDOR {
            continue;
        }
        scan_bus(access, function, &mut scanned, &mut count, &mut found);
    }
    count
}

fn scan_bus(
    access: &ConfigAccess,
    bus: u8,
    scanned: &mut [u64; 4],
    count: &mut usize,
    found: &mut impl FnMut(FunctionInfo),
) {
    let (word, bit) = (usize::from(bus / 64), bus % 64);
    if scanned[word] & (1 << bit) != 0 || !access.covers_bus(bus) {
        return;
    }
    scanned[word] |= 1 << bit;
    for device in 0..DEVICES_PER_BUS {
        let first = PciAddress::new(bus, device, 0);
        if access.read_vendor(first) == NO_VENDOR {
            continue;
        }
        let functions = if header::is_multifunction(access, first) {
            FUNCTIONS_PER_DEVICE
        } else {
            1
        };
        for function in 0..functions {
            let address = PciAddress::new(bus, device, function);
            if access.read_vendor(address) == NO_VENDOR {
                continue;
            }
            let info = FunctionInfo::read(access, address);
            *count += 1;
            let secondary = info.secondary_bus;
            found(info);
            if let Some(secondary) = secondary {
                scan_bus(access, secondary, scanned, count, found);
            }
        }
    }
}
