//! The kernel console: COM1 serial and the boot framebuffer, plus the logger.
//!
//! Everything printed goes to both sinks, so a real PC without a serial port
//! still shows the boot log on its screen. Each sink sits behind its own lock,
//! always taken with interrupts disabled (see `arch::interrupts` for the rule).

mod framebuffer;
mod logger;

use core::fmt::{self, Write};

use bootloader_api::info::FrameBuffer;
use drivers::serial::SerialPort;
use spin::Mutex;

use crate::arch::cpu::without_interrupts;
pub use framebuffer::FramebufferConsole;
pub use logger::init as init_logger;

static SERIAL: Mutex<Option<SerialPort>> = Mutex::new(None);
static FRAMEBUFFER: Mutex<Option<FramebufferConsole>> = Mutex::new(None);

/// Probes COM1 and makes it a console sink when a UART answers.
pub fn init_serial() {
    let port = SerialPort::probe_com1();
    without_interrupts(|| *SERIAL.lock() = port);
}

/// Makes the bootloader's framebuffer a console sink.
pub fn init_framebuffer(framebuffer: &'static mut FrameBuffer) {
    let console = FramebufferConsole::new(framebuffer);
    without_interrupts(|| *FRAMEBUFFER.lock() = console);
}

/// Returns whether a serial port was found.
pub fn has_serial() -> bool {
    without_interrupts(|| SERIAL.lock().is_some())
}

/// Returns the framebuffer's size in pixels, if there is one.
pub fn framebuffer_size() -> Option<(usize, usize)> {
    without_interrupts(|| FRAMEBUFFER.lock().as_ref().map(FramebufferConsole::size))
}

/// Writes formatted text to every console sink.
pub fn print(arguments: fmt::Arguments<'_>) {
    without_interrupts(|| write_all_sinks(arguments));
}

fn write_all_sinks(arguments: fmt::Arguments<'_>) {
    if let Some(serial) = SERIAL.lock().as_mut() {
        // A console write cannot fail in a way worth reporting.
        let _ = serial.write_fmt(arguments);
    }
    if let Some(screen) = FRAMEBUFFER.lock().as_mut() {
        let _ = screen.write_fmt(arguments);
    }
}

/// Writes formatted text from a fatal path (panic, fatal exception).
///
/// The CPU may have stopped inside a console write with a lock held; this
/// path breaks such a lock instead of deadlocking, which is sound here only
/// because the machine has one CPU and the interrupted writer never resumes.
pub fn emergency_print(arguments: fmt::Arguments<'_>) {
    crate::arch::cpu::disable_interrupts();
    crate::arch::cpu::break_lock_on_fatal_path(&SERIAL);
    crate::arch::cpu::break_lock_on_fatal_path(&FRAMEBUFFER);
    write_all_sinks(arguments);
}

/// Reads one byte from the serial port, if one is waiting.
pub fn serial_try_read() -> Option<u8> {
    without_interrupts(|| SERIAL.lock().as_mut().and_then(SerialPort::try_receive))
}

/// Prints to the kernel console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::print(format_args!($($arg)*)));
}

/// Prints to the kernel console, with a newline.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::print(format_args!("{}\n", format_args!($($arg)*))));
}
