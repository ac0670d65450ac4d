//! Configuration space accessors: legacy I/O ports and memory-mapped ECAM.
//!
//! Both read and write aligned 32-bit words; narrower fields are extracted
//! by the callers. The port pair is claimed from the foundation once
//! ([`ConfigAccess::legacy`]); the ECAM window is a foundation [`IoMem`]
//! mapped by the kernel and handed over with [`Ecam::new`], which checks it
//! covers the buses it claims to.

use foundation::io::{IoMem, IoPort, PortError};
use spin::Mutex;

/// Legacy configuration address port.
const CONFIG_ADDRESS_PORT: u16 = 0xCF8;
/// Legacy configuration data port.
const CONFIG_DATA_PORT: u16 = 0xCFC;
/// Bit 31 of the configuration address: enable the access.
const CONFIG_ENABLE: u32 = 1 << 31;
/// Bytes of configuration space the legacy ports reach per function.
pub const LEGACY_CONFIG_SIZE: u16 = 256;
/// Bytes of configuration space per function through ECAM.
pub const ECAM_CONFIG_SIZE: u16 = 4096;
/// Address bits of one bus in an ECAM window (1 MiB per bus).
const ECAM_BUS_SHIFT: u64 = 20;
/// Address bits of one device in an ECAM window (32 KiB per device).
const ECAM_DEVICE_SHIFT: u64 = 15;
/// Address bits of one function in an ECAM window (4 KiB per function).
const ECAM_FUNCTION_SHIFT: u64 = 12;

/// The legacy port pair; used as a pair under the lock, so no other access
/// comes between selecting a word and moving it.
#[derive(Debug)]
pub struct LegacyPorts {
    ports: Mutex<(IoPort<u32>, IoPort<u32>)>,
}

/// A function's position on the buses: bus, device (0..32), function (0..8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    /// Bus number.
    pub bus: u8,
    /// Device number, below 32.
    pub device: u8,
    /// Function number, below 8.
    pub function: u8,
}

impl PciAddress {
    /// Returns the address `bus:device.function`; device and function are
    /// masked to their 5 and 3 bits.
    pub const fn new(bus: u8, device: u8, function: u8) -> Self {
        Self {
            bus,
            device: device & 0x1F,
            function: function & 0x7,
        }
    }
}

impl core::fmt::Display for PciAddress {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            formatter,
            "{:02x}:{:02x}.{}",
            self.bus, self.device, self.function
        )
    }
}

/// A mapped ECAM window covering buses `first_bus..=last_bus` of segment 0.
#[derive(Debug)]
pub struct Ecam {
    window: IoMem,
    first_bus: u8,
    last_bus: u8,
}

/// Why an ECAM window was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcamError {
    /// `last_bus` lies below `first_bus`.
    BadBusRange,
    /// The window is smaller than 1 MiB per bus.
    WindowTooSmall,
}

impl Ecam {
    /// Returns an accessor for `window`, the ECAM space of buses
    /// `first_bus..=last_bus`.
    pub fn new(window: IoMem, first_bus: u8, last_bus: u8) -> Result<Self, EcamError> {
        let buses = last_bus
            .checked_sub(first_bus)
            .ok_or(EcamError::BadBusRange)?;
        let needed = (u64::from(buses) + 1) << ECAM_BUS_SHIFT;
        if (window.size() as u64) < needed {
            return Err(EcamError::WindowTooSmall);
        }
        Ok(Self {
            window,
            first_bus,
            last_bus,
        })
    }

    /// Returns the byte offset of the word at `offset` of `address`.
    fn word_offset(&self, address: PciAddress, offset: u16) -> Option<usize> {
        if !(self.first_bus..=self.last_bus).contains(&address.bus) || offset >= ECAM_CONFIG_SIZE {
            return None;
        }
        let byte_offset = (u64::from(address.bus - self.first_bus) << ECAM_BUS_SHIFT)
            | (u64::from(address.device) << ECAM_DEVICE_SHIFT)
            | (u64::from(address.function) << ECAM_FUNCTION_SHIFT)
            | u64::from(offset & !0b11);
        usize::try_from(byte_offset).ok()
    }
}

