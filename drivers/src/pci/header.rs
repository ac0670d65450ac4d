//! A function's configuration header: identity, class, BARs, interrupt, capabilities.
//!
//! [`FunctionInfo::read`] decodes what enumeration needs and sizes every BAR
//! (with decoding switched off while the all-ones pattern is in place, so
//! the device never answers at a bogus address).

use core::fmt;

use super::config::{ConfigAccess, PciAddress};

/// Offset of the vendor ID (16 bits) and device ID (16 bits).
pub const VENDOR_DEVICE: u16 = 0x00;
/// Offset of the command register (16 bits; status in the upper half).
pub const COMMAND: u16 = 0x04;
/// Offset of revision (8), programming interface (8), subclass (8), class (8).
pub const CLASS_REVISION: u16 = 0x08;
/// Offset of the word holding the header type (byte 2).
pub const HEADER_WORD: u16 = 0x0C;
/// Offset of the first BAR.
pub const BAR0: u16 = 0x10;
/// Offset of a bridge's bus numbers (primary, secondary, subordinate).
pub const BRIDGE_BUSES: u16 = 0x18;
/// Offset of the capabilities pointer (byte).
pub const CAPABILITIES_POINTER: u16 = 0x34;
/// Offset of the interrupt line (byte 0) and pin (byte 1).
pub const INTERRUPT: u16 = 0x3C;
/// Status register bit: the capabilities list exists.
const STATUS_CAPABILITIES: u32 = 1 << (16 + 4);
/// Command bit: respond to I/O space accesses.
pub const COMMAND_IO: u16 = 1 << 0;
/// Command bit: respond to memory space accesses.
pub const COMMAND_MEMORY: u16 = 1 << 1;
/// Command bit: may master the bus (DMA, MSI writes).
pub const COMMAND_BUS_MASTER: u16 = 1 << 2;
/// Command bit: INTx assertion disabled.
pub const COMMAND_INTX_DISABLE: u16 = 1 << 10;
/// Header type bit: the device has several functions.
const MULTIFUNCTION: u8 = 0x80;
/// Header layout of a PCI-to-PCI bridge.
const HEADER_BRIDGE: u8 = 0x01;
/// Most BARs a function has (type 0 header).
pub const MAX_BARS: usize = 6;
/// BARs of a bridge (type 1 header).
const BRIDGE_BARS: usize = 2;
/// Capability ID of MSI.
pub const CAPABILITY_MSI: u8 = 0x05;
/// Capability ID of MSI-X.
pub const CAPABILITY_MSIX: u8 = 0x11;
/// Most capabilities followed (guards against a looping list).
const MAX_CAPABILITIES: usize = 48;

/// Returns whether the device at `address` reports several functions.
pub fn is_multifunction(access: &ConfigAccess, address: PciAddress) -> bool {
    header_type(access, address) & MULTIFUNCTION != 0
}

fn header_type(access: &ConfigAccess, address: PciAddress) -> u8 {
    (access.read_u32(address, HEADER_WORD) >> 16) as u8
}

/// Writes the command register without touching the status bits (which are
/// write-one-to-clear: the upper half is written as zeros).
pub fn write_command(access: &ConfigAccess, address: PciAddress, command: u16) {
    access.write_u32(address, COMMAND, u32::from(command));
}

/// Returns the command register.
pub fn read_command(access: &ConfigAccess, address: PciAddress) -> u16 {
    access.read_u16(address, COMMAND)
}

/// Class, subclass and programming interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassCode {
    /// Base class.
    pub class: u8,
    /// Subclass.
    pub subclass: u8,
    /// Programming interface.
    pub interface: u8,
}

impl ClassCode {
    /// Returns a human name for the class, as `lspci` prints it.
    pub fn name(&self) -> &'static str {
        match (self.class, self.subclass) {
            (0x00, _) => "Unclassified device",
            (0x01, 0x00) => "SCSI storage controller",
            (0x01, 0x01) => "IDE interface",
            (0x01, 0x06) => "SATA controller",
            (0x01, 0x08) => "Non-Volatile memory controller",
            (0x01, _) => "Mass storage controller",
            (0x02, 0x00) => "Ethernet controller",
            (0x02, _) => "Network controller",
            (0x03, 0x00) => "VGA compatible controller",
            (0x03, _) => "Display controller",
            (0x04, _) => "Multimedia controller",
            (0x05, _) => "Memory controller",
            (0x06, 0x00) => "Host bridge",
            (0x06, 0x01) => "ISA bridge",
            (0x06, 0x04) => "PCI bridge",
            (0x06, _) => "Bridge",
            (0x07, _) => "Communication controller",
            (0x08, _) => "System peripheral",
            (0x0C, 0x03) => "USB controller",
            (0x0C, 0x05) => "SMBus",
            (0x0C, _) => "Serial bus controller",
            (0x12, _) => "Processing accelerator",
            (0xFF, _) => "Unassigned class",
            _ => "Unknown class",
        }
    }
}

/// What a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// I/O ports.
    Io,
    /// 32-bit memory.
    Memory32,
    /// 64-bit memory (occupies two BAR slots).
    Memory64,
}

/// A sized base address register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Slot index (0..6).
    pub index: u8,
    /// Space it decodes.
    pub kind: BarKind,
    /// Bus address assigned by the firmware.
    pub address: u64,
    /// Size in bytes (a power of two).
    pub size: u64,
    /// Prefetchable memory.
    pub prefetchable: bool,
}

impl fmt::Display for Bar {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            BarKind::Io => "I/O ports",
            BarKind::Memory32 => "Memory (32-bit)",
            BarKind::Memory64 => "Memory (64-bit)",
        };
        write!(
            formatter,
            "Region {}: {kind} at {:#x} [size={}K{}]",
            self.index,
            self.address,
            self.size.div_ceil(1024),
            if self.prefetchable {
                ", prefetchable"
            } else {
                ""
            }
        )
    }
}

