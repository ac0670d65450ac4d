//! Global descriptor table and task state segment.
//!
//! The TSS holds an interrupt stack table entry for double faults, so a kernel
//! stack overflow (which faults again while pushing the page-fault frame)
//! lands on a known-good stack instead of triple-faulting the machine.

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
/// Size of the double-fault stack.
const DOUBLE_FAULT_STACK_SIZE: usize = 32 * 1024;

/// A stack the CPU switches to; aligned as the ABI wants.
#[repr(C, align(16))]
struct Stack([u8; DOUBLE_FAULT_STACK_SIZE]);

/// Mutable, so that it lands in writable memory; only the CPU writes to it.
static mut DOUBLE_FAULT_STACK: Stack = Stack([0; DOUBLE_FAULT_STACK_SIZE]);

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

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

/// Builds and loads the GDT and TSS, then reloads every segment register.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let stack_start = VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK);
        // Stacks grow down: the IST entry is the end of the stack.
        tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST_INDEX)] =
            stack_start + DOUBLE_FAULT_STACK_SIZE as u64;
        tss
    });
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
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
