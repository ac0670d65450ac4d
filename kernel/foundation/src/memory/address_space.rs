//! Agents' address spaces: one level-4 table each, kernel half shared.
//!
//! The lower half (below [`USER_HALF_END`]) belongs to the agent and holds
//! only pages mapped through [`AddressSpace::map_user`], always with the user
//! bit; the upper half is a copy of the kernel's level-4 entries (all of them
//! exist from boot, see `paging::init`), so kernel mappings made later are
//! visible in every address space. Dropping an address space frees every
//! user page and every lower-half page table; [`AddressSpace::unmap_user`]
//! frees the level-1, -2 and -3 tables its page leaves empty, so page-table
//! frames stay bounded by the pages mapped (at most 3 per page, plus the
//! root), counted in [`AddressSpace::table_frames`].

use x86_64::{
    PhysAddr, VirtAddr,
    structures::paging::{
        FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame,
        Size4KiB, Translate,
        mapper::{MapToError, TranslateResult, UnmapError},
    },
};

use super::{
    frame::{self, FRAME_SIZE, GlobalFrameAllocator},
    layout::USER_HALF_END,
    paging::{self, KERNEL_HALF_FIRST_ENTRY},
    physical_to_virtual,
};

/// Why a user mapping failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// The page is not in the user half.
    NotUserAddress,
    /// The page is already mapped.
    AlreadyMapped,
    /// Physical memory ran out.
    OutOfMemory,
}

/// One agent's page tables.
#[derive(Debug)]
pub struct AddressSpace {
    root: PhysFrame,
    user_pages: u64,
    /// Lower-half page tables (levels 1 to 3) this space holds.
    tables: u64,
    /// Whether its pages are user memory that must leave the kernel's
    /// reserve alone (see [`kernel_core::frame_reserve`]).
    limited: bool,
}

/// The global allocator, counting the page tables it hands out.
struct CountingAllocator<'a>(&'a mut u64);

// SAFETY: frames come from the global allocator, which never hands a frame
// out twice until it is freed.
unsafe impl FrameAllocator<Size4KiB> for CountingAllocator<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let frame = GlobalFrameAllocator.allocate_frame()?;
        *self.0 += 1;
        Some(frame)
    }
}

fn table_at(frame: PhysFrame) -> *mut PageTable {
    physical_to_virtual(frame.start_address()).as_mut_ptr()
}

impl AddressSpace {
    /// Returns a new address space with an empty user half.
    pub fn new() -> Result<Self, MapError> {
        let root = frame::allocate_zeroed().ok_or(MapError::OutOfMemory)?;
        // SAFETY: the frame was just allocated and zeroed, nothing else refers
        // to it, and the physical-memory window maps it writable.
        let table = unsafe { &mut *table_at(root) };
        paging::copy_kernel_half(table);
        Ok(Self {
            root,
            user_pages: 0,
            tables: 0,
            limited: false,
        })
    }

    /// Returns the level-4 table's frame (what CR3 points at while active).
    pub fn root(&self) -> PhysFrame {
        self.root
    }

    /// Returns how many user pages are mapped.
    pub fn user_pages(&self) -> u64 {
        self.user_pages
    }

    /// Makes later [`Self::map_user`] calls refuse (`OutOfMemory`) pages that
    /// would dip into the kernel's frame reserve.
    pub fn limit_to_user_memory(&mut self) {
        self.limited = true;
    }

    /// Returns how many frames this space's page tables take (the root
    /// included).
    pub fn table_frames(&self) -> u64 {
        self.tables + 1
    }

