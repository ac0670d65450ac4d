//! The interrupt descriptor table and the hardware interrupt handlers.
//!
//! Locking rule: a handler never takes a lock that normal code holds with
//! interrupts enabled. Kernel locks shared with handlers are taken with
//! interrupts disabled (`cpu::without_interrupts`), so on this single CPU a
//! handler can never spin on a lock its own interrupted code holds.

use super::pic::{self, Irq};
use spin::Once;
use x86_64::{VirtAddr, structures::idt::InterruptDescriptorTable};

use super::{device_interrupts, exceptions, switch};

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Builds and loads the IDT: every CPU exception plus the timer.
pub fn init_idt() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        exceptions::install(&mut idt);
        device_interrupts::install(&mut idt);
        // SAFETY: both entries are the naked stubs of `switch`, which save
        // and restore every register and end with `iretq`, as an interrupt
        // gate entry must.
        unsafe {
            idt[Irq::Timer.vector()]
                .set_handler_addr(VirtAddr::new(switch::timer_entry as *const () as u64));
            idt[switch::SWITCH_VECTOR]
                .set_handler_addr(VirtAddr::new(switch::switch_entry as *const () as u64));
        }
        idt
    });
    idt.load();
}

/// Remaps the PICs, starts the PIT and enables interrupts.
pub fn init_timer_and_enable() {
    pic::init(&[Irq::Timer]);
    let frequency = super::pit::start_periodic(crate::time::TICK_FREQUENCY_HZ);
    crate::time::set_tick_frequency(frequency);
    x86_64::instructions::interrupts::enable();
}