/// Everything enumeration reads from one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    /// Where it sits.
    pub address: PciAddress,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Revision.
    pub revision: u8,
    /// Class code.
    pub class: ClassCode,
    /// Header layout (multifunction bit removed).
    pub header_type: u8,
    /// Legacy interrupt line the firmware routed (PIC IRQ), 0xFF if none.
    pub interrupt_line: u8,
    /// Legacy interrupt pin (1 = INTA .. 4 = INTD), 0 if none.
    pub interrupt_pin: u8,
    /// Sized BARs (`None` for unused slots and upper halves of 64-bit BARs).
    pub bars: [Option<Bar>; MAX_BARS],
    /// For a PCI-to-PCI bridge: the bus behind it.
    pub secondary_bus: Option<u8>,
    /// Configuration offset of the MSI capability, if the function has one.
    pub msi_capability: Option<u16>,
    /// Configuration offset of the MSI-X capability, if the function has one.
    pub msix_capability: Option<u16>,
}

impl FunctionInfo {
    /// Reads and decodes the function at `address` (which must answer).
    pub fn read(access: &ConfigAccess, address: PciAddress) -> Self {
        let ids = access.read_u32(address, VENDOR_DEVICE);
        let class = access.read_u32(address, CLASS_REVISION);
        let kind = header_type(access, address) & !MULTIFUNCTION;
        let interrupt = access.read_u32(address, INTERRUPT);
        let bar_count = match kind {
            0 => MAX_BARS,
            HEADER_BRIDGE => BRIDGE_BARS,
            _ => 0,
        };
        let secondary_bus = (kind == HEADER_BRIDGE)
            .then(|| (access.read_u32(address, BRIDGE_BUSES) >> 8) as u8)
            .filter(|bus| *bus != 0);
        Self {
            address,
            vendor: ids as u16,
            device: (ids >> 16) as u16,
            revision: class as u8,
            class: ClassCode {
                class: (class >> 24) as u8,
                subclass: (class >> 16) as u8,
                interface: (class >> 8) as u8,
            },
            header_type: kind,
            interrupt_line: interrupt as u8,
            interrupt_pin: (interrupt >> 8) as u8,
            bars: size_bars(access, address, bar_count),
            secondary_bus,
            msi_capability: find_capability(access, address, CAPABILITY_MSI),
            msix_capability: find_capability(access, address, CAPABILITY_MSIX),
        }
    }

    /// Returns the first memory BAR, if any.
    pub fn memory_bar(&self, index: usize) -> Option<Bar> {
        self.bars
            .get(index)
            .copied()
            .flatten()
            .filter(|bar| bar.kind != BarKind::Io)
    }
}

/// Returns the configuration offset of capability `id`, if present.
pub fn find_capability(access: &ConfigAccess, address: PciAddress, id: u8) -> Option<u16> {
    if access.read_u32(address, COMMAND) & STATUS_CAPABILITIES == 0 {
        return None;
    }
    let mut pointer = access.read_u8(address, CAPABILITIES_POINTER) & !0b11;
    for _ in 0..MAX_CAPABILITIES {
        if pointer == 0 {
            return None;
        }
        let header = access.read_u32(address, u16::from(pointer));
        if header as u8 == id {
            return Some(u16::from(pointer));
        }
        pointer = (header >> 8) as u8 & !0b11;
    }
    None
}

fn size_bars(access: &ConfigAccess, address: PciAddress, count: usize) -> [Option<Bar>; MAX_BARS] {
    let mut bars = [None; MAX_BARS];
    let command = read_command(access, address);
    // No decoding while a BAR holds the sizing pattern.
    write_command(access, address, command & !(COMMAND_IO | COMMAND_MEMORY));
    let mut index = 0;
    while index < count {
        let offset = BAR0 + 4 * index as u16;
        let original = access.read_u32(address, offset);
        access.write_u32(address, offset, u32::MAX);
        let mask = access.read_u32(address, offset);
        access.write_u32(address, offset, original);
        let is_io = original & 1 != 0;
        let is_64 = !is_io && (original >> 1) & 0b11 == 0b10;
        let mut bar = None;
        if is_io {
            let size_mask = mask & !0b11 & 0xFFFF;
            if size_mask != 0 {
                bar = Some(Bar {
                    index: index as u8,
                    kind: BarKind::Io,
                    address: u64::from(original & !0b11),
                    size: u64::from((!size_mask & 0xFFFF) + 1),
                    prefetchable: false,
                });
            }
        } else {
            let mut full_mask = u64::from(mask & !0xF);
            let mut base = u64::from(original & !0xF);
            if is_64 && index + 1 < count {
                let high_offset = offset + 4;
                let high = access.read_u32(address, high_offset);
                access.write_u32(address, high_offset, u32::MAX);
                let high_mask = access.read_u32(address, high_offset);
                access.write_u32(address, high_offset, high);
                full_mask |= u64::from(high_mask) << 32;
                base |= u64::from(high) << 32;
            } else {
                full_mask |= 0xFFFF_FFFF_0000_0000;
            }
            if full_mask & 0xFFFF_FFFF != 0 {
                bar = Some(Bar {
                    index: index as u8,
                    kind: if is_64 {
                        BarKind::Memory64
                    } else {
                        BarKind::Memory32
                    },
                    address: base,
                    size: (!full_mask).wrapping_add(1),
                    prefetchable: original & 0b1000 != 0,
                });
            }
        }
        bars[index] = bar;
        index += if is_64 { 2 } else { 1 };
    }
    write_command(access, address, command);
    bars
}
