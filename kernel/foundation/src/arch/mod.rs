//! x86_64 specifics: descriptor tables, interrupt entry and CPU instructions.

pub mod apic;
pub mod cpu;
pub mod device_interrupts;
pub mod exceptions;
pub mod gdt;
pub mod interrupts;
pub mod interrupts_off;
pub mod pic;
pub mod pit;
pub mod switch;
pub mod syscall;
pub mod vector;

/// Loads the GDT (with the TSS and its double-fault stack) and the IDT,
/// and turns the vector unit on for ring 3 ([`vector::enable`]).
pub fn init_cpu_tables() {
    gdt::init();
    interrupts::init_idt();
    syscall::init();
    log::info!("{}", vector::enable());
    log::info!("{}", cpu::enable_protections());
}

/// Makes `top` the kernel stack of the agent about to run: the CPU switches
/// to it on interrupts and exceptions from ring 3 (TSS.RSP0) and the
/// `syscall` entry loads it.
///
/// Call with interrupts disabled (the task manager does, on every switch).
pub fn set_kernel_stack(top: x86_64::VirtAddr) {
    gdt::set_interrupt_stack(top);
    syscall::set_kernel_stack(top);
}

/// Remaps the PICs, starts the periodic timer and enables interrupts.
pub fn init_interrupts() {
    interrupts::init_timer_and_enable();
}
