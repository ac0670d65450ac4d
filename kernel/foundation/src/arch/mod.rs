//! x86_64 specifics: descriptor tables, interrupt entry and CPU instructions.

pub mod apic;
pub mod cpu;
pub mod device_interrupts;
pub mod exceptions;
pub mod gdt;
pub mod interrupts;
pub mod pic;
pub mod pit;
pub mod switch;
pub mod syscall;

/// Loads the GDT (with the TSS and its double-fault stack) and the IDT.
pub fn init_cpu_tables() {
    gdt::init();
    interrupts::init_idt();
    syscall::init();
    cpu::disable_floating_point();
}

/// Remaps the PICs, starts the periodic timer and enables interrupts.
pub fn init_interrupts() {
    interrupts::init_timer_and_enable();
}
