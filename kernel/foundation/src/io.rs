//! Device access for drivers: claimed I/O ports and bounds-checked MMIO windows.
//!
//! Drivers above the foundation never touch a port number or a device
//! address directly. They hold:
//! - an [`IoPort`], one port claimed once for the life of the kernel
//!   ([`IoPort::claim`]); ports the foundation drives itself (the PICs, the
//!   PIT, COM1) are never handed out, and no port is handed out twice;
//! - an [`IoMem`], an uncached mapping of a device's memory (a PCI BAR, an
//!   ECAM window) made by [`crate::memory::mmio`], with `read_once` and
//!   `write_once` at byte offsets that are checked against the window's size
//!   and the value's alignment.
//!
//! What a written value makes the device do (a DMA transfer, a BAR moved) is
//! the driver's business: the foundation bounds the *access*, as OSTD's
//! `IoPort`/`IoMem` do; DMA targets come only from [`crate::memory::dma`]
//! buffers whose bus addresses the driver reads from the buffer.

use core::{marker::PhantomData, ptr::NonNull};

use spin::Mutex;
use x86_64::instructions::port::{PortRead, PortWrite};

use crate::arch::cpu::without_interrupts;

/// Ports the foundation drives itself; [`IoPort::claim`] refuses them.
const FOUNDATION_PORTS: &[(u16, u16)] = &[
    // Primary PIC command/data.
    (0x20, 0x21),
    // PIT channels and mode register.
    (0x40, 0x43),
    // Secondary PIC command/data.
    (0xA0, 0xA1),
    // COM1's eight UART registers.
    (0x3F8, 0x3FF),
];

/// Ports in the x86 I/O space.
const PORT_COUNT: usize = 1 << 16;

/// Claimed ports, one bit each.
static CLAIMED: Mutex<[u64; PORT_COUNT / 64]> = Mutex::new([0; PORT_COUNT / 64]);

/// Why a port could not be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortError {
    /// The foundation drives this port itself.
    Reserved,
    /// Another driver claimed it already.
    Taken,
}

/// A value that can be moved through a port: `u8`, `u16` or `u32`.
pub trait PortValue: Copy + sealed::Sealed {
    /// Bytes the value occupies in port space.
    const WIDTH: u16;
    /// Reads the value from `port`.
    fn read_from(port: u16) -> Self;
    /// Writes the value to `port`.
    fn write_to(port: u16, value: Self);
}

mod sealed {
    /// Only the three port widths implement `PortValue`.
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
}

macro_rules! port_value {
    ($type:ty, $width:expr) => {
        impl PortValue for $type {
            const WIDTH: u16 = $width;

            fn read_from(port: u16) -> Self {
                // SAFETY: `port` belongs to a claimed `IoPort` (every caller is
                // in this module); port reads touch no memory.
                unsafe { <$type as PortRead>::read_from_port(port) }
            }

            fn write_to(port: u16, value: Self) {
                // SAFETY: as in `read_from`; port writes touch no memory.
                unsafe { <$type as PortWrite>::write_to_port(port, value) }
            }
        }
    };
}

port_value!(u8, 1);
port_value!(u16, 2);
port_value!(u32, 4);

/// One claimed I/O port, read and written `T` at a time.
#[derive(Debug)]
pub struct IoPort<T: PortValue> {
    port: u16,
    width: PhantomData<T>,
}

impl<T: PortValue> IoPort<T> {
    /// Claims `port` (and the bytes after it that a `T` spans) for good.
    ///
    /// Returns an error when the foundation owns any of those ports or a
    /// driver claimed one before.
    pub fn claim(port: u16) -> Result<Self, PortError> {
        let last = port.checked_add(T::WIDTH - 1).ok_or(PortError::Reserved)?;
        let reserved = FOUNDATION_PORTS
            .iter()
            .any(|&(first, end)| port <= end && first <= last);
        if reserved {
            return Err(PortError::Reserved);
        }
        without_interrupts(|| {
            let mut claimed = CLAIMED.lock();
            let taken = (port..=last)
                .any(|each| claimed[usize::from(each) / 64] & (1 << (usize::from(each) % 64)) != 0);
            if taken {
                return Err(PortError::Taken);
            }
            for each in port..=last {
                claimed[usize::from(each) / 64] |= 1 << (usize::from(each) % 64);
            }
            Ok(Self {
                port,
                width: PhantomData,
            })
        })
    }

