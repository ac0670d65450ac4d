//! Loads an agent's ELF image into a fresh address space.
//!
//! The image is untrusted input. Before `xmas-elf` touches a table, its
//! position and size are checked against the image with overflow-checked
//! arithmetic (the crate slices without checking); every loadable segment
//! must lie in the file and in the user image window; no segment may be both
//! writable and executable (W^X), and two segments may not share a page.
//! Position-independent images (`ET_DYN`, what `x86_64-unknown-none`
//! produces) are loaded at [`PIE_BASE`] and may carry only
//! `R_X86_64_RELATIVE` relocations, each landing inside a writable segment.
//! Fixed-address images (`ET_EXEC`) load where they say, if that is inside
//! the window. The user stack gets [`USER_STACK_PAGES`] pages with an unmapped
//! guard page below. Before the first frame is allocated, the caller is
//! asked to admit the most frames the image can take (its memory budget).

use alloc::vec::Vec;

use x86_64::structures::paging::PageTableFlags;
use xmas_elf::{
    ElfFile,
    header::{Class, Data, Machine, Type as ElfType},
    program::{ProgramHeader, Type as SegmentType},
};

use crate::memory::{
    address_space::{AddressSpace, MapError, PAGE_SIZE, page_of},
    user::{UserRange, load_into_user},
};

/// Where position-independent images are loaded.
pub const PIE_BASE: u64 = 0x0000_0000_0040_0000;
/// Lowest address an image may occupy (keeps page zero and low memory unmapped).
pub const IMAGE_WINDOW_START: u64 = 0x0000_0000_0001_0000;
/// End of the window images may occupy (1 TiB).
pub const IMAGE_WINDOW_END: u64 = 0x0000_0100_0000_0000;
/// Top of the user stack (exclusive).
pub const USER_STACK_TOP: u64 = 0x0000_7FFF_FFF0_0000;
/// Pages of user stack.
pub const USER_STACK_PAGES: u64 = 16;
/// Largest image accepted.
pub const MAX_IMAGE_BYTES: usize = 16 * 1024 * 1024;
/// Size of an ELF64 program header.
const PROGRAM_HEADER_SIZE: u64 = 56;
/// Size of an ELF64 dynamic entry.
const DYNAMIC_ENTRY_SIZE: u64 = 16;
/// Size of an ELF64 `Rela` entry.
const RELA_ENTRY_SIZE: u64 = 24;
/// Dynamic tags used.
const DT_NULL: u64 = 0;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const DT_RELAENT: u64 = 9;
/// The only relocation type accepted.
const R_X86_64_RELATIVE: u32 = 8;
/// Most loadable segments accepted.
const MAX_SEGMENTS: usize = 16;

