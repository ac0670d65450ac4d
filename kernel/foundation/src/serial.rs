//! COM1 serial port driver (16550 UART through the `uart_16550` crate).
//!
//! The port is probed at start: a PC without a serial port (many laptops) yields
//! `None` instead of a console that spins forever waiting for a missing device.

use core::fmt;

use uart_16550::{Config, Uart16550Tty, backend::PioBackend};

/// I/O port base of the first serial port (COM1).
pub const COM1_BASE_PORT: u16 = 0x3F8;

/// A working serial port, ready for text output and byte input.
pub struct SerialPort {
    tty: Uart16550Tty<PioBackend>,
}

impl SerialPort {
    /// Returns COM1 initialised at the default 115200 8N1, or `None` when no
    /// 16550 answers at the port (the self test fails).
    pub fn probe_com1() -> Option<Self> {
        // SAFETY: COM1_BASE_PORT is the architectural COM1 base on PC
        // hardware; the eight registers from it are owned by this driver only,
        // since the kernel creates at most one `SerialPort` for COM1 (see the
        // console module, which holds it in a static).
        let tty = unsafe { Uart16550Tty::new_port(COM1_BASE_PORT, Config::default()) };
        tty.ok().map(|tty| Self { tty })
    }

    /// Returns the next received byte, if one is waiting.
    pub fn try_receive(&mut self) -> Option<u8> {
        self.tty.inner_mut().try_receive_byte().ok()
    }
}

impl fmt::Write for SerialPort {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.tty.write_str(text)
    }
}
