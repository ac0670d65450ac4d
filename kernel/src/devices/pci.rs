//! The PCI function list: enumeration, `lspci` lines, BAR mapping and interrupt routing.
//!
//! Configuration space is reached through ECAM when ACPI's MCFG table names
//! a window for segment 0 (QEMU `-machine q35`), else through the legacy
//! `0xCF8`/`0xCFC` ports (`-machine pc`). The list is built once at boot and
//! stays queryable ([`functions`], [`lspci_lines`]); unknown devices are
//! listed like any other. Drivers then map a BAR ([`map_bar`]), switch on
//! decoding and bus mastering ([`enable`]) and route the function's
//! interrupt to a handler ([`route_interrupt`]): MSI through the local APIC
//! where the function offers it, else its legacy INTx line on the PIC.

use alloc::{format, vec::Vec};
use core::fmt;

use drivers::pci::{self, ConfigAccess, Ecam, FunctionInfo, header, msi, msix};
use foundation::io::IoMem;
use spin::Once;
use x86_64::PhysAddr;

use crate::arch::device_interrupts::{self, DeviceHandler, VectorError};
use crate::memory::{acpi, mmio};

/// Bytes of ECAM space per bus.
const ECAM_BYTES_PER_BUS: u64 = 1 << 20;

static ACCESS: Once<ConfigAccess> = Once::new();
static FUNCTIONS: Once<Vec<FunctionInfo>> = Once::new();

/// Why a PCI operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PciError {
    /// PCI was not enumerated.
    NotInitialised,
    /// The BAR is absent or decodes I/O ports.
    NoMemoryBar,
    /// The BAR could not be mapped.
    MapFailed(mmio::MmioError),
    /// The function has neither MSI nor a routed legacy line.
    NoInterruptRoute,
    /// No vector could be registered.
    Vector(VectorError),
}

/// How a function's interrupt reaches its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptRoute {
    /// Message-signalled, to the local APIC at `vector`.
    Msi {
        /// Vector the message names.
        vector: u8,
    },
    /// Legacy INTx on PIC `line`, delivered at `vector`.
    Legacy {
        /// PIC line (interrupt line register).
        line: u8,
        /// Vector the PIC delivers it at.
        vector: u8,
    },
}

impl InterruptRoute {
    /// Returns the vector the handler is called for.
    pub const fn vector(self) -> u8 {
        match self {
            Self::Msi { vector } | Self::Legacy { vector, .. } => vector,
        }
    }
}

impl fmt::Display for InterruptRoute {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Msi { vector } => write!(formatter, "MSI vector {vector}"),
            Self::Legacy { line, vector } => {
                write!(formatter, "legacy IRQ {line} (vector {vector})")
            }
        }
    }
}

/// Which interrupt mechanism a driver wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptPreference {
    /// MSI where the function has it, else the legacy line.
    MsiFirst,
    /// The legacy line only.
    LegacyOnly,
}

/// Picks the configuration mechanism, enumerates every bus and logs the list.
pub fn init(rsdp_address: Option<u64>) {
    let access = ACCESS.call_once(|| choose_access(rsdp_address));
    let functions = FUNCTIONS.call_once(|| {
        let mut functions = Vec::new();
        pci::enumerate(access, |function| functions.push(function));
        functions
    });
    log::info!(
        "pci: {} functions through {}",
        functions.len(),
        access.name()
    );
    for line in lspci_lines() {
        log::info!("{line}");
    }
}

fn choose_access(rsdp_address: Option<u64>) -> ConfigAccess {
    let windows = rsdp_address.and_then(acpi::ecam_windows);
    let window = windows.and_then(|(windows, _)| {
        windows
            .into_iter()
            .flatten()
            .find(|window| window.segment == 0)
    });
    let Some(window) = window else {
        return legacy_access();
    };
    let start = window.base + u64::from(window.first_bus) * ECAM_BYTES_PER_BUS;
    let buses = u64::from(window.last_bus.saturating_sub(window.first_bus)) + 1;
    let ecam = mmio::map_window(PhysAddr::new(start), buses * ECAM_BYTES_PER_BUS)
        .map_err(|error| format!("{error:?}"))
        .and_then(|window_memory| {
            Ecam::new(window_memory, window.first_bus, window.last_bus)
                .map_err(|error| format!("{error:?}"))
        });
    match ecam.map(ConfigAccess::Ecam) {
        Ok(access) => {
            log::info!(
                "pci: ECAM at {start:#x} for buses {}..={}",
                window.first_bus,
                window.last_bus
            );
            access
        }
        Err(error) => {
            log::warn!("pci: ECAM window {start:#x} not mappable ({error}); legacy ports");
            legacy_access()
        }
    }
}

/// Returns the legacy-port accessor. The ports are claimed once, here (the
/// accessor lives in a `Once`); should the claim ever fail, this is a bug.
fn legacy_access() -> ConfigAccess {
    ConfigAccess::legacy().expect("PCI configuration ports claimed twice")
}

/// Returns the configuration accessor (after [`init`]).
pub fn access() -> Option<&'static ConfigAccess> {
    ACCESS.get()
}

