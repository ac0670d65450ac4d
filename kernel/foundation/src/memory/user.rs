//! Validated access to user memory.
//!
//! A pointer and length from user space are an allegation until
//! [`UserRange::new`] (portable, host-tested in `kernel-core`) has checked them (non-null, canonical, in the user
//! half, no overflow, within a size limit) and every page they cover is
//! found mapped, user-accessible and (for writes) writable in the agent's
//! own page tables. The copy then goes through the physical-memory window,
//! so the kernel never dereferences a user address and cannot fault on one.

use x86_64::{PhysAddr, VirtAddr, structures::paging::PageTableFlags};

pub use kernel_core::user_range::{UserMemoryError, UserRange};

use super::address_space::AddressSpace;

/// Checks every page of `range` in `space` (mapped, user-accessible and,
/// when `writable`, writable), then calls `visit` with each page's physical
/// chunk: (physical address, offset into the range, length). A refused
/// range visits nothing.
fn chunks(
    range: UserRange,
    space: &mut AddressSpace,
    writable: bool,
    mut visit: impl FnMut(PhysAddr, usize, usize),
) -> Result<(), UserMemoryError> {
    for pass in 0..2 {
        for chunk in range.pages() {
            let (physical, flags) = space
                .translate_user(VirtAddr::new(chunk.address))
                .ok_or(UserMemoryError::NotMapped)?;
            if writable && !flags.contains(PageTableFlags::WRITABLE) {
                return Err(UserMemoryError::ReadOnly);
            }
            if pass == 1 {
                visit(physical, chunk.offset, chunk.length);
            }
        }
    }
    Ok(())
}

/// Checks that every page of the user `range` is mapped, user-accessible
/// and writable in `space`, without touching its bytes.
pub fn check_writable(space: &mut AddressSpace, range: UserRange) -> Result<(), UserMemoryError> {
    chunks(range, space, true, |_, _, _| {})
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
    chunks(range, space, false, |physical, offset, length| {
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
    chunks(
        range,
        space,
        require_writable,
        |physical, offset, length| {
            let destination = super::physical_to_virtual(physical).as_mut_ptr::<u8>();
            // SAFETY: `physical..+length` lies in one mapped user frame of
            // `space` (checked by `chunks`), reachable through the physical-memory
            // window; the kernel holds no reference into user frames, so writing
            // aliases nothing.
            unsafe {
                core::ptr::copy_nonoverlapping(data[offset..].as_ptr(), destination, length);
            }
        },
    )
}
