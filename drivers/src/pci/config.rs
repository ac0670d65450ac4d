//! Configuration space accessors: legacy I/O ports and memory-mapped ECAM.
//!
//! Both read and write aligned 32-bit words; narrower fields are extracted
//! by the callers. The port pair is a fixed, well-known legacy resource; the
//! ECAM window is mapped by the kernel and handed over with [`Ecam::new`],
//! whose contract makes every later access sound.

use core::ptr::NonNull;

use spin::Mutex;
use volatile::VolatilePtr;
use x86_64::instructions::port::Port;

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

/// The address port and data port must be used as a pair without another
/// access in between.
static LEGACY_PORTS: Mutex<()> = Mutex::new(());

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
    base: NonNull<u8>,
    first_bus: u8,
    last_bus: u8,
}

// SAFETY: the window is device memory mapped for the kernel's lifetime
// (see `Ecam::new`); volatile word accesses to it are valid from any CPU.
unsafe impl Send for Ecam {}
// SAFETY: as above; configuration accesses have no Rust-level aliasing
// concerns (every access is a volatile read or write of one word).
unsafe impl Sync for Ecam {}

impl Ecam {
    /// Returns an accessor for the ECAM window mapped at `base`.
    ///
    /// # Safety
    /// 1. `base` maps the ECAM window of buses `first_bus..=last_bus`
    ///    (`(last_bus - first_bus + 1) << 20` bytes), uncached, for as long
    ///    as the accessor lives.
    /// 2. Nothing else uses that mapping as ordinary memory.
    pub const unsafe fn new(base: NonNull<u8>, first_bus: u8, last_bus: u8) -> Self {
        Self {
            base,
            first_bus,
            last_bus,
        }
    }

    fn word(&self, address: PciAddress, offset: u16) -> Option<VolatilePtr<'_, u32>> {
        if !(self.first_bus..=self.last_bus).contains(&address.bus) || offset >= ECAM_CONFIG_SIZE {
            return None;
        }
        let byte_offset = (u64::from(address.bus - self.first_bus) << ECAM_BUS_SHIFT)
            | (u64::from(address.device) << ECAM_DEVICE_SHIFT)
            | (u64::from(address.function) << ECAM_FUNCTION_SHIFT)
            | u64::from(offset & !0b11);
        // SAFETY: the offset lies inside the window (bus checked against
        // its range, device/function masked, offset below 4 KiB), which
        // `new`'s contract says is mapped; it is 4-byte aligned.
        Some(unsafe { VolatilePtr::new(self.base.add(byte_offset as usize).cast::<u32>()) })
    }
}

/// How configuration space is reached.
#[derive(Debug)]
pub enum ConfigAccess {
    /// Ports `0xCF8`/`0xCFC` (PCI mechanism #1): buses 0..=255, 256 bytes
    /// per function.
    Legacy,
    /// A memory-mapped ECAM window (PCI Express): 4 KiB per function.
    Ecam(Ecam),
}

impl ConfigAccess {
    /// Returns a short name for the boot log.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Legacy => "legacy ports 0xcf8/0xcfc",
            Self::Ecam(_) => "ECAM (PCIe, from ACPI MCFG)",
        }
    }

    /// Returns whether `bus` can be reached.
    pub fn covers_bus(&self, bus: u8) -> bool {
        match self {
            Self::Legacy => true,
            Self::Ecam(ecam) => (ecam.first_bus..=ecam.last_bus).contains(&bus),
        }
    }

    /// Returns the bytes of configuration space per function.
    pub const fn config_size(&self) -> u16 {
        match self {
            Self::Legacy => LEGACY_CONFIG_SIZE,
            Self::Ecam(_) => ECAM_CONFIG_SIZE,
        }
    }

    /// Reads the 32-bit word at `offset` (rounded down to a multiple of 4);
    /// returns all ones where nothing answers.
    pub fn read_u32(&self, address: PciAddress, offset: u16) -> u32 {
        match self {
            Self::Legacy => {
                if offset >= LEGACY_CONFIG_SIZE {
                    return u32::MAX;
                }
                let _pair = LEGACY_PORTS.lock();
                let mut address_port = Port::<u32>::new(CONFIG_ADDRESS_PORT);
                let mut data_port = Port::<u32>::new(CONFIG_DATA_PORT);
                // SAFETY: the configuration ports are a fixed platform
                // resource used only here, under `LEGACY_PORTS`; selecting
                // and reading a configuration word has no other effect.
                unsafe {
                    address_port.write(legacy_address(address, offset));
                    data_port.read()
                }
            }
            Self::Ecam(ecam) => ecam
                .word(address, offset)
                .map_or(u32::MAX, |word| word.read()),
        }
    }

    /// Writes the 32-bit word at `offset` (rounded down to a multiple of 4).
    pub fn write_u32(&self, address: PciAddress, offset: u16, value: u32) {
        match self {
            Self::Legacy => {
                if offset >= LEGACY_CONFIG_SIZE {
                    return;
                }
                let _pair = LEGACY_PORTS.lock();
                let mut address_port = Port::<u32>::new(CONFIG_ADDRESS_PORT);
                let mut data_port = Port::<u32>::new(CONFIG_DATA_PORT);
                // SAFETY: as in `read_u32`; what the written value does to
                // the device is the caller's (safe, checked) business.
                unsafe {
                    address_port.write(legacy_address(address, offset));
                    data_port.write(value);
                }
            }
            Self::Ecam(ecam) => {
                if let Some(word) = ecam.word(address, offset) {
                    word.write(value);
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
