//! Single CPU instructions and registers wrapped as safe functions.

use core::arch::x86_64::_rdtsc;

pub use x86_64::instructions::interrupts::{
    are_enabled as interrupts_enabled, disable as disable_interrupts, enable as enable_interrupts,
    without_interrupts,
};

/// RFLAGS bit 9: interrupts enabled.
pub const RFLAGS_INTERRUPT_ENABLE: u64 = 1 << 9;
/// RFLAGS bit 1 is reserved and always set.
pub const RFLAGS_RESERVED: u64 = 1 << 1;

/// Halts the CPU until the next interrupt arrives.
pub fn halt() {
    x86_64::instructions::hlt();
}

/// Atomically enables interrupts and halts, so a wake-up interrupt that is
/// already pending cannot be missed between the two instructions.
pub fn enable_interrupts_and_halt() {
    x86_64::instructions::interrupts::enable_and_hlt();
}

/// Stops this CPU for good: interrupts off, then halt forever.
pub fn halt_forever() -> ! {
    loop {
        disable_interrupts();
        halt();
    }
}

/// Returns the time-stamp counter.
pub fn read_timestamp_counter() -> u64 {
    // SAFETY: RDTSC has no side effects and is available on every x86_64 CPU.
    unsafe { _rdtsc() }
}

/// Triggers a breakpoint exception (`int3`).
pub fn breakpoint() {
    x86_64::instructions::interrupts::int3();
}

/// Releases `lock` if it is held, from a path that will never return to
/// the holder (panic or fatal exception with interrupts disabled).
///
/// Sound only on a single CPU whose interrupted lock holder never resumes;
/// the kernel runs on the boot CPU alone.
pub fn break_lock_on_fatal_path<T: ?Sized>(lock: &spin::Mutex<T>) {
    if lock.is_locked() {
        // SAFETY: (1) interrupts are disabled and this CPU is the only one
        // running, so no other holder can be inside the critical section
        // concurrently; (2) the holder was interrupted by a fatal event and
        // will never run again, so its guard is never used after this.
        unsafe { lock.force_unlock() };
    }
}

/// Turns off x87, MMX and SSE: the kernel is soft-float and saves no FPU
/// state, so an agent that executes such an instruction faults (`#NM` or
/// `#UD`) instead of seeing or changing another agent's registers.
pub fn disable_floating_point() {
    use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
    // SAFETY: no kernel code uses x87/SSE registers (soft-float target), so
    // making those instructions fault changes no kernel behaviour.
    unsafe {
        Cr0::update(|flags| {
            flags.insert(Cr0Flags::EMULATE_COPROCESSOR);
            flags.remove(Cr0Flags::MONITOR_COPROCESSOR);
        });
        Cr4::update(|flags| {
            flags.remove(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE | Cr4Flags::OSXSAVE);
        });
    }
}
