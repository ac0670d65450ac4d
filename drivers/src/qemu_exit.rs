//! QEMU's `isa-debug-exit` device: the port write that reports a test kernel's verdict.
//!
//! QEMU must be started with `-device isa-debug-exit,iobase=0xf4,iosize=0x04`.
//! The protocol (port, codes, the exit statuses 33 and 35 they become) is
//! defined once, in `kernel_core::qemu_exit`, which xtask reads too; this
//! driver only claims the port and writes the code.

use foundation::io::IoPort;
pub use kernel_core::qemu_exit::{DEBUG_EXIT_PORT, QemuExitCode};
use spin::Once;

/// Asks QEMU to exit with `code`.
///
/// Returns only when the device is absent (real hardware, or QEMU started
/// without it); the caller then decides how to stop.
pub fn exit_qemu(code: QemuExitCode) {
    static PORT: Once<Option<IoPort<u32>>> = Once::new();
    if let Some(port) = PORT.call_once(|| IoPort::claim(DEBUG_EXIT_PORT).ok()) {
        port.write(code.value());
    }
}
