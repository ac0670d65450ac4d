//! The kernel's virtual address space layout.
//!
//! ```text
//! 0x0000_0000_0000_0000 .. 0x0000_8000_0000_0000  user half (agents' address spaces)
//! 0xFFFF_8000_0000_0000 .. 0xFFFF_F000_0000_0000  bootloader: kernel image, boot stack,
//!                                                 boot info, framebuffer, physical memory
//! 0xFFFF_F000_0000_0000 ..                        kernel heap
//! 0xFFFF_F080_0000_0000 ..                        agent kernel stacks, each with a guard page
//! 0xFFFF_F100_0000_0000 ..                        scratch page used by the in-kernel self tests
//! 0xFFFF_F180_0000_0000 ..                        device memory (PCI BARs, ECAM, local APIC), uncached
//! ```
//! Each fixed region starts on its own level-4 entry, so the bootloader (whose
//! range ends at [`KERNEL_FIXED_REGIONS_START`]) never maps into it.

/// First address of the kernel's fixed regions.
pub const KERNEL_FIXED_REGIONS_START: u64 = 0xFFFF_F000_0000_0000;
/// Start of the kernel heap.
pub const HEAP_START: u64 = KERNEL_FIXED_REGIONS_START;
/// Start of the area that holds agents' kernel stacks.
pub const AGENT_STACKS_START: u64 = 0xFFFF_F080_0000_0000;
/// Size of the agent stack area (one level-4 entry).
pub const AGENT_STACKS_SIZE: u64 = 0x80_0000_0000;
/// Scratch page for the paging self test.
pub const SELFTEST_SCRATCH_PAGE: u64 = 0xFFFF_F100_0000_0000;
/// Start of the MMIO region, where device memory is mapped uncached.
pub const MMIO_START: u64 = 0xFFFF_F180_0000_0000;
/// Size of the MMIO region (one level-4 entry).
pub const MMIO_SIZE: u64 = 0x80_0000_0000;
/// First address above the user half.
pub const USER_HALF_END: u64 = 0x0000_8000_0000_0000;