/// How configuration space is reached.
#[derive(Debug)]
pub enum ConfigAccess {
    /// Ports `0xCF8`/`0xCFC` (PCI mechanism #1): buses 0..=255, 256 bytes
    /// per function.
    Legacy(LegacyPorts),
    /// A memory-mapped ECAM window (PCI Express): 4 KiB per function.
    Ecam(Ecam),
}

impl ConfigAccess {
    /// Returns the legacy accessor, claiming the two configuration ports.
    pub fn legacy() -> Result<Self, PortError> {
        let address = IoPort::claim(CONFIG_ADDRESS_PORT)?;
        let data = IoPort::claim(CONFIG_DATA_PORT)?;
        Ok(Self::Legacy(LegacyPorts {
            ports: Mutex::new((address, data)),
        }))
    }

    /// Returns a short name for the boot log.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Legacy(_) => "legacy ports 0xcf8/0xcfc",
            Self::Ecam(_) => "ECAM (PCIe, from ACPI MCFG)",
        }
    }

    /// Returns whether `bus` can be reached.
    pub fn covers_bus(&self, bus: u8) -> bool {
        match self {
            Self::Legacy(_) => true,
            Self::Ecam(ecam) => (ecam.first_bus..=ecam.last_bus).contains(&bus),
        }
    }

    /// Reads the 32-bit word at `offset` (rounded down to a multiple of 4);
    /// returns all ones where nothing answers.
    pub fn read_u32(&self, address: PciAddress, offset: u16) -> u32 {
        match self {
            Self::Legacy(legacy) => {
                if offset >= LEGACY_CONFIG_SIZE {
                    return u32::MAX;
                }
                let ports = legacy.ports.lock();
                ports.0.write(legacy_address(address, offset));
                ports.1.read()
            }
            Self::Ecam(ecam) => ecam
                .word_offset(address, offset)
                .and_then(|word| ecam.window.read_once::<u32>(word).ok())
                .unwrap_or(u32::MAX),
        }
    }

    /// Writes the 32-bit word at `offset` (rounded down to a multiple of 4).
    pub fn write_u32(&self, address: PciAddress, offset: u16, value: u32) {
        match self {
            Self::Legacy(legacy) => {
                if offset >= LEGACY_CONFIG_SIZE {
                    return;
                }
                let ports = legacy.ports.lock();
                ports.0.write(legacy_address(address, offset));
                ports.1.write(value);
            }
            Self::Ecam(ecam) => {
                if let Some(word) = ecam.word_offset(address, offset) {
                    // In range by construction; a refused access is the
                    // same as a write nothing decodes.
                    let _ = ecam.window.write_once::<u32>(word, value);
                }
            }
        }
    }

    /// Returns the 16-bit field at `offset` (2-byte aligned).
    pub fn read_u16(&self, address: PciAddress, offset: u16) -> u16 {
        (self.read_u32(address, offset) >> ((offset & 2) * 8)) as u16
    }

    /// Returns the byte at `offset`.
    pub fn read_u8(&self, address: PciAddress, offset: u16) -> u8 {
        (self.read_u32(address, offset) >> ((offset & 3) * 8)) as u8
    }

    /// Writes the 16-bit field at `offset` (2-byte aligned), keeping the
    /// other half of its word.
    pub fn write_u16(&self, address: PciAddress, offset: u16, value: u16) {
        let shift = (offset & 2) * 8;
        let word = self.read_u32(address, offset);
        let word = (word & !(0xFFFF << shift)) | (u32::from(value) << shift);
        self.write_u32(address, offset, word);
    }

    /// Returns the vendor ID ([`super::NO_VENDOR`] where nothing answers).
    pub fn read_vendor(&self, address: PciAddress) -> u16 {
        self.read_u16(address, 0)
    }
}

fn legacy_address(address: PciAddress, offset: u16) -> u32 {
    CONFIG_ENABLE
        | (u32::from(address.bus) << 16)
        | (u32::from(address.device) << 11)
        | (u32::from(address.function) << 8)
        | u32::from(offset & 0xFC)
}
