//! QEMU's `isa-debug-exit` device: how test kernels report their verdict.
//!
//! QEMU must be started with `-device isa-debug-exit,iobase=0xf4,iosize=0x04`.
//! Writing `value` to the port makes QEMU exit with status `(value << 1) | 1`,
//! so [`QemuExitCode::Success`] gives 33 and [`QemuExitCode::Failed`] gives 35.
//! This is the one place the protocol is defined; xtask maps it back.

use foundation::io::IoPort;
use spin::Once;

/// I/O port of the `isa-debug-exit` device.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;

/// The verdict a test kernel reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum QemuExitCode {
    /// The test passed: QEMU exits with status 33.
    Success = 0x10,
    /// The test failed: QEMU exits with status 35.
    Failed = 0x11,
}

impl QemuExitCode {
    /// Returns the exit status QEMU reports for this code.
    pub const fn process_status(self) -> i32 {
        ((self as i32) << 1) | 1
    }
}

/// Asks QEMU to exit with `code`.
///
/// Returns only when the device is absent (real hardware, or QEMU started
/// without it); the caller then decides how to stop.
pub fn exit_qemu(code: QemuExitCode) {
    static PORT: Once<Option<IoPort<u32>>> = Once::new();
    if let Some(port) = PORT.call_once(|| IoPort::claim(DEBUG_EXIT_PORT).ok()) {
        port.write(code as u32);
    }
}
