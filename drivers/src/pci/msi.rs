//! Message-signalled interrupts: program a function's MSI capability.
//!
//! An MSI is a memory write the device performs: to a local APIC address
//! (`0xFEE0_0000` plus the destination APIC ID) with a data word that names
//! the vector. Enabling MSI also disables the function's INTx line.

use super::config::{ConfigAccess, PciAddress};
use super::header::{COMMAND_BUS_MASTER, COMMAND_INTX_DISABLE, read_command, write_command};

/// Message control bit: MSI enabled.
const CONTROL_ENABLE: u16 = 1 << 0;
/// Message control bits 4..7: vectors enabled (log2); 0 = one vector.
const CONTROL_MULTIPLE_ENABLE: u16 = 0b111 << 4;
/// Message control bit: the capability has a 64-bit address.
const CONTROL_64_BIT: u16 = 1 << 7;
/// Base of the local APIC's MSI address window.
pub const MSI_ADDRESS_BASE: u32 = 0xFEE0_0000;
/// Shift of the destination APIC ID in the message address.
const DESTINATION_SHIFT: u32 = 12;

/// Points the function's MSI capability at `offset` to `vector` on the
/// local APIC with ID `apic_id` (fixed delivery, edge), enables it and
/// disables INTx. Bus mastering is enabled too: an MSI is a bus write.
pub fn enable(access: &ConfigAccess, address: PciAddress, offset: u16, apic_id: u8, vector: u8) {
    let control = access.read_u16(address, offset + 2);
    let message_address = MSI_ADDRESS_BASE | (u32::from(apic_id) << DESTINATION_SHIFT);
    access.write_u32(address, offset + 4, message_address);
    let data_offset = if control & CONTROL_64_BIT != 0 {
        access.write_u32(address, offset + 8, 0);
        offset + 12
    } else {
        offset + 8
    };
    access.write_u16(address, data_offset, u16::from(vector));
    let control = (control & !CONTROL_MULTIPLE_ENABLE) | CONTROL_ENABLE;
    access.write_u16(address, offset + 2, control);
    let command = read_command(access, address);
    write_command(
        access,
        address,
        command | COMMAND_INTX_DISABLE | COMMAND_BUS_MASTER,
    );
}

/// Turns MSI off for the capability at `offset` and lets INTx through again.
pub fn disable(access: &ConfigAccess, address: PciAddress, offset: u16) {
    let control = access.read_u16(address, offset + 2);
    access.write_u16(address, offset + 2, control & !CONTROL_ENABLE);
    let command = read_command(access, address);
    write_command(access, address, command & !COMMAND_INTX_DISABLE);
}
