//! Global descriptor table and task state segment.
//!
//! The TSS holds interrupt stack table entries for double faults (so a kernel
//! stack overflow, which faults again while pushing the page-fault frame,
//! lands on a known-good stack instead of triple-faulting the machine), and
//! one each for NMI, machine check and debug: those can arrive at any
//! instruction, also where the current stack cannot be trusted.

use spin::Once;
use x86_64::{
    VirtAddr,
    instructions::{
        segmentation::{CS, DS, ES, SS, Segment},
        tables::load_tss,
    },
    structures::{
        gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector},
        tss::TaskStateSegment,
    },
};

/// Interrupt stack table slot used by the double-fault handler.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;
/// Interrupt stack table slot used by the NMI handler.
pub const NMI_IST_INDEX: u16 = 1;
/// Interrupt stack table slot used by the machine-check handler.
pub const MACHINE_CHECK_IST_INDEX: u16 = 2;
/// Interrupt stack table slot used by the debug (`#DB`) handler.
pub const DEBUG_IST_INDEX: u16 = 3;
/// How many IST stacks [`init`] sets up (slots 0..IST_STACKS).
const IST_STACKS: usize = 4;
/// Size of each IST stack.
const IST_STACK_SIZE: usize = 32 * 1024;

/// A stack the CPU switches to; aligned as the ABI wants.
#[repr(C, align(16))]
struct Stack([u8; IST_STACK_SIZE]);

/// Mutable, so that they land in writable memory; only the CPU writes to them.
static mut IST_STACK_MEMORY: [Stack; IST_STACKS] =
    [const { Stack([0; IST_STACK_SIZE]) }; IST_STACKS];

/// Ring-0 code selector (GDT entry 1), as [`init`] lays the table out.
pub const KERNEL_CODE_SELECTOR: u64 = 1 << 3;
/// Ring-0 data selector (GDT entry 2).
pub const KERNEL_DATA_SELECTOR: u64 = 2 << 3;
/// Ring-3 data selector (GDT entry 3, RPL 3): right before user code, as
/// `sysret` requires.
pub const USER_DATA_SELECTOR: u64 = (3 << 3) | 3;
/// Ring-3 code selector (GDT entry 4, RPL 3).
pub const USER_CODE_SELECTOR: u64 = (4 << 3) | 3;

/// Segment selectors of the loaded GDT.
#[derive(Debug, Clone, Copy)]
pub struct Selectors {
    /// Ring 0 code.
    pub kernel_code: SegmentSelector,
    /// Ring 0 data.
    pub kernel_data: SegmentSelector,
    /// Ring 3 data (placed before user code, as `sysret` requires).
    pub user_data: SegmentSelector,
    /// Ring 3 code.
    pub user_code: SegmentSelector,
    /// The task state segment.
    pub tss: SegmentSelector,
}

/// The task state segment. Mutable because the ring-0 stack pointer
/// (`privilege_stack_table[0]`) changes with every switch to another agent;
/// only [`set_kernel_stack`] writes it, with interrupts disabled.
static mut TSS: TaskStateSegment = TaskStateSegment::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

/// Builds and loads the GDT and TSS, then reloads every segment register.
pub fn init() {
    for slot in 0..IST_STACKS {
        // SAFETY: only the address of the static is taken, no reference.
        let stack_start = VirtAddr::from_ptr(unsafe { &raw const IST_STACK_MEMORY[slot] });
        // SAFETY: `init` runs once at boot, before interrupts are enabled and
        // before the TSS is loaded, so nothing else reads or writes it now.
        unsafe {
            // Stacks grow down: the IST entry is the end of the stack.
            TSS.interrupt_stack_table[slot] = stack_start + IST_STACK_SIZE as u64;
        }
    }
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        // SAFETY: TSS is a static, so it lives as long as the GDT; its
        // contents are only changed through `set_kernel_stack`, which the
        // CPU tolerates at any time (it reads RSP0 on ring transitions).
        let tss = gdt.append(unsafe { Descriptor::tss_segment_unchecked(&raw const TSS) });
        (
            gdt,
            Selectors {
                kernel_code,
                kernel_data,
                user_data,
                user_code,
                tss,
            },
        )
    });
    assert!(
        u64::from(selectors.kernel_code.0) == KERNEL_CODE_SELECTOR
            && u64::from(selectors.kernel_data.0) == KERNEL_DATA_SELECTOR
            && u64::from(selectors.user_data.0) == USER_DATA_SELECTOR
            && u64::from(selectors.user_code.0) == USER_CODE_SELECTOR,
        "GDT layout differs from the selectors the entry paths build"
    );
    gdt.load();
    // SAFETY: the selectors come from the GDT just loaded and describe valid
    // ring 0 code/data segments and the TSS built above, which is 'static.
    unsafe {
        CS::set_reg(selectors.kernel_code);
        DS::set_reg(selectors.kernel_data);
        ES::set_reg(selectors.kernel_data);
        SS::set_reg(selectors.kernel_data);
        load_tss(selectors.tss);
    }
}

/// Returns the selectors of the loaded GDT.
///
/// # Panics
/// Panics when called before [`init`].
pub fn selectors() -> Selectors {
    GDT.get().expect("GDT not initialised").1
}

/// Sets the stack the CPU switches to when an interrupt or exception arrives
/// in ring 3 (TSS.RSP0).
///
/// Call with interrupts disabled (see [`super::set_kernel_stack`]).
pub(super) fn set_interrupt_stack(top: VirtAddr) {
    // SAFETY: a single aligned 8-byte store into the static TSS; interrupts
    // are disabled by the caller, so no ring transition reads it halfway,
    // and the kernel runs on one CPU.
    unsafe {
        (&raw mut TSS)
            .cast::<u8>()
            .add(core::mem::offset_of!(
                TaskStateSegment,
                privilege_stack_table
            ))
            .cast::<VirtAddr>()
            .write_unaligned(top);
    }
}
