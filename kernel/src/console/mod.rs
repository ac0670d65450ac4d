//! The kernel console: COM1 serial and the boot framebuffer, plus the logger.
//!
//! Everything printed goes to both sinks, so a real PC without a serial port
//! still shows the boot log on its screen.
//!
//! Locking rule: normal code takes the console lock with interrupts enabled
//! (a slow serial line must not hold interrupts off and lose timer ticks), and
//! waits while another agent holds it. Code running with interrupts disabled
//! (interrupt handlers) never waits: if the lock is busy, its text goes into a
//! small deferred buffer that the next normal writer prints first. So no
//! handler can deadlock on the console, and no tick is lost to it.
//!
//! Drawing is the slow part (each glyph is a hundred pixels), so code with
//! interrupts off (a fault report, a watchdog warning) sends its text to the
//! serial line at once and leaves the drawing to the next writer with
//! interrupts on; a fatal path draws everything before the machine stops.

mod deferred;
mod logger;

use core::fmt::{self, Write};

use bootloader_api::info::FrameBuffer;
use foundation::serial::SerialPort;
use spin::Mutex;

use crate::arch::cpu;
pub use drivers::framebuffer_console::FramebufferConsole;
pub use logger::init as init_logger;

/// Both output sinks; either may be missing.
struct Sinks {
    serial: Option<SerialPort>,
    screen: Option<FramebufferConsole>,
}

impl Sinks {
    /// Writes to both sinks. With interrupts off the screen's part waits in
    /// [`deferred::SCREEN`]: drawing a line of glyphs costs milliseconds
    /// (tens of them in a debug kernel), far too long to hold interrupts
    /// off, while the serial line takes the bytes at once.
    fn write(&mut self, arguments: fmt::Arguments<'_>) {
        if let Some(serial) = self.serial.as_mut() {
            // A console write cannot fail in a way worth reporting.
            let _ = serial.write_fmt(arguments);
        }
        if self.screen.is_none() {
            return;
        }
        if cpu::interrupts_enabled() {
            self.draw_backlog();
            if let Some(screen) = self.screen.as_mut() {
                let _ = screen.write_fmt(arguments);
            }
        } else {
            deferred::push(&deferred::SCREEN, arguments);
        }
    }

    /// Writes to both sinks now, whatever the interrupt state (fatal paths).
    fn write_everywhere(&mut self, arguments: fmt::Arguments<'_>) {
        if let Some(serial) = self.serial.as_mut() {
            let _ = serial.write_fmt(arguments);
        }
        if let Some(screen) = self.screen.as_mut() {
            let _ = screen.write_fmt(arguments);
        }
    }

    /// Draws the text the screen has not shown yet.
    fn draw_backlog(&mut self) {
        if let Some(screen) = self.screen.as_mut() {
            deferred::drain(&deferred::SCREEN, |text| {
                let _ = screen.write_str(text);
            });
        }
    }
}

static CONSOLE: Mutex<Sinks> = Mutex::new(Sinks {
    serial: None,
    screen: None,
});

/// Probes COM1 and makes it a console sink when a UART answers.
pub fn init_serial() {
    let port = SerialPort::probe_com1();
    CONSOLE.lock().serial = port;
}

/// Makes the bootloader's framebuffer a console sink.
pub fn init_framebuffer(framebuffer: &'static mut FrameBuffer) {
    let screen = FramebufferConsole::new(framebuffer);
    CONSOLE.lock().screen = screen;
}

/// Takes the framebuffer away from the console (which then prints to the
/// serial port only) and returns its memory and layout, for a display that
/// draws on the screen itself.
pub fn take_framebuffer() -> Option<(&'static mut [u8], bootloader_api::info::FrameBufferInfo)> {
    with_console(|sinks| sinks.screen.take())
        .flatten()
        .map(FramebufferConsole::into_parts)
}

/// Returns whether a serial port was found.
pub fn has_serial() -> bool {
    with_console(|sinks| sinks.serial.is_some()).unwrap_or(true)
}

/// Returns the framebuffer's size in pixels, if there is one.
pub fn framebuffer_size() -> Option<(usize, usize)> {
    with_console(|sinks| sinks.screen.as_ref().map(FramebufferConsole::size)).flatten()
}

/// Runs `action` on the sinks: waits for the lock in normal code, and returns
/// `None` instead of waiting when interrupts are disabled.
fn with_console<R>(action: impl FnOnce(&mut Sinks) -> R) -> Option<R> {
    loop {
        if let Some(mut sinks) = CONSOLE.try_lock() {
            return Some(action(&mut sinks));
        }
        if !cpu::interrupts_enabled() {
            return None;
        }
        core::hint::spin_loop();
    }
}

/// Writes formatted text to every console sink.
pub fn print(arguments: fmt::Arguments<'_>) {
    let printed = with_console(|sinks| {
        deferred::drain(&deferred::BUSY, |text| sinks.write(format_args!("{text}")));
        sinks.write(arguments);
    });
    if printed.is_none() {
        deferred::push(&deferred::BUSY, arguments);
    }
}

/// Writes formatted text to the serial port only (terminal control such as
/// the shell's line redraws, which the screen console would show as junk).
pub fn print_serial(arguments: fmt::Arguments<'_>) {
    let printed = with_console(|sinks| {
        deferred::drain(&deferred::BUSY, |text| sinks.write(format_args!("{text}")));
        if let Some(serial) = sinks.serial.as_mut() {
            let _ = serial.write_fmt(arguments);
        }
    });
    if printed.is_none() {
        deferred::push(&deferred::BUSY, arguments);
    }
}

/// Writes formatted text from a fatal path (panic, fatal exception).
///
/// The CPU may have stopped inside a console write with the lock held; this
/// path breaks the lock instead of deadlocking (see
/// [`cpu::break_lock_on_fatal_path`]).
pub fn emergency_print(arguments: fmt::Arguments<'_>) {
    cpu::disable_interrupts();
    cpu::break_lock_on_fatal_path(&CONSOLE);
    let mut sinks = CONSOLE.lock();
    // The machine stops after this: draw everything, however long it takes.
    sinks.draw_backlog();
    deferred::drain(&deferred::BUSY, |text| {
        sinks.write_everywhere(format_args!("{text}"))
    });
    sinks.write_everywhere(arguments);
}

/// Reads one byte from the serial port, if one is waiting.
pub fn serial_try_read() -> Option<u8> {
    with_console(|sinks| sinks.serial.as_mut().and_then(SerialPort::try_receive)).flatten()
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
