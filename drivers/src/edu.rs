//! QEMU's `edu` educational PCI device: factorial jobs, a DMA engine, interrupts.
//!
//! The register map follows QEMU's `docs/specs/edu.rst`: BAR 0 is 1 MiB of
//! MMIO; registers below `0x80` take 32-bit accesses only, the DMA registers
//! from `0x80` take 64-bit ones. A factorial is computed by a device thread
//! (the result wraps at 32 bits); the DMA engine moves up to 4 KiB between
//! RAM and the device's buffer at device address [`DMA_BUFFER_ADDRESS`],
//! completing some 100 ms of virtual time after it is started. Bus
//! addresses given to the engine must sit below [`DEFAULT_DMA_LIMIT`]:
//! the device masks them to 28 bits.
//!
//! The device cannot abort a factorial. [`Edu::quiesce`] is the reset this
//! driver offers: interrupts off and acknowledged, and it reports whether the
//! device is idle again, so the caller can keep it out of service until then.

use foundation::io::{IoMem, MmioValue};

/// PCI vendor ID of QEMU's own devices.
pub const VENDOR_ID: u16 = 0x1234;
/// PCI device ID of `edu`.
pub const DEVICE_ID: u16 = 0x11E8;
/// Size of BAR 0.
pub const MMIO_SIZE: u64 = 1 << 20;
/// Device address of its DMA buffer.
pub const DMA_BUFFER_ADDRESS: u64 = 0x4_0000;
/// Size of the device's DMA buffer.
pub const DMA_BUFFER_SIZE: usize = 4096;
/// Largest transfer this driver starts: one byte short of the buffer,
/// because QEMU up to 7.2 checks the end exclusively and stops the whole
/// machine with a hardware error on a transfer that ends exactly at the
/// buffer's end.
pub const MAX_DMA_TRANSFER: usize = DMA_BUFFER_SIZE - 1;
/// Bus addresses the engine accepts by default: below 2^28 (256 MiB).
pub const DEFAULT_DMA_LIMIT: u64 = 1 << 28;

/// Register offsets in BAR 0.
mod register {
    /// Identification, `0xRRrr00ed` (RO).
    pub const IDENTIFICATION: usize = 0x00;
    /// Liveness check: reads back the bitwise inverse of the last write.
    pub const LIVENESS: usize = 0x04;
    /// Factorial input and result.
    pub const FACTORIAL: usize = 0x08;
    /// Status: bit 0 computing (RO), bit 7 raise an interrupt when done.
    pub const STATUS: usize = 0x20;
    /// Interrupt status (RO).
    pub const INTERRUPT_STATUS: usize = 0x24;
    /// Interrupt raise (WO).
    pub const INTERRUPT_RAISE: usize = 0x60;
    /// Interrupt acknowledge (WO).
    pub const INTERRUPT_ACKNOWLEDGE: usize = 0x64;
    /// DMA source address (64-bit).
    pub const DMA_SOURCE: usize = 0x80;
    /// DMA destination address (64-bit).
    pub const DMA_DESTINATION: usize = 0x88;
    /// DMA byte count (64-bit).
    pub const DMA_COUNT: usize = 0x90;
    /// DMA command (64-bit).
    pub const DMA_COMMAND: usize = 0x98;
}

/// Identification value's low 16 bits.
const IDENTIFICATION_MAGIC: u32 = 0x00ED;
/// Status bit: a factorial is being computed.
const STATUS_COMPUTING: u32 = 0x01;
/// Status bit: raise an interrupt when the factorial is done.
const STATUS_INTERRUPT_ON_FACTORIAL: u32 = 0x80;
/// DMA command bit: start (reads back set while running).
const DMA_START: u64 = 0x1;
/// DMA command bit: direction device → RAM.
const DMA_TO_RAM: u64 = 0x2;
/// DMA command bit: raise [`INTERRUPT_DMA`] when done.
const DMA_INTERRUPT: u64 = 0x4;
/// Interrupt status bit a finished factorial raises.
pub const INTERRUPT_FACTORIAL: u32 = 0x001;
/// Interrupt status bit a finished DMA raises.
pub const INTERRUPT_DMA: u32 = 0x100;
/// Test patterns for the liveness check.
const LIVENESS_PATTERNS: [u32; 3] = [0x0000_0000, 0xA5A5_5A5A, 0x1234_5678];

