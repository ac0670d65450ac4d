//! The PS/2 keyboard controller's data port: one scancode byte per interrupt.
//!
//! The firmware leaves the 8042 controller set up with scancode set 1
//! translation and IRQ 1 enabled (on QEMU and on PCs with legacy USB
//! emulation). Decoding scancodes into keys is the `pc-keyboard` crate's job
//! in the kernel; this module only reads the byte.

use x86_64::instructions::port::PortReadOnly;

/// The controller's data port.
const DATA_PORT: u16 = 0x60;

/// Reads the scancode byte waiting in the controller (call from the IRQ 1
/// handler, which runs only when a byte is there).
pub fn read_scancode() -> u8 {
    let mut port = PortReadOnly::<u8>::new(DATA_PORT);
    // SAFETY: reading 0x60 only takes the byte the controller latched; the
    // keyboard interrupt handler is the port's only reader.
    unsafe { port.read() }
}