/// Returns every function found at boot (empty before [`init`]).
pub fn functions() -> &'static [FunctionInfo] {
    FUNCTIONS.get().map_or(&[], Vec::as_slice)
}

/// Returns the functions with `vendor` and `device` IDs.
pub fn find(vendor: u16, device: u16) -> impl Iterator<Item = &'static FunctionInfo> {
    functions()
        .iter()
        .filter(move |function| function.vendor == vendor && function.device == device)
}

/// One function as `lspci` shows it, with its BARs and interrupt.
#[derive(Debug, Clone, Copy)]
pub struct LspciLine(pub &'static FunctionInfo);

impl fmt::Display for LspciLine {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let function = self.0;
        write!(
            formatter,
            "{} {} [{:02x}{:02x}]: {:04x}:{:04x} (rev {:02x})",
            function.address,
            function.class.name(),
            function.class.class,
            function.class.subclass,
            function.vendor,
            function.device,
            function.revision
        )?;
        if function.interrupt_pin != 0 {
            write!(
                formatter,
                ", INT{} IRQ {}",
                char::from(b'A' + function.interrupt_pin.saturating_sub(1).min(3)),
                function.interrupt_line
            )?;
        }
        if function.msi_capability.is_some() {
            write!(formatter, ", MSI")?;
        }
        if function.msix_capability.is_some() {
            write!(formatter, ", MSI-X")?;
        }
        for bar in function.bars.iter().flatten() {
            write!(formatter, "\n        {bar}")?;
        }
        Ok(())
    }
}

/// Returns one printable entry per function (for the boot log and `lspci`).
pub fn lspci_lines() -> impl Iterator<Item = LspciLine> {
    functions().iter().map(LspciLine)
}

/// Maps memory BAR `index` of `function` uncached; returns its base.
pub fn map_bar(function: &FunctionInfo, index: usize) -> Result<IoMem, PciError> {
    let bar = function.memory_bar(index).ok_or(PciError::NoMemoryBar)?;
    if bar.address == 0 {
        return Err(PciError::NoMemoryBar);
    }
    mmio::map_window(PhysAddr::new(bar.address), bar.size).map_err(PciError::MapFailed)
}

/// Turns on memory decoding and, with `bus_master`, bus mastering (DMA).
pub fn enable(function: &FunctionInfo, bus_master: bool) -> Result<(), PciError> {
    let access = access().ok_or(PciError::NotInitialised)?;
    let mut command = header::read_command(access, function.address) | header::COMMAND_MEMORY;
    if bus_master {
        command |= header::COMMAND_BUS_MASTER;
    }
    header::write_command(access, function.address, command);
    Ok(())
}

/// Routes MSI-X table `entry` of `function` to `handler` through the local
/// APIC: maps the table's BAR, takes a vector, programs and unmasks the
/// entry, enables MSI-X. Returns the vector and the mapped table (keep it:
/// the entry is reprogrammed through it).
pub fn route_msix(
    function: &FunctionInfo,
    entry: u16,
    handler: DeviceHandler,
) -> Result<(u8, IoMem), PciError> {
    let access = access().ok_or(PciError::NotInitialised)?;
    let offset = function.msix_capability.ok_or(PciError::NoInterruptRoute)?;
    let capability = msix::read(access, function.address, offset);
    let table = map_bar(function, capability.table_bar)?;
    let (vector, apic_id) = device_interrupts::register_msi(handler).map_err(PciError::Vector)?;
    msix::enable(
        access,
        function.address,
        &capability,
        &table,
        entry,
        apic_id,
        vector,
    )
    .map_err(|_| PciError::NoInterruptRoute)?;
    Ok((vector, table))
}

/// Routes `function`'s interrupt to `handler`: MSI through the local APIC
/// if the function has it and `preference` allows, else the legacy line the
/// firmware assigned. Returns the route (the handler gets its vector).
pub fn route_interrupt(
    function: &FunctionInfo,
    handler: DeviceHandler,
    preference: InterruptPreference,
) -> Result<InterruptRoute, PciError> {
    let access = access().ok_or(PciError::NotInitialised)?;
    if let (Some(capability), InterruptPreference::MsiFirst) = (function.msi_capability, preference)
    {
        match device_interrupts::register_msi(handler) {
            Ok((vector, apic_id)) => {
                msi::enable(access, function.address, capability, apic_id, vector);
                return Ok(InterruptRoute::Msi { vector });
            }
            Err(error) => log::warn!(
                "pci {}: MSI unavailable ({error:?}), trying the legacy line",
                function.address
            ),
        }
    }
    if let Some(capability) = function.msi_capability {
        msi::disable(access, function.address, capability);
    }
    let line = function.interrupt_line;
    if function.interrupt_pin == 0 || line == 0 || line >= 16 {
        return Err(PciError::NoInterruptRoute);
    }
    let vector = device_interrupts::register_legacy(line, handler).map_err(PciError::Vector)?;
    Ok(InterruptRoute::Legacy { line, vector })
}
