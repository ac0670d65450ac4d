//! The kernel's view of the active page tables.

use spin::{Mutex, Once};
use x86_64::{
    VirtAddr,
    registers::control::Cr3,
    structures::paging::{
        Mapper, OffsetPageTable, Page, PageSize, PageTable, PageTableFlags, PhysFrame, Size4KiB,
        Translate,
        mapper::{MapToError, UnmapError},
    },
};

use super::frame::GlobalFrameAllocator;
use crate::arch::cpu::without_interrupts;

static KERNEL_TABLE: Once<Mutex<OffsetPageTable<'static>>> = Once::new();
static KERNEL_ROOT: Once<PhysFrame> = Once::new();

/// First level-4 index of the kernel (upper) half.
pub const KERNEL_HALF_FIRST_ENTRY: usize = 256;

/// Takes the page tables the bootloader left active, and gives every
/// upper-half level-4 entry a level-3 table, so that address spaces made
/// later (which copy these entries) see every future kernel mapping.
pub fn init(physical_memory_offset: VirtAddr) {
    KERNEL_TABLE.call_once(|| {
        let (level_4_frame, _) = Cr3::read();
        KERNEL_ROOT.call_once(|| level_4_frame);
        let virtual_address = physical_memory_offset + level_4_frame.start_address().as_u64();
        let level_4_table: *mut PageTable = virtual_address.as_mut_ptr();
        // SAFETY: (1) CR3 names the active level 4 table and the bootloader
        // maps all physical memory at `physical_memory_offset`, so the pointer
        // is valid; (2) this `Once` creates the only reference to the table.
        let mut table =
            unsafe { OffsetPageTable::new(&mut *level_4_table, physical_memory_offset) };
        let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
        for index in KERNEL_HALF_FIRST_ENTRY..512 {
            let entry = &mut table.level_4_table_mut()[index];
            if entry.is_unused()
                && let Some(frame) = super::frame::allocate_zeroed()
            {
                entry.set_frame(frame, flags);
            }
        }
        Mutex::new(table)
    });
}

/// Returns the kernel's own level-4 table (active while no agent's address
/// space is).
pub fn kernel_root() -> PhysFrame {
    *KERNEL_ROOT.get().expect("paging not initialised")
}

/// Makes `root` the active level-4 table, if it is not already.
///
/// # Safety
/// `root` must be a level-4 table whose upper half equals the kernel's
/// (the kernel's own, or one made by `AddressSpace::new`), and it must stay
/// alive while active.
pub(crate) unsafe fn activate(root: PhysFrame) {
    let (current, flags) = Cr3::read();
    if current != root {
        // SAFETY: by the contract, the kernel half is mapped identically in
        // `root`, so the running code, its stack and all kernel data stay
        // mapped across the switch.
        unsafe { Cr3::write(root, flags) };
    }
}

/// Copies the kernel half of the kernel's level-4 table into `table`.
pub fn copy_kernel_half(table: &mut PageTable) {
    with_table(|kernel| {
        let kernel_level_4 = kernel.level_4_table();
        for index in KERNEL_HALF_FIRST_ENTRY..512 {
            table[index] = kernel_level_4[index].clone();
        }
    });
}

fn with_table<R>(action: impl FnOnce(&mut OffsetPageTable<'static>) -> R) -> R {
    let table = KERNEL_TABLE.get().expect("paging not initialised");
    without_interrupts(|| action(&mut table.lock()))
}

/// Maps `page` to a fresh zeroed frame with `flags`.
///
/// Returns the frame, or an error when memory is exhausted or the page is
/// already mapped.
pub fn map_fresh(page: Page, flags: PageTableFlags) -> Result<PhysFrame, MapToError<Size4KiB>> {
    let frame = super::frame::allocate_zeroed().ok_or(MapToError::FrameAllocationFailed)?;
    // SAFETY: the frame is fresh and zeroed, so mapping it aliases nothing.
    let result =
        with_table(|table| unsafe { table.map_to(page, frame, flags, &mut GlobalFrameAllocator) });
    match result {
        Ok(flush) => {
            flush.flush();
            Ok(frame)
        }
        Err(error) => {
            // SAFETY: the frame was never mapped, so nothing refers to it.
            unsafe { super::frame::deallocate(frame) };
            Err(error)
        }
    }
}

/// Unmaps `page` and frees the frame it mapped.
///
/// # Safety
/// Nothing may use the page's memory after this call.
pub(crate) unsafe fn unmap_and_free(page: Page) -> Result<(), UnmapError> {
    let (frame, flush) = with_table(|table| table.unmap(page))?;
    flush.flush();
    // SAFETY: the page was the frame's only mapping (frames from `map_fresh`
    // are mapped once) and the caller promises nothing uses it any more.
    unsafe { super::frame::deallocate(frame) };
    Ok(())
}

/// Returns the physical address `address` maps to, if it is mapped.
pub fn translate(address: VirtAddr) -> Option<x86_64::PhysAddr> {
    with_table(|table| table.translate_addr(address))
}

/// Maps `page` to the existing `frame` with `flags` (device memory, such as
/// a PCI BAR, an ECAM window or the local APIC).
///
/// # Safety
/// 1. `frame` is device memory, or memory the frame allocator never hands out.
/// 2. Mapping it at `page` creates no alias that breaks Rust's rules: the
///    caller accesses it only volatilely (or owns it exclusively).
pub(crate) unsafe fn map_existing<S: PageSize>(
    page: Page<S>,
    frame: PhysFrame<S>,
    flags: PageTableFlags,
) -> Result<(), MapToError<S>>
where
    for<'a> OffsetPageTable<'a>: Mapper<S>,
{
    // SAFETY: forwarded from the caller (conditions 1 and 2).
    let flush =
        with_table(|table| unsafe { table.map_to(page, frame, flags, &mut GlobalFrameAllocator) })?;
    flush.flush();
    Ok(())
}

/// Makes the kernel's own level-4 table active (for kernel agents and idle).
pub fn activate_kernel_root() {
    // SAFETY: the kernel's table is its own upper half and lives forever.
    unsafe { activate(kernel_root()) };
}

/// The address handed to [`write_to_unmapped`] is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressMapped;

/// Writes a byte to `address` after checking that nothing maps it, so the
/// write page-faults (for the page-fault test kernel and fault drills).
///
/// Returns `Err` without writing when the address is mapped; returns
/// `Ok` only if the write completed, which an unmapped address never lets
/// happen (the page-fault handler takes over).
pub fn write_to_unmapped(address: VirtAddr) -> Result<(), AddressMapped> {
    without_interrupts(|| {
        if translate(address).is_some() {
            return Err(AddressMapped);
        }
        // SAFETY: the address is mapped by no page table entry of the active
        // table (checked just above, with interrupts off on the only CPU,
        // so nothing maps it in between): the write cannot touch memory, it
        // raises a page fault.
        unsafe { address.as_mut_ptr::<u8>().write_volatile(42) };
        Ok(())
    })
}
