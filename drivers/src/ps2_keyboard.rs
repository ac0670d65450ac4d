//! The PS/2 keyboard controller's data port: one scancode byte per interrupt.
//!
//! The firmware leaves the 8042 controller set up with scancode set 1
//! translation and IRQ 1 enabled (on QEMU and on PCs with legacy USB
//! emulation). Decoding scancodes into keys is the `pc-keyboard` crate's job
//! in the kernel; this module only reads the byte.

use foundation::io::IoPort;
use spin::Once;

/// The controller's data port.
const DATA_PORT: u16 = 0x60;

/// The data port, claimed at the first read (`None` if it was taken).
static DATA: Once<Option<IoPort<u8>>> = Once::new();

/// Reads the scancode byte waiting in the controller (call from the IRQ 1
/// handler, which runs only when a byte is there); 0 if the port could not
/// be claimed.
pub fn read_scancode() -> u8 {
    DATA.call_once(|| IoPort::claim(DATA_PORT).ok())
        .as_ref()
        .map_or(0, IoPort::read)
}
