//! The QEMU exit protocol: how a test kernel's verdict becomes QEMU's exit status.
//!
//! QEMU is started with `-device isa-debug-exit,iobase=0xf4,iosize=0x04`
//! ([`DEBUG_EXIT_PORT`], [`DEBUG_EXIT_PORT_SIZE`]). Writing `value` to the port
//! makes QEMU exit with status `(value << 1) | 1`, so [`QemuExitCode::Success`]
//! gives [`EXIT_STATUS_SUCCESS`] (33) and [`QemuExitCode::Failed`] gives
//! [`EXIT_STATUS_FAILURE`] (35). This is the one definition: the kernel's
//! port write and xtask's runners both use it. The port I/O itself is not
//! here (it needs `unsafe` and the hardware).

/// I/O port of the `isa-debug-exit` device.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;
/// Width of the `isa-debug-exit` device's port, in bytes (QEMU's `iosize`).
pub const DEBUG_EXIT_PORT_SIZE: u16 = 0x04;

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
    /// Every code, success first.
    pub const ALL: [Self; 2] = [Self::Success, Self::Failed];

    /// Returns the value the kernel writes to [`DEBUG_EXIT_PORT`].
    pub const fn value(self) -> u32 {
        self as u32
    }

    /// Returns the exit status QEMU reports for this code.
    pub const fn process_status(self) -> i32 {
        debug_exit_status(self.value())
    }

    /// Returns the code whose QEMU exit status is `status`, if any.
    pub const fn from_process_status(status: i32) -> Option<Self> {
        match status {
            EXIT_STATUS_SUCCESS => Some(Self::Success),
            EXIT_STATUS_FAILURE => Some(Self::Failed),
            _ => None,
        }
    }
}

/// QEMU's exit status after the kernel wrote [`QemuExitCode::Success`].
pub const EXIT_STATUS_SUCCESS: i32 = QemuExitCode::Success.process_status();
/// QEMU's exit status after the kernel wrote [`QemuExitCode::Failed`].
pub const EXIT_STATUS_FAILURE: i32 = QemuExitCode::Failed.process_status();

/// Returns the status QEMU exits with when the guest writes `value` to the
/// device: `(value << 1) | 1`, as QEMU computes it (in 32 bits, wrapping).
pub const fn debug_exit_status(value: u32) -> i32 {
    (value.wrapping_shl(1) | 1).cast_signed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_give_33_and_35() {
        assert_eq!(QemuExitCode::Success.value(), 0x10);
        assert_eq!(QemuExitCode::Failed.value(), 0x11);
        assert_eq!(QemuExitCode::Success.process_status(), 33);
        assert_eq!(QemuExitCode::Failed.process_status(), 35);
        assert_eq!((EXIT_STATUS_SUCCESS, EXIT_STATUS_FAILURE), (33, 35));
        assert_eq!(DEBUG_EXIT_PORT, 0xf4);
        assert_eq!(DEBUG_EXIT_PORT_SIZE, 4);
    }

    #[test]
    fn statuses_map_back_to_codes() {
        for code in QemuExitCode::ALL {
            assert_eq!(
                QemuExitCode::from_process_status(code.process_status()),
                Some(code)
            );
        }
        // A clean exit, a plain failure, QEMU's own error status and a
        // signal-like status are no verdict.
        for status in [0, 1, 2, 32, 34, 36, 137, -1] {
            assert_eq!(QemuExitCode::from_process_status(status), None, "{status}");
        }
    }

    #[test]
    fn every_written_value_gives_an_odd_status() {
        assert_eq!(debug_exit_status(0), 1);
        assert_eq!(debug_exit_status(1), 3);
        // No verdict can look like a clean exit (status 0).
        for value in [0, 7, 0x7FFF_FFFF, 0x8000_0000, u32::MAX] {
            assert_eq!(debug_exit_status(value) & 1, 1, "{value:#x}");
        }
        assert_eq!(debug_exit_status(u32::MAX), -1);
    }
}