    /// Returns the port number.
    pub fn number(&self) -> u16 {
        self.port
    }

    /// Reads a value from the port.
    pub fn read(&self) -> T {
        T::read_from(self.port)
    }

    /// Writes `value` to the port.
    pub fn write(&self, value: T) {
        T::write_to(self.port, value);
    }
}

/// Why an MMIO access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMemError {
    /// The access reaches past the end of the window.
    OutOfBounds,
    /// The offset is not a multiple of the value's size.
    Misaligned,
}

/// A value that can be read or written in one MMIO access.
pub trait MmioValue: Copy + mmio_sealed::Sealed {}

mod mmio_sealed {
    /// Only plain integers of 1, 2, 4 and 8 bytes implement `MmioValue`.
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

impl MmioValue for u8 {}
impl MmioValue for u16 {}
impl MmioValue for u32 {}
impl MmioValue for u64 {}

/// An uncached window onto a device's memory (a BAR, an ECAM window).
///
/// Made only by [`crate::memory::mmio`]; the mapping is permanent, so the
/// window stays valid however long a driver keeps it.
#[derive(Debug)]
pub struct IoMem {
    base: NonNull<u8>,
    size: usize,
    physical: u64,
}

// SAFETY: the window is permanently mapped device memory; every access is a
// single volatile read or write, valid from any CPU.
unsafe impl Send for IoMem {}
// SAFETY: as above; volatile accesses through a shared reference create no
// Rust-level aliasing (the bytes are never borrowed as ordinary memory).
unsafe impl Sync for IoMem {}

impl IoMem {
    /// Returns a window of `size` bytes at `base` (device memory at `physical`).
    ///
    /// # Safety
    /// 1. `base..base + size` is an uncached mapping of device memory that
    ///    stays mapped for the kernel's whole life.
    /// 2. Nothing uses that mapping as ordinary memory.
    pub(crate) const unsafe fn new(base: NonNull<u8>, size: usize, physical: u64) -> Self {
        Self {
            base,
            size,
            physical,
        }
    }

    /// Returns the window's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Returns the physical address of the window's first byte.
    pub fn physical_address(&self) -> u64 {
        self.physical
    }

    fn checked<T: MmioValue>(&self, offset: usize) -> Result<NonNull<T>, IoMemError> {
        let width = core::mem::size_of::<T>();
        if !offset.is_multiple_of(width) {
            return Err(IoMemError::Misaligned);
        }
        let end = offset.checked_add(width).ok_or(IoMemError::OutOfBounds)?;
        if end > self.size {
            return Err(IoMemError::OutOfBounds);
        }
        // SAFETY: `offset + width <= size`, so the result lies inside the
        // window (condition 1 of `new`).
        Ok(unsafe { self.base.add(offset) }.cast::<T>())
    }

    /// Reads the `T` at byte `offset` with one volatile access.
    pub fn read_once<T: MmioValue>(&self, offset: usize) -> Result<T, IoMemError> {
        let pointer = self.checked::<T>(offset)?;
        // SAFETY: `checked` keeps the access inside the mapped window and
        // aligned; device memory is only ever accessed volatilely.
        Ok(unsafe { pointer.read_volatile() })
    }

    /// Writes `value` at byte `offset` with one volatile access.
    pub fn write_once<T: MmioValue>(&self, offset: usize, value: T) -> Result<(), IoMemError> {
        let pointer = self.checked::<T>(offset)?;
        // SAFETY: as in `read_once`.
        unsafe { pointer.write_volatile(value) };
        Ok(())
    }

