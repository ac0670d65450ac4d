//! Single CPU instructions and registers wrapped as safe functions.

use core::{arch::x86_64::_rdtsc, panic::Location};

pub use x86_64::instructions::interrupts::{
    are_enabled as interrupts_enabled, disable as disable_interrupts, enable as enable_interrupts,
};

/// Runs `action` with interrupts disabled, restoring the previous state.
///
/// The outermost stretch (interrupts were enabled on entry) is measured and
/// counted with the caller's location in [`super::interrupts_off`].
#[track_caller]
pub fn without_interrupts<R>(action: impl FnOnce() -> R) -> R {
    let site = Location::caller();
    if !interrupts_enabled() {
        return action();
    }
    disable_interrupts();
    let start = read_timestamp_counter();
    let result = action();
    super::interrupts_off::record(read_timestamp_counter().wrapping_sub(start), site);
    enable_interrupts();
    result
}

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

/// Clears RFLAGS.AC (also where the CPU has no SMAP, and so no `clac`).
pub fn clear_alignment_check() {
    // SAFETY: pushfq/popfq of the current flags with only AC cleared; the
    // stack is used below the red zone-free kernel stack pointer and
    // restored, and no other flag changes.
    unsafe {
        core::arch::asm!(
            "pushfq",
            "and dword ptr [rsp], {no_ac}",
            "popfq",
            no_ac = const !(1u32 << 18),
        );
    }
}

/// Which supervisor protections [`enable_protections`] turned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protections {
    /// Supervisor-mode execution prevention: ring 0 cannot run user pages.
    pub smep: bool,
    /// Supervisor-mode access prevention: ring 0 cannot touch user pages
    /// (the kernel reaches user memory only through the physical window).
    pub smap: bool,
    /// User-mode instruction prevention: ring 3 cannot run `sgdt`, `sidt`,
    /// `sldt`, `smsw` or `str`.
    pub umip: bool,
}

impl core::fmt::Display for Protections {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = |on: bool| if on { "on" } else { "off (not supported)" };
        write!(
            formatter,
            "cpu: SMEP {}, SMAP {}, UMIP {}",
            state(self.smep),
            state(self.smap),
            state(self.umip)
        )
    }
}

/// Bits of [`Protections`] in effect: SMEP 1, SMAP 2, UMIP 4.
static PROTECTIONS: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// Turns on SMEP, SMAP and UMIP where CPUID reports them; returns which.
pub fn enable_protections() -> Protections {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    use x86_64::registers::control::{Cr4, Cr4Flags};
    // CPUID exists on every x86_64 CPU; leaf 7 counts only when leaf 0
    // says it exists.
    let (max_leaf, leaf7) = (__cpuid(0).eax, __cpuid_count(7, 0));
    let mut found = Protections::default();
    if max_leaf >= 7 {
        found.smep = leaf7.ebx & (1 << 7) != 0;
        found.smap = leaf7.ebx & (1 << 20) != 0;
        found.umip = leaf7.ecx & (1 << 2) != 0;
    }
    let mut flags = Cr4Flags::empty();
    flags.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, found.smep);
    flags.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, found.smap);
    flags.set(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION, found.umip);
    clear_alignment_check();
    // SAFETY: the kernel never executes user pages nor dereferences user
    // addresses (user copies go through the physical-memory window), and
    // uses none of the instructions UMIP reserves from ring 3; each bit is
    // set only where CPUID reports the feature.
    unsafe { Cr4::update(|current| current.insert(flags)) };
    PROTECTIONS.store(
        u8::from(found.smep) | u8::from(found.smap) << 1 | u8::from(found.umip) << 2,
        core::sync::atomic::Ordering::Relaxed,
    );
    found
}

/// Returns the protections [`enable_protections`] turned on.
pub fn protections() -> Protections {
    let bits = PROTECTIONS.load(core::sync::atomic::Ordering::Relaxed);
    Protections {
        smep: bits & 1 != 0,
        smap: bits & 2 != 0,
        umip: bits & 4 != 0,
    }
}
