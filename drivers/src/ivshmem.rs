//! QEMU's `ivshmem` PCI device (1af4:1110): memory shared with the host.
//!
//! Per QEMU's `docs/specs/ivshmem-spec.rst`: BAR 0 holds 256 bytes of
//! registers (interrupt mask and status, the peer's position, the
//! doorbell; only `ivshmem-doorbell` uses them), BAR 1 the MSI-X table
//! (`ivshmem-doorbell` only), and BAR 2 maps the shared memory object, a
//! host file (`-object memory-backend-file,share=on,...`) that a process on
//! the host maps as well. This driver gives access to both windows; what
//! the shared memory holds is the business of the protocol on top of it
//! (the tensor accelerator's rings, issue 13).

use foundation::io::{IoMem, IoMemError, MmioValue};

/// PCI vendor ID (Red Hat / Qumranet, virtio's).
pub const VENDOR_ID: u16 = 0x1AF4;
/// PCI device ID of `ivshmem` (plain and doorbell).
pub const DEVICE_ID: u16 = 0x1110;
/// The BAR holding the registers.
pub const REGISTERS_BAR: usize = 0;
/// The BAR mapping the shared memory.
pub const MEMORY_BAR: usize = 2;
/// Size of the register window.
pub const REGISTERS_SIZE: usize = 256;
/// Smallest shared memory this driver accepts (one page).
pub const MIN_MEMORY_SIZE: usize = 4096;

/// Register offsets in BAR 0.
mod register {
    /// Interrupt mask (doorbell variant).
    pub const INTERRUPT_MASK: usize = 0x00;
    /// Interrupt status (doorbell variant).
    pub const INTERRUPT_STATUS: usize = 0x04;
    /// This peer's ID (`-1` without a server: the plain variant reads 0).
    pub const IV_POSITION: usize = 0x08;
    /// Doorbell: peer ID in the high 16 bits, vector in the low ones.
    pub const DOORBELL: usize = 0x0C;
}

/// Why the device cannot be driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvshmemError {
    /// The register window is smaller than the spec's 256 bytes.
    RegistersTooSmall,
    /// The shared memory is smaller than [`MIN_MEMORY_SIZE`].
    MemoryTooSmall,
}

/// One ivshmem device: its registers and its shared memory.
pub struct Ivshmem {
    registers: IoMem,
    memory: IoMem,
}

impl Ivshmem {
    /// Takes the mapped register window (BAR 0) and shared memory (BAR 2).
    pub fn new(registers: IoMem, memory: IoMem) -> Result<Self, IvshmemError> {
        if registers.size() < REGISTERS_SIZE {
            return Err(IvshmemError::RegistersTooSmall);
        }
        if memory.size() < MIN_MEMORY_SIZE {
            return Err(IvshmemError::MemoryTooSmall);
        }
        Ok(Self { registers, memory })
    }

    /// Returns the size of the shared memory in bytes.
    pub fn memory_size(&self) -> usize {
        self.memory.size()
    }

    /// Returns the bus address of the shared memory (BAR 2).
    pub fn memory_address(&self) -> u64 {
        self.memory.physical_address()
    }

    /// Returns this peer's position register (0 on `ivshmem-plain`).
    pub fn position(&self) -> u32 {
        self.registers
            .read_once(register::IV_POSITION)
            .unwrap_or(u32::MAX)
    }

    /// Masks every doorbell interrupt (the plain variant ignores it).
    pub fn mask_interrupts(&self) {
        let _ = self.registers.write_once(register::INTERRUPT_MASK, 0u32);
        let _ = self.registers.read_once::<u32>(register::INTERRUPT_STATUS);
    }

    /// Rings peer `peer`'s doorbell `vector` (doorbell variant only).
    pub fn ring(&self, peer: u16, vector: u16) {
        let value = (u32::from(peer) << 16) | u32::from(vector);
        let _ = self.registers.write_once(register::DOORBELL, value);
    }

    /// Reads the value at byte `offset` of the shared memory (naturally
    /// aligned, inside the window, else an error).
    pub fn read<T: MmioValue>(&self, offset: usize) -> Result<T, IoMemError> {
        self.memory.read_once(offset)
    }

    /// Writes `value` at byte `offset` of the shared memory.
    pub fn write<T: MmioValue>(&self, offset: usize, value: T) -> Result<(), IoMemError> {
        self.memory.write_once(offset, value)
    }

    /// Copies `bytes` into the shared memory from byte `offset` (one bounds
    /// check, 8-byte volatile stores: see [`IoMem::write_bytes`]).
    pub fn write_bytes(&self, offset: usize, bytes: &[u8]) -> Result<(), IoMemError> {
        self.memory.write_bytes(offset, bytes)
    }

    /// Copies shared memory from byte `offset` into `buffer`.
    pub fn read_bytes(&self, offset: usize, buffer: &mut [u8]) -> Result<(), IoMemError> {
        self.memory.read_bytes(offset, buffer)
    }
}