    fn with_table<R>(&mut self, action: impl FnOnce(&mut OffsetPageTable<'_>) -> R) -> R {
        let offset = physical_to_virtual(PhysAddr::new(0));
        // SAFETY: (1) `root` is this address space's level-4 table, owned by
        // `self`, which `&mut self` borrows exclusively for this call; (2) the
        // physical-memory window is mapped at `offset`.
        let mut table = unsafe { OffsetPageTable::new(&mut *table_at(self.root), offset) };
        action(&mut table)
    }

    /// Maps `page` to a fresh zeroed frame, user-accessible, with `flags`
    /// (PRESENT and USER_ACCESSIBLE are added). Returns the frame.
    pub fn map_user(&mut self, page: Page, flags: PageTableFlags) -> Result<PhysFrame, MapError> {
        if page.start_address().as_u64() >= USER_HALF_END {
            return Err(MapError::NotUserAddress);
        }
        if self.limited {
            let stats = frame::stats();
            let usable = stats.free_frames + stats.allocated_frames;
            if !kernel_core::frame_reserve::user_page_allowed(stats.free_frames, usable) {
                return Err(MapError::OutOfMemory);
            }
        }
        let frame = frame::allocate_zeroed().ok_or(MapError::OutOfMemory)?;
        let flags = flags | PageTableFlags::PRESENT | PageTableFlags::USER_ACCESSIBLE;
        let mut tables = self.tables;
        // SAFETY: the frame is fresh and zeroed, so the new mapping aliases
        // nothing; the page is in the user half, which only this address
        // space maps.
        let result = self.with_table(|table| unsafe {
            table.map_to(page, frame, flags, &mut CountingAllocator(&mut tables))
        });
        self.tables = tables;
        match result {
            // The address space may not be active; a stale TLB entry for a
            // page that was unmapped before is flushed by `unmap_user`.
            Ok(flush) => {
                flush.ignore();
                self.user_pages += 1;
                Ok(frame)
            }
            Err(error) => {
                // SAFETY: the frame was never mapped.
                unsafe { frame::deallocate(frame) };
                Err(match error {
                    MapToError::PageAlreadyMapped(_) | MapToError::ParentEntryHugePage => {
                        MapError::AlreadyMapped
                    }
                    MapToError::FrameAllocationFailed => MapError::OutOfMemory,
                })
            }
        }
    }

    /// Unmaps the user `page` and frees its frame.
    pub fn unmap_user(&mut self, page: Page) -> Result<(), UnmapError> {
        if page.start_address().as_u64() >= USER_HALF_END {
            return Err(UnmapError::PageNotMapped);
        }
        let (frame, flush) = self.with_table(|table| table.unmap(page))?;
        // Flushing is harmless when this space is not active.
        flush.flush();
        // SAFETY: user frames are mapped once, in this space only, and the
        // mapping is gone; the kernel never keeps references into them.
        unsafe { frame::deallocate(frame) };
        self.user_pages -= 1;
        self.prune(page);
        Ok(())
    }

    /// Frees the level-1, -2 and -3 tables on `page`'s path that hold no
    /// entry any more (at most 3 scans of 512 entries).
    fn prune(&mut self, page: Page) {
        let indexes = [
            usize::from(page.p4_index()),
            usize::from(page.p3_index()),
            usize::from(page.p2_index()),
        ];
        // path[n]: the table at level 4 - n on the page's path.
        let mut path = [self.root; 4];
        for level in 0..3 {
            // SAFETY: `path[level]` is a table of this space, which `&mut
            // self` borrows exclusively; the window maps it.
            let table = unsafe { &*table_at(path[level]) };
            let entry = &table[indexes[level]];
            if entry.is_unused()
                || !entry.flags().contains(PageTableFlags::PRESENT)
                || entry.flags().contains(PageTableFlags::HUGE_PAGE)
            {
                return;
            }
            path[level + 1] = PhysFrame::containing_address(entry.addr());
        }
        for level in (1..4).rev() {
            // SAFETY: as above; the child table is ours alone.
            let child = unsafe { &*table_at(path[level]) };
            if child.iter().any(|entry| !entry.is_unused()) {
                return;
            }
            // SAFETY: as above.
            let parent = unsafe { &mut *table_at(path[level - 1]) };
            parent[indexes[level - 1]].set_unused();
            // The table may still be cached by this CPU's paging-structure
            // caches: flush the page's translation after unlinking.
            x86_64::instructions::tlb::flush(page.start_address());
            // SAFETY: the table is empty and no entry refers to it any more.
            unsafe { frame::deallocate(path[level]) };
            self.tables -= 1;
        }
    }

    /// Returns the frame and flags of the user page holding `address`.
    pub fn translate_user(&mut self, address: VirtAddr) -> Option<(PhysAddr, PageTableFlags)> {
        if address.as_u64() >= USER_HALF_END {
            return None;
        }
        match self.with_table(|table| table.translate(address)) {
            TranslateResult::Mapped {
                frame,
                offset,
                flags,
            } => flags
                .contains(PageTableFlags::USER_ACCESSIBLE)
                .then(|| (frame.start_address() + offset, flags)),
            _ => None,
        }
    }

    /// Makes this address space the active one.
    pub fn activate(&self) {
        // SAFETY: the upper half was copied from the kernel's table at
        // creation, and `self` outlives its activity: the task manager
        // switches to another root before an address space is dropped.
        unsafe { paging::activate(self.root) };
    }
}

/// Frees the table at `frame` at `level` (4 = root) and everything below it
/// in the lower-half entries `0..entries`.
///
/// # Safety
/// `frame` is a page table owned by the address space being dropped, and no
/// CPU uses that address space any more.
unsafe fn free_table(frame: PhysFrame, level: u8, entries: usize) {
    // SAFETY: by the contract the table is ours and unused.
    let table = unsafe { &mut *table_at(frame) };
    for index in 0..entries {
        let entry = &mut table[index];
        if entry.is_unused() || !entry.flags().contains(PageTableFlags::PRESENT) {
            continue;
        }
        let child = PhysFrame::<Size4KiB>::containing_address(entry.addr());
        if level > 1 && !entry.flags().contains(PageTableFlags::HUGE_PAGE) {
            // SAFETY: a lower-half child table belongs to this space alone.
            unsafe { free_table(child, level - 1, 512) };
        } else if level == 1 {
            // SAFETY: a user page's frame, mapped only here.
            unsafe { frame::deallocate(child) };
        }
        entry.set_unused();
    }
    if level < 4 {
        // SAFETY: the table itself is no longer referenced (its parent entry
        // was just cleared by the caller's loop, or is dropped with it).
        unsafe { frame::deallocate(frame) };
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        // Never free the tables of the active address space.
        let kernel_root = paging::kernel_root();
        let (active, _) = x86_64::registers::control::Cr3::read();
        if active == self.root {
            // SAFETY: the kernel's table maps the kernel half identically.
            unsafe { paging::activate(kernel_root) };
        }
        // SAFETY: the space is being dropped and is not active (above).
        unsafe {
            free_table(self.root, 4, KERNEL_HALF_FIRST_ENTRY);
            frame::deallocate(self.root);
        }
    }
}

/// Size of a page, for callers that walk user ranges.
pub const PAGE_SIZE: u64 = FRAME_SIZE;

/// Returns the page containing `address`.
pub fn page_of(address: u64) -> Page<Size4KiB> {
    Page::containing_address(VirtAddr::new_truncate(address))
}
