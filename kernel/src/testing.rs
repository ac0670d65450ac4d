//! Test-kernel support: the run mode and the QEMU verdict.
//!
//! The exit protocol itself lives in `drivers::qemu_exit`; this module decides
//! when to use it. In [`Mode::Test`] a panic or fatal exception exits QEMU as
//! failed; in [`Mode::Normal`] it halts the machine with the report on screen.

use core::sync::atomic::{AtomicBool, Ordering};

pub use drivers::qemu_exit::QemuExitCode;

use crate::Mode;

static TEST_MODE: AtomicBool = AtomicBool::new(false);

/// Records the run mode.
pub fn set_mode(mode: Mode) {
    TEST_MODE.store(mode == Mode::Test, Ordering::Relaxed);
}

/// Returns whether this is a test kernel.
pub fn is_test_mode() -> bool {
    TEST_MODE.load(Ordering::Relaxed)
}

/// Exits QEMU with `code`; halts if the exit device is missing.
pub fn exit(code: QemuExitCode) -> ! {
    drivers::qemu_exit::exit_qemu(code);
    crate::console::emergency_print(format_args!(
        "isa-debug-exit device missing: halting with verdict {code:?}\n"
    ));
    crate::arch::cpu::halt_forever()
}

/// Reports success and exits QEMU.
pub fn pass() -> ! {
    crate::println!("[test passed]");
    exit(QemuExitCode::Success)
}

/// Reports failure with `reason` and exits QEMU.
pub fn fail(reason: &str) -> ! {
    crate::println!("[test failed] {reason}");
    exit(QemuExitCode::Failed)
}

/// Stops after a fatal error: exits QEMU as failed in a test kernel, halts
/// otherwise.
pub fn fatal_stop() -> ! {
    if is_test_mode() {
        exit(QemuExitCode::Failed)
    }
    crate::console::emergency_print(format_args!("kernel halted\n"));
    crate::arch::cpu::halt_forever()
}