/// Why an image was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// Not a 64-bit little-endian x86_64 executable, or a malformed header.
    BadHeader(&'static str),
    /// A segment or table lies outside the file or the image window.
    BadLayout(&'static str),
    /// A segment is writable and executable, or two segments share a page.
    WriteAndExecute,
    /// A relocation other than `R_X86_64_RELATIVE`, or one out of bounds.
    BadRelocation,
    /// Memory ran out.
    OutOfMemory,
}

/// A loaded image ready to run.
pub struct LoadedImage {
    /// The agent's address space with the image and stack mapped.
    pub address_space: AddressSpace,
    /// Entry point.
    pub entry: u64,
    /// Initial stack pointer.
    pub stack_pointer: u64,
}

#[derive(Clone, Copy)]
struct Segment {
    file_offset: u64,
    file_size: u64,
    address: u64,
    memory_size: u64,
    writable: bool,
    executable: bool,
}

impl Segment {
    fn end(&self) -> u64 {
        self.address + self.memory_size
    }
}

impl From<MapError> for LoadError {
    fn from(error: MapError) -> Self {
        match error {
            MapError::OutOfMemory => Self::OutOfMemory,
            MapError::AlreadyMapped | MapError::NotUserAddress => {
                Self::BadLayout("segments overlap")
            }
        }
    }
}

/// Loads `image` into a new address space; `limited`: the image is user
/// memory that must leave the kernel's frame reserve alone (a program a
/// user agent starts), see [`AddressSpace::limit_to_user_memory`].
/// `admit` is told, once the image is checked and before anything is
/// allocated, the most frames the load can take (every page of the
/// segments and the stack with the page tables each range may need, and
/// the root table); when it refuses the load is `OutOfMemory`.
pub fn load(
    image: &[u8],
    limited: bool,
    admit: impl FnOnce(u64) -> bool,
) -> Result<LoadedImage, LoadError> {
    if image.len() > MAX_IMAGE_BYTES {
        return Err(LoadError::BadLayout("image too large"));
    }
    // `xmas-elf` reads its tables in place and needs them aligned; ramdisk
    // files start on 512-byte tar blocks, so a real image always is.
    if image.as_ptr().align_offset(8) != 0 {
        return Err(LoadError::BadHeader("image is not 8-byte aligned"));
    }
    load_aligned(image, limited, admit)
}

fn load_aligned(
    image: &[u8],
    limited: bool,
    admit: impl FnOnce(u64) -> bool,
) -> Result<LoadedImage, LoadError> {
    let elf = ElfFile::new(image).map_err(LoadError::BadHeader)?;
    let header = &elf.header;
    if header.pt1.class() != Class::SixtyFour || header.pt1.data() != Data::LittleEndian {
        return Err(LoadError::BadHeader("not a 64-bit little-endian image"));
    }
    if header.pt2.machine().as_machine() != Machine::X86_64 {
        return Err(LoadError::BadHeader("not an x86_64 image"));
    }
    let base = match header.pt2.type_().as_type() {
        ElfType::Executable => 0,
        ElfType::SharedObject => PIE_BASE,
        _ => return Err(LoadError::BadHeader("not an executable")),
    };
    let count = u64::from(header.pt2.ph_count());
    if u64::from(header.pt2.ph_entry_size()) != PROGRAM_HEADER_SIZE || count == 0 {
        return Err(LoadError::BadHeader("bad program header table"));
    }
    let table_end = count
        .checked_mul(PROGRAM_HEADER_SIZE)
        .and_then(|size| size.checked_add(header.pt2.ph_offset()))
        .ok_or(LoadError::BadLayout("program headers overflow"))?;
    if header.pt2.ph_offset() == 0
        || header.pt2.ph_offset() % 8 != 0
        || table_end > image.len() as u64
    {
        return Err(LoadError::BadLayout("program headers outside the file"));
    }

    let mut segments: Vec<Segment> = Vec::new();
    let mut dynamic: Option<(u64, u64)> = None;
    for program_header in elf.program_iter() {
        let ProgramHeader::Ph64(header) = program_header else {
            return Err(LoadError::BadHeader("32-bit program header"));
        };
        match header.get_type() {
            Ok(SegmentType::Load) => {
                let segment = check_segment(
                    header.offset,
                    header.file_size,
                    header.virtual_addr,
                    header.mem_size,
                    header.flags.0,
                    base,
                    image.len() as u64,
                )?;
                if segment.memory_size > 0 {
                    if segments.len() == MAX_SEGMENTS {
                        return Err(LoadError::BadLayout("too many segments"));
                    }
                    segments.push(segment);
                }
            }
            Ok(SegmentType::Dynamic) => {
                let end = header
                    .offset
                    .checked_add(header.file_size)
                    .filter(|end| *end <= image.len() as u64)
                    .ok_or(LoadError::BadLayout("dynamic table outside the file"))?;
                dynamic = Some((header.offset, end));
            }
            Ok(SegmentType::Tls) if header.mem_size > 0 => {
                return Err(LoadError::BadHeader(
                    "thread-local storage is not supported",
                ));
            }
            Ok(SegmentType::Interp) => {
                return Err(LoadError::BadHeader(
                    "dynamically linked images are not supported",
                ));
            }
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(LoadError::BadLayout("no loadable segment"));
    }
    check_no_shared_pages(&mut segments)?;
    let entry = header
        .pt2
        .entry_point()
        .checked_add(base)
        .ok_or(LoadError::BadLayout("entry point overflows"))?;
    if !segments
        .iter()
        .any(|segment| segment.executable && segment.address <= entry && entry < segment.end())
    {
        return Err(LoadError::BadLayout("entry point outside executable code"));
    }

    if !admit(worst_case_frames(&segments)) {
        return Err(LoadError::OutOfMemory);
    }
    let mut space = AddressSpace::new()?;
    if limited {
        space.limit_to_user_memory();
    }
    for segment in &segments {
        map_segment(&mut space, image, segment)?;
    }
    if let Some((start, end)) = dynamic {
        apply_relocations(&mut space, image, &segments, base, start, end)?;
    }
    let stack_bottom = USER_STACK_TOP - USER_STACK_PAGES * PAGE_SIZE;
    let stack_flags = PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
    for index in 0..USER_STACK_PAGES {
        space.map_user(page_of(stack_bottom + index * PAGE_SIZE), stack_flags)?;
    }
    Ok(LoadedImage {
        address_space: space,
        entry,
        // As if entered by a call: RSP % 16 == 8.
        stack_pointer: USER_STACK_TOP - 8,
    })
}

/// Returns the most frames loading `segments` and the stack can take: the
/// root table, and each range's pages with the page tables it may need.
fn worst_case_frames(segments: &[Segment]) -> u64 {
    let range = |first: u64, end: u64| {
        let pages = end.div_ceil(PAGE_SIZE) - first / PAGE_SIZE;
        kernel_core::memory_budget::worst_case_frames(pages)
    };
    segments
        .iter()
        .map(|segment| range(segment.address, segment.end()))
        .fold(
            1 + kernel_core::memory_budget::worst_case_frames(USER_STACK_PAGES),
            u64::saturating_add,
        )
}

fn check_segment(
    offset: u64,
    file_size: u64,
    address: u64,
    memory_size: u64,
    flags: u32,
    base: u64,
    image_length: u64,
) -> Result<Segment, LoadError> {
    const FLAG_EXECUTE: u32 = 1;
    const FLAG_WRITE: u32 = 2;
    if file_size > memory_size {
        return Err(LoadError::BadLayout("segment file size above memory size"));
    }
    let file_end = offset
        .checked_add(file_size)
        .ok_or(LoadError::BadLayout("segment offset overflows"))?;
    if file_end > image_length {
        return Err(LoadError::BadLayout("segment outside the file"));
    }
    let start = address
        .checked_add(base)
        .ok_or(LoadError::BadLayout("segment address overflows"))?;
    let end = start
        .checked_add(memory_size)
        .ok_or(LoadError::BadLayout("segment size overflows"))?;
    if start < IMAGE_WINDOW_START || end > IMAGE_WINDOW_END {
        return Err(LoadError::BadLayout(
            "segment outside the user image window",
        ));
    }
    let writable = flags & FLAG_WRITE != 0;
    let executable = flags & FLAG_EXECUTE != 0;
    if writable && executable {
        return Err(LoadError::WriteAndExecute);
    }
    Ok(Segment {
        file_offset: offset,
        file_size,
        address: start,
        memory_size,
        writable,
        executable,
    })
}

/// Refuses segments that overlap or share a page (each page gets exactly
/// one segment's permissions).
fn check_no_shared_pages(segments: &mut [Segment]) -> Result<(), LoadError> {
    segments.sort_unstable_by_key(|segment| segment.address);
    for pair in segments.windows(2) {
        let last_page_of_first = (pair[0].end() - 1) & !(PAGE_SIZE - 1);
        let first_page_of_second = pair[1].address & !(PAGE_SIZE - 1);
        if first_page_of_second <= last_page_of_first {
            return Err(LoadError::WriteAndExecute);
        }
    }
    Ok(())
}

fn map_segment(space: &mut AddressSpace, image: &[u8], segment: &Segment) -> Result<(), LoadError> {
    let mut flags = PageTableFlags::empty();
    if segment.writable {
        flags |= PageTableFlags::WRITABLE;
    }
    if !segment.executable {
        flags |= PageTableFlags::NO_EXECUTE;
    }
    let first_page = segment.address & !(PAGE_SIZE - 1);
    let mut page = first_page;
    while page < segment.end() {
        space.map_user(page_of(page), flags)?;
        page += PAGE_SIZE;
    }
    if segment.file_size > 0 {
        let start = segment.file_offset as usize;
        let data = &image[start..start + segment.file_size as usize];
        let range = UserRange::new(segment.address, segment.file_size, u64::MAX)
            .map_err(|_| LoadError::BadLayout("segment range"))?;
        load_into_user(space, range, data).map_err(|_| LoadError::BadLayout("segment copy"))?;
    }
    Ok(())
}

fn read_u64(image: &[u8], offset: u64) -> Option<u64> {
    let start = usize::try_from(offset).ok()?;
    let bytes = image.get(start..start.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// Translates a link-time address to a file offset through the segments.
fn file_offset_of(segments: &[Segment], base: u64, address: u64, length: u64) -> Option<u64> {
    let address = address.checked_add(base)?;
    let end = address.checked_add(length)?;
    segments.iter().find_map(|segment| {
        let file_end = segment.address + segment.file_size;
        (segment.address <= address && end <= file_end)
            .then(|| segment.file_offset + (address - segment.address))
    })
}

fn apply_relocations(
    space: &mut AddressSpace,
    image: &[u8],
    segments: &[Segment],
    base: u64,
    dynamic_start: u64,
    dynamic_end: u64,
) -> Result<(), LoadError> {
    let (mut rela, mut rela_size, mut rela_entry) = (None, 0, RELA_ENTRY_SIZE);
    let mut offset = dynamic_start;
    while offset + DYNAMIC_ENTRY_SIZE <= dynamic_end {
        let tag = read_u64(image, offset).ok_or(LoadError::BadRelocation)?;
        let value = read_u64(image, offset + 8).ok_or(LoadError::BadRelocation)?;
        match tag {
            DT_NULL => break,
            DT_RELA => rela = Some(value),
            DT_RELASZ => rela_size = value,
            DT_RELAENT => rela_entry = value,
            _ => {}
        }
        offset += DYNAMIC_ENTRY_SIZE;
    }
    let Some(rela) = rela else {
        return Ok(());
    };
    if rela_entry != RELA_ENTRY_SIZE || rela_size % RELA_ENTRY_SIZE != 0 {
        return Err(LoadError::BadRelocation);
    }
    let table = file_offset_of(segments, base, rela, rela_size).ok_or(LoadError::BadRelocation)?;
    for index in 0..rela_size / RELA_ENTRY_SIZE {
        let entry = table + index * RELA_ENTRY_SIZE;
        let target = read_u64(image, entry).ok_or(LoadError::BadRelocation)?;
        let info = read_u64(image, entry + 8).ok_or(LoadError::BadRelocation)?;
        let addend = read_u64(image, entry + 16).ok_or(LoadError::BadRelocation)?;
        if info as u32 != R_X86_64_RELATIVE {
            return Err(LoadError::BadRelocation);
        }
        let target = target.checked_add(base).ok_or(LoadError::BadRelocation)?;
        let inside_writable = segments.iter().any(|segment| {
            segment.writable
                && segment.address <= target
                && target.saturating_add(8) <= segment.end()
        });
        if !inside_writable {
            return Err(LoadError::BadRelocation);
        }
        let value = base.wrapping_add(addend);
        let range = UserRange::new(target, 8, 8).map_err(|_| LoadError::BadRelocation)?;
        load_into_user(space, range, &value.to_le_bytes()).map_err(|_| LoadError::BadRelocation)?;
    }
    Ok(())
}