/// Why the device refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EduError {
    /// The identification register does not read `0xRRrr00ed`.
    BadIdentification(u32),
    /// The liveness register did not invert a pattern.
    NotAlive {
        /// Pattern written.
        wrote: u32,
        /// Value read back.
        read: u32,
    },
    /// A factorial or DMA is still running.
    Busy,
    /// The transfer does not fit the device buffer or the DMA limit.
    BadTransfer,
    /// The mapped BAR (this many bytes) is smaller than the register file.
    BarTooSmall(u64),
}

/// Which way a DMA transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaDirection {
    /// RAM → device buffer.
    ToDevice,
    /// Device buffer → RAM.
    ToRam,
}

/// One `edu` device, reached through its mapped BAR 0.
#[derive(Debug)]
pub struct Edu {
    registers: IoMem,
}

/// One register of the device, read and written whole.
struct Register<'a, T: MmioValue> {
    registers: &'a IoMem,
    offset: usize,
    width: core::marker::PhantomData<T>,
}

impl<T: MmioValue + Default> Register<'_, T> {
    /// Returns the register's value. The offset is a register constant
    /// inside the BAR, whose size `Edu::new` checked, so the access is
    /// never refused; a refused one would read as zero.
    fn read(&self) -> T {
        self.registers.read_once(self.offset).unwrap_or_default()
    }

    /// Writes `value` (never refused, as in `read`).
    fn write(&self, value: T) {
        let _ = self.registers.write_once(self.offset, value);
    }
}

impl Edu {
    /// Returns a driver for the device whose BAR 0 is `bar`; checks the
    /// mapping covers every register (not yet that the device answers: see
    /// [`Edu::check`]).
    pub fn new(bar: IoMem) -> Result<Self, EduError> {
        if (bar.size() as u64) < MMIO_SIZE {
            return Err(EduError::BarTooSmall(bar.size() as u64));
        }
        Ok(Self { registers: bar })
    }

