//! Kernel stacks for agents, each with an unmapped guard page below it.
//!
//! Stacks live in fixed slots of the agent stack area
//! ([`super::layout::AGENT_STACKS_START`]). A slot is one guard page followed
//! by [`AGENT_STACK_PAGES`] mapped pages; an overflow runs into the guard page
//! and faults instead of silently overwriting another stack. Dropping a
//! [`KernelStack`] unmaps its pages, frees their frames and releases the slot.
//! The area's page tables are made once at boot ([`init`]).

use spin::Mutex;
use x86_64::{
    VirtAddr,
    structures::paging::{Page, PageTableFlags},
};

use super::{frame::FRAME_SIZE, layout, paging};
use crate::arch::cpu::without_interrupts;

/// Mapped pages per agent stack (64 KiB).
pub const AGENT_STACK_PAGES: u64 = 16;
/// Bytes from one slot to the next: the stack plus its guard page.
const SLOT_STRIDE: u64 = (AGENT_STACK_PAGES + 1) * FRAME_SIZE;
/// Most stacks alive at once.
pub const MAX_STACKS: usize = 256;

const _: () = assert!(MAX_STACKS as u64 * SLOT_STRIDE <= layout::AGENT_STACKS_SIZE);

/// Which slots are in use, one bit each.
static SLOTS: Mutex<[u64; MAX_STACKS / 64]> = Mutex::new([0; MAX_STACKS / 64]);

/// Why a stack could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackError {
    /// All [`MAX_STACKS`] slots are taken.
    NoSlot,
    /// Physical memory ran out while mapping the stack.
    OutOfMemory,
}

/// An agent's kernel stack. Unmapped and freed on drop.
#[derive(Debug)]
pub struct KernelStack {
    slot: usize,
    mapped_pages: u64,
}

impl KernelStack {
    /// Returns a new, zeroed stack.
    pub fn new() -> Result<Self, StackError> {
        let slot = take_slot().ok_or(StackError::NoSlot)?;
        let mut stack = Self {
            slot,
            mapped_pages: 0,
        };
        let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
        for index in 0..AGENT_STACK_PAGES {
            let page = Page::containing_address(stack.bottom() + index * FRAME_SIZE);
            // Dropping `stack` on error unmaps what was mapped so far.
            paging::map_fresh(page, flags).map_err(|_| StackError::OutOfMemory)?;
            stack.mapped_pages += 1;
        }
        Ok(stack)
    }

    /// Returns the lowest mapped address (the guard page lies just below).
    pub fn bottom(&self) -> VirtAddr {
        VirtAddr::new(layout::AGENT_STACKS_START + self.slot as u64 * SLOT_STRIDE + FRAME_SIZE)
    }

    /// Returns the address just above the stack, where it starts growing down.
    pub fn top(&self) -> VirtAddr {
        self.bottom() + AGENT_STACK_PAGES * FRAME_SIZE
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        for index in 0..self.mapped_pages {
            let page = Page::containing_address(self.bottom() + index * FRAME_SIZE);
            // SAFETY: the owner dropped the stack, so no code runs on it any
            // more (the task manager drops an exited agent's stack only after
            // switching away from it) and nothing else maps these pages.
            if let Err(error) = unsafe { paging::unmap_and_free(page) } {
                log::error!("stack slot {}: unmap failed: {error:?}", self.slot);
            }
        }
        release_slot(self.slot);
    }
}

/// Bytes one level-1 page table maps.
const LEVEL_ONE_SPAN: u64 = 512 * FRAME_SIZE;

/// Makes the kernel's page tables for the whole stack area now, before the
/// first stack: a stack then costs exactly its pages, and the allocated
/// frames come back to their count when stacks end (kernel page tables are
/// shared by every address space and never freed, so a table made by the
/// first stack in a new 2 MiB of the area would stay). Call once, before
/// any [`KernelStack::new`].
pub fn init() {
    let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
    let end = layout::AGENT_STACKS_START + MAX_STACKS as u64 * SLOT_STRIDE;
    let mut address = layout::AGENT_STACKS_START;
    while address < end {
        let page = Page::containing_address(VirtAddr::new(address));
        if paging::map_fresh(page, flags).is_ok() {
            // SAFETY: the page was mapped just now only to make its tables;
            // no stack exists yet, so nothing uses it.
            let _ = unsafe { paging::unmap_and_free(page) };
        }
        address += LEVEL_ONE_SPAN;
    }
}

fn take_slot() -> Option<usize> {
    without_interrupts(|| {
        let mut slots = SLOTS.lock();
        for (word_index, word) in slots.iter_mut().enumerate() {
            if *word != u64::MAX {
                let bit = word.trailing_ones() as usize;
                *word |= 1 << bit;
                return Some(word_index * 64 + bit);
            }
        }
        None
    })
}

fn release_slot(slot: usize) {
    without_interrupts(|| SLOTS.lock()[slot / 64] &= !(1 << (slot % 64)));
}

/// Returns how many stacks are alive.
pub fn live_stacks() -> u32 {
    without_interrupts(|| SLOTS.lock().iter().map(|word| word.count_ones()).sum())
}