    /// Returns the address of bytes `offset..offset + len` of the window, if
    /// they lie inside it.
    fn checked_range(&self, offset: usize, len: usize) -> Result<NonNull<u8>, IoMemError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => {
                // SAFETY: `offset <= end <= size`: inside the window or one
                // past its end (condition 1 of `new`).
                Ok(unsafe { self.base.add(offset) })
            }
            _ => Err(IoMemError::OutOfBounds),
        }
    }

    /// Copies `bytes` into the window from byte `offset`, with one bounds
    /// check for the whole copy: volatile bytes up to the first 8-byte
    /// boundary, volatile 8-byte stores, volatile bytes for the tail. For
    /// device memory that is memory (a shared-memory BAR), where a
    /// word-by-word copy costs a bounds check and a call per word.
    pub fn write_bytes(&self, offset: usize, bytes: &[u8]) -> Result<(), IoMemError> {
        let start = self.checked_range(offset, bytes.len())?;
        let head = start.align_offset(8).min(bytes.len());
        let (first, rest) = bytes.split_at(head);
        let (words, tail) = rest.as_chunks::<8>();
        for (index, byte) in first.iter().enumerate() {
            // SAFETY: `index < bytes.len()`: inside the checked range, and
            // device memory is only ever accessed volatilely.
            unsafe { start.add(index).write_volatile(*byte) };
        }
        // SAFETY: `start + head` lies inside the checked range (or at its end
        // when nothing follows) and is 8-byte aligned.
        let aligned = unsafe { start.add(head) }.cast::<u64>();
        for (index, word) in words.iter().enumerate() {
            // SAFETY: word `index` ends at `head + 8 * (index + 1) <= bytes.len()`,
            // inside the checked range; aligned as above; volatile.
            unsafe { aligned.add(index).write_volatile(u64::from_ne_bytes(*word)) };
        }
        let done = head + 8 * words.len();
        for (index, byte) in tail.iter().enumerate() {
            // SAFETY: `done + index < bytes.len()`: inside the checked range.
            unsafe { start.add(done + index).write_volatile(*byte) };
        }
        Ok(())
    }

    /// Copies `buffer.len()` bytes of the window from byte `offset` into
    /// `buffer`, as [`Self::write_bytes`] does the other way.
    pub fn read_bytes(&self, offset: usize, buffer: &mut [u8]) -> Result<(), IoMemError> {
        let start = self.checked_range(offset, buffer.len())?;
        let head = start.align_offset(8).min(buffer.len());
        let (first, rest) = buffer.split_at_mut(head);
        let (words, tail) = rest.as_chunks_mut::<8>();
        for (index, byte) in first.iter_mut().enumerate() {
            // SAFETY: as in `write_bytes`.
            *byte = unsafe { start.add(index).read_volatile() };
        }
        // SAFETY: as in `write_bytes`.
        let aligned = unsafe { start.add(head) }.cast::<u64>();
        for (index, word) in words.iter_mut().enumerate() {
            // SAFETY: as in `write_bytes`.
            *word = unsafe { aligned.add(index).read_volatile() }.to_ne_bytes();
        }
        let done = head + 8 * words.len();
        for (index, byte) in tail.iter_mut().enumerate() {
            // SAFETY: as in `write_bytes`.
            *byte = unsafe { start.add(done + index).read_volatile() };
        }
        Ok(())
    }

    /// Returns the part of the window from `offset`, `size` bytes long.
    pub fn slice(&self, offset: usize, size: usize) -> Result<IoMem, IoMemError> {
        let end = offset.checked_add(size).ok_or(IoMemError::OutOfBounds)?;
        if end > self.size || size == 0 {
            return Err(IoMemError::OutOfBounds);
        }
        // SAFETY: the sub-range lies inside this window, which satisfies
        // both conditions of `new` for its whole extent.
        Ok(unsafe { Self::new(self.base.add(offset), size, self.physical + offset as u64) })
    }
}