    fn register32(&self, offset: usize) -> Register<'_, u32> {
        debug_assert!(offset < register::DMA_SOURCE && offset.is_multiple_of(4));
        Register {
            registers: &self.registers,
            offset,
            width: core::marker::PhantomData,
        }
    }

    fn register64(&self, offset: usize) -> Register<'_, u64> {
        debug_assert!(offset >= register::DMA_SOURCE && offset.is_multiple_of(8));
        Register {
            registers: &self.registers,
            offset,
            width: core::marker::PhantomData,
        }
    }

    /// Returns the identification register.
    pub fn identification(&self) -> u32 {
        self.register32(register::IDENTIFICATION).read()
    }

    /// Checks identification and liveness; returns the version
    /// `(major, minor)`.
    pub fn check(&self) -> Result<(u8, u8), EduError> {
        let identification = self.identification();
        if identification & 0xFFFF != IDENTIFICATION_MAGIC {
            return Err(EduError::BadIdentification(identification));
        }
        for pattern in LIVENESS_PATTERNS {
            let read = self.echo(pattern);
            if read != pattern {
                return Err(EduError::NotAlive {
                    wrote: pattern,
                    read: !read,
                });
            }
        }
        Ok(((identification >> 24) as u8, (identification >> 16) as u8))
    }

    /// Sends `value` through the liveness register and returns it as the
    /// device gave it back (inverted by the device, re-inverted here): a
    /// register round trip of one word.
    pub fn echo(&self, value: u32) -> u32 {
        self.register32(register::LIVENESS).write(value);
        !self.register32(register::LIVENESS).read()
    }

    /// Returns whether a factorial is being computed.
    pub fn factorial_busy(&self) -> bool {
        self.register32(register::STATUS).read() & STATUS_COMPUTING != 0
    }

    /// Starts computing `input`! (wrapping at 32 bits); with `interrupt`
    /// the device raises [`INTERRUPT_FACTORIAL`] when done.
    pub fn start_factorial(&self, input: u32, interrupt: bool) -> Result<(), EduError> {
        if self.factorial_busy() {
            return Err(EduError::Busy);
        }
        let status = if interrupt {
            STATUS_INTERRUPT_ON_FACTORIAL
        } else {
            0
        };
        self.register32(register::STATUS).write(status);
        self.register32(register::FACTORIAL).write(input);
        Ok(())
    }

    /// Returns the factorial register (the result once not busy).
    pub fn factorial_result(&self) -> u32 {
        self.register32(register::FACTORIAL).read()
    }

    /// Returns the pending interrupt causes.
    pub fn interrupt_status(&self) -> u32 {
        self.register32(register::INTERRUPT_STATUS).read()
    }

    /// Clears the interrupt causes in `causes` (lowers INTx once none is left).
    pub fn acknowledge(&self, causes: u32) {
        self.register32(register::INTERRUPT_ACKNOWLEDGE)
            .write(causes);
    }

    /// Raises an interrupt with `causes` by software (for testing routing).
    pub fn raise(&self, causes: u32) {
        self.register32(register::INTERRUPT_RAISE).write(causes);
    }

    /// Returns whether a DMA transfer is running.
    pub fn dma_busy(&self) -> bool {
        self.register64(register::DMA_COMMAND).read() & DMA_START != 0
    }

    /// Starts a DMA of `count` bytes between bus address `ram_address`
    /// and `device_offset` in the device buffer.
    ///
    /// The device's only view of RAM is the bus address: the caller must
    /// own the RAM range until [`Edu::dma_busy`] reads false. The range is
    /// checked against [`DEFAULT_DMA_LIMIT`] and the device buffer's size.
    pub fn start_dma(
        &self,
        direction: DmaDirection,
        ram_address: u64,
        device_offset: usize,
        count: usize,
        interrupt: bool,
    ) -> Result<(), EduError> {
        let fits_device = device_offset
            .checked_add(count)
            .is_some_and(|end| end <= MAX_DMA_TRANSFER);
        let fits_limit = ram_address
            .checked_add(count as u64)
            .is_some_and(|end| end <= DEFAULT_DMA_LIMIT);
        if !fits_device || !fits_limit || count == 0 {
            return Err(EduError::BadTransfer);
        }
        if self.dma_busy() {
            return Err(EduError::Busy);
        }
        let device_address = DMA_BUFFER_ADDRESS + device_offset as u64;
        let (source, destination, direction_bit) = match direction {
            DmaDirection::ToDevice => (ram_address, device_address, 0),
            DmaDirection::ToRam => (device_address, ram_address, DMA_TO_RAM),
        };
        self.register64(register::DMA_SOURCE).write(source);
        self.register64(register::DMA_DESTINATION)
            .write(destination);
        self.register64(register::DMA_COUNT).write(count as u64);
        let interrupt_bit = if interrupt { DMA_INTERRUPT } else { 0 };
        self.register64(register::DMA_COMMAND)
            .write(DMA_START | direction_bit | interrupt_bit);
        Ok(())
    }

    /// Quiets the device: no interrupt on factorial completion, every
    /// pending interrupt cause acknowledged. Returns whether it is idle
    /// (no factorial and no DMA running); if not, call again later.
    pub fn quiesce(&self) -> bool {
        self.register32(register::STATUS).write(0);
        self.acknowledge(u32::MAX);
        !self.factorial_busy() && !self.dma_busy()
    }
}
