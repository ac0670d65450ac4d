//! Validated access to user memory.
//!
//! A pointer and length from user space are an allegation until
//! [`UserRange::new`] has checked them (non-null, canonical, in the user
//! half, no overflow, within a size limit) and every page they cover is
//! found mapped, user-accessible and (for writes) writable in the agent's
//! own page tables. The copy then goes through the physical-memory window,
//! so the kernel never dereferences a user address and cannot fault on one.

use x86_64::{PhysAddr, VirtAddr, structures::paging::PageTableFlags};

use super::{address_space::AddressSpace, frame::FRAME_SIZE, layout::USER_HALF_END};

/// Why a user pointer was refused. Each maps to a syscall error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserMemoryError {
    /// The pointer is null.
    Null,
    /// The address is not canonical (in the hole between the halves).
    NotCanonical,
    /// The range reaches into the kernel half.
    KernelAddress,
    /// Pointer plus length overflows.
    Overflow,
    /// The length is above the limit the syscall allows.
    TooLarge,
    /// A page in the range is not mapped.
    NotMapped,
    /// A page in the range is read-only and the kernel must write it.
    ReadOnly,
}

/// First canonical address of the upper (kernel) half.
const KERNEL_HALF_START: u64 = 0xFFFF_8000_0000_0000;

/// A checked user range: non-null, inside the user half, no overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRange {
    start: u64,
    length: u64,
}

impl UserRange {
    /// Checks `address` and `length` (at most `max_length` bytes).
    pub fn new(address: u64, length: u64, max_length: u64) -> Result<Self, UserMemoryError> {
        if address == 0 {
            return Err(UserMemoryError::Null);
        }
        if length > max_length {
            return Err(UserMemoryError::TooLarge);
        }
        if (USER_HALF_END..KERNEL_HALF_START).contains(&address) {
            return Err(UserMemoryError::NotCanonical);
        }
        let end = address
            .checked_add(length)
            .ok_or(UserMemoryError::Overflow)?;
        if address >= USER_HALF_END || end > USER_HALF_END {
            return Err(UserMemoryError::KernelAddress);
        }
        Ok(Self {
            start: address,
            length,
        })
    }

    /// Returns the first address.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Returns the length in bytes.
    pub fn len(&self) -> u64 {
        self.length
    }

    /// Returns whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Returns the physical chunks of the range (at most one page each),
    /// checking every page.
    fn chunks(
        &self,
        space: &mut AddressSpace,
        writable: bool,
        mut visit: impl FnMut(PhysAddr, usize, usize),
    ) -> Result<(), UserMemoryError> {
        // First pass checks, second copies: a refused range copies nothing.
        for pass in 0..2 {
            let mut address = self.start;
            let end = self.start + self.length;
            let mut done = 0usize;
            while address < end {
                let page_end = (address & !(FRAME_SIZE - 1)) + FRAME_SIZE;
                let chunk = (page_end.min(end) - address) as usize;
                let (physical, flags) = space
                    .translate_user(VirtAddr::new(address))
                    .ok_or(UserMemoryError::NotMapped)?;
                if writable && !flags.contains(PageTableFlags::WRITABLE) {
                    return Err(UserMemoryError::ReadOnly);
                }
                if pass == 1 {
                    visit(physical, done, chunk);
                }
                done += chunk;
                address += chunk as u64;
            }
        }
        Ok(())
    }
}

/// Copies the user `range` into `buffer` (which must be `range.len()` long).
pub fn copy_from_user(
    space: &mut AddressSpace,
    range: UserRange,
    buffer: &mut [u8],
) -> Result<(), UserMemoryError> {
    if buffer.len() as u64 != range.len() {
        return Err(UserMemoryError::TooLarge);
    }
    range.chunks(space, false, |physical, offset, length| {
        let source = super::physical_to_virtual(physical).as_ptr::<u8>();
        // SAFETY: `physical..+length` lies in one mapped user frame (checked
        // by `chunks`), reachable through the physical-memory window; the
        // destination is a distinct kernel buffer of sufficient length.
        unsafe {
            core::ptr::copy_nonoverlapping(source, buffer[offset..].as_mut_ptr(), length);
        }
    })
}

/// Copies `data` into the user `range` (which must be `data.len()` long).
pub fn copy_to_user(
    space: &mut AddressSpace,
    range: UserRange,
    data: &[u8],
) -> Result<(), UserMemoryError> {
    write_user_range(space, range, data, true)
}

/// Copies `data` into the user `range` even where the pages are read-only:
/// the ELF loader fills code and read-only data this way before the agent
/// first runs.
pub fn load_into_user(
    space: &mut AddressSpace,
    range: UserRange,
    data: &[u8],
) -> Result<(), UserMemoryError> {
    write_user_range(space, range, data, false)
}

fn write_user_range(
    space: &mut AddressSpace,
    range: UserRange,
    data: &[u8],
    require_writable: bool,
) -> Result<(), UserMemoryError> {
    if data.len() as u64 != range.len() {
        return Err(UserMemoryError::TooLarge);
    }
    range.chunks(space, require_writable, |physical, offset, length| {
        let destination = super::physical_to_virtual(physical).as_mut_ptr::<u8>();
        // SAFETY: `physical..+length` lies in one mapped user frame of
        // `space` (checked by `chunks`), reachable through the physical-memory
        // window; the kernel holds no reference into user frames, so writing
        // aliases nothing.
        unsafe {
            core::ptr::copy_nonoverlapping(data[offset..].as_ptr(), destination, length);
        }
    })
}

/// Each refusal is the syscall error of the same name in the ABI.
impl From<UserMemoryError> for agent_abi::Error {
    fn from(error: UserMemoryError) -> Self {
        match error {
            UserMemoryError::Null => agent_abi::Error::NullPointer,
            UserMemoryError::NotCanonical => agent_abi::Error::NotCanonical,
            UserMemoryError::KernelAddress => agent_abi::Error::KernelAddress,
            UserMemoryError::Overflow => agent_abi::Error::Overflow,
            UserMemoryError::TooLarge => agent_abi::Error::TooLarge,
            UserMemoryError::NotMapped => agent_abi::Error::NotMapped,
            UserMemoryError::ReadOnly => agent_abi::Error::ReadOnly,
        }
    }
}
