//! MSI-X: program entries of a function's MSI-X table.
//!
//! The MSI-X capability names a BAR and an offset where the table lies: 16
//! bytes per vector (message address low and high, data, vector control).
//! Each entry is an MSI of its own, addressed to a local APIC like
//! [`super::msi`]'s. Enabling MSI-X disables the function's MSI and INTx.

use foundation::io::{IoMem, IoMemError};

use super::config::{ConfigAccess, PciAddress};
use super::header::{COMMAND_BUS_MASTER, COMMAND_INTX_DISABLE, read_command, write_command};
use super::msi::MSI_ADDRESS_BASE;

/// Message control bit 15: MSI-X enabled.
const CONTROL_ENABLE: u16 = 1 << 15;
/// Message control bit 14: every vector masked.
const CONTROL_FUNCTION_MASK: u16 = 1 << 14;
/// Message control bits 0..11: table size minus one.
const CONTROL_TABLE_SIZE: u16 = 0x7FF;
/// Bytes of one table entry.
const ENTRY_BYTES: usize = 16;
/// Vector control bit 0: this entry masked.
const ENTRY_MASKED: u32 = 1;
/// Shift of the destination APIC ID in the message address.
const DESTINATION_SHIFT: u32 = 12;

/// A function's MSI-X capability, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsixCapability {
    /// Configuration offset of the capability.
    pub offset: u16,
    /// Entries in the table.
    pub table_size: u16,
    /// The BAR the table lies in.
    pub table_bar: usize,
    /// Byte offset of the table in that BAR.
    pub table_offset: usize,
}

/// Why an entry could not be programmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsixError {
    /// The entry is past the table's end.
    NoSuchEntry,
    /// The mapped BAR does not hold the table.
    Table(IoMemError),
}

/// Reads the MSI-X capability at configuration `offset` of `address`.
pub fn read(access: &ConfigAccess, address: PciAddress, offset: u16) -> MsixCapability {
    let control = access.read_u16(address, offset + 2);
    let table = access.read_u32(address, offset + 4);
    MsixCapability {
        offset,
        table_size: (control & CONTROL_TABLE_SIZE) + 1,
        table_bar: (table & 0b111) as usize,
        table_offset: (table & !0b111) as usize,
    }
}

/// Points table `entry` (in `table`, the mapped BAR [`MsixCapability::table_bar`])
/// at `vector` on the local APIC `apic_id`, unmasks it, enables MSI-X with no
/// function mask and disables INTx; bus mastering goes on (an MSI is a bus write).
pub fn enable(
    access: &ConfigAccess,
    address: PciAddress,
    capability: &MsixCapability,
    table: &IoMem,
    entry: u16,
    apic_id: u8,
    vector: u8,
) -> Result<(), MsixError> {
    if entry >= capability.table_size {
        return Err(MsixError::NoSuchEntry);
    }
    let base = capability.table_offset + usize::from(entry) * ENTRY_BYTES;
    let message_address = MSI_ADDRESS_BASE | (u32::from(apic_id) << DESTINATION_SHIFT);
    let write = |at: usize, value: u32| table.write_once(base + at, value);
    // Masked while it is rewritten, then unmasked.
    write(12, ENTRY_MASKED).map_err(MsixError::Table)?;
    write(0, message_address).map_err(MsixError::Table)?;
    write(4, 0).map_err(MsixError::Table)?;
    write(8, u32::from(vector)).map_err(MsixError::Table)?;
    write(12, 0).map_err(MsixError::Table)?;
    let control = access.read_u16(address, capability.offset + 2);
    let control = (control | CONTROL_ENABLE) & !CONTROL_FUNCTION_MASK;
    access.write_u16(address, capability.offset + 2, control);
    let command = read_command(access, address);
    write_command(
        access,
        address,
        command | COMMAND_INTX_DISABLE | COMMAND_BUS_MASTER,
    );
    Ok(())
}

/// Turns MSI-X off for `capability`.
pub fn disable(access: &ConfigAccess, address: PciAddress, capability: &MsixCapability) {
    let control = access.read_u16(address, capability.offset + 2);
    access.write_u16(address, capability.offset + 2, control & !CONTROL_ENABLE);
}
