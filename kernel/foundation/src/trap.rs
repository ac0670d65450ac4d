//! Hooks through which traps reach the kernel: timer, switch requests, syscalls, exceptions.
//!
//! The foundation's entry stubs save the interrupted context and then hand
//! control to the function the kernel registered here; what the kernel
//! decides comes back as the return value (the saved stack pointer to
//! resume, a syscall's result). The foundation never names a kernel module,
//! so the layers point down only: the task layer registers its tick and
//! switch handlers, the syscall layer its dispatcher, and the kernel its
//! handling of faults.
//!
//! Each hook is a plain function pointer kept in an atomic word, so reading
//! it from an interrupt handler takes no lock. An unset hook has a safe
//! default: the timer and switch hooks resume the interrupted context, the
//! syscall hook answers every call with [`NO_SYSCALL_HOOK`], and a fatal
//! exception without a hook halts the CPU.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arch::exceptions::ExceptionReport;

/// Called on every timer tick with the interrupted context's saved stack
/// pointer; returns the saved stack pointer to resume (the same or another
/// agent's). Runs with interrupts disabled.
pub type TimerHook = fn(saved_stack_pointer: u64) -> u64;

/// Called for a switch request (yield, sleep, block, exit) with the saved
/// stack pointer and the request's two words; returns the stack pointer to
/// resume. Runs with interrupts disabled.
pub type SwitchHook = fn(saved_stack_pointer: u64, request: u64, argument: u64) -> u64;

/// Called for every `syscall` from ring 3 with the number in `rax` and the
/// six argument registers; returns the value for `rax`. Runs with
/// interrupts enabled, on the calling agent's kernel stack.
pub type SyscallHook = fn(number: u64, arguments: [u64; 6]) -> i64;

/// Called for an exception the foundation cannot continue from (a fault in
/// ring 3, or any fatal one in ring 0). Never returns: it ends the faulting
/// agent (switching away for good) or stops the machine.
pub type FatalHook = fn(&ExceptionReport) -> !;

/// What a syscall returns while no dispatcher is registered: the ABI's
/// "no such syscall".
pub const NO_SYSCALL_HOOK: i64 = agent_abi::Error::NoSuchSyscall as i64;

static TIMER: AtomicUsize = AtomicUsize::new(0);
static SWITCH: AtomicUsize = AtomicUsize::new(0);
static SYSCALL: AtomicUsize = AtomicUsize::new(0);
static FATAL: AtomicUsize = AtomicUsize::new(0);

/// Registers the timer hook (the task manager's tick).
pub fn set_timer_hook(hook: TimerHook) {
    TIMER.store(hook as usize, Ordering::Release);
}

/// Registers the switch-request hook.
pub fn set_switch_hook(hook: SwitchHook) {
    SWITCH.store(hook as usize, Ordering::Release);
}

/// Registers the syscall dispatcher.
pub fn set_syscall_hook(hook: SyscallHook) {
    SYSCALL.store(hook as usize, Ordering::Release);
}

/// Registers the handler of fatal exceptions and ring-3 faults.
pub fn set_fatal_hook(hook: FatalHook) {
    FATAL.store(hook as usize, Ordering::Release);
}

/// Returns the registered timer hook.
pub(crate) fn timer_hook() -> Option<TimerHook> {
    let address = TIMER.load(Ordering::Acquire);
    // SAFETY: a non-zero value was stored by `set_timer_hook` from a
    // `TimerHook`, so it is a valid function pointer of that type.
    (address != 0).then(|| unsafe { core::mem::transmute::<usize, TimerHook>(address) })
}

/// Returns the registered switch hook.
pub(crate) fn switch_hook() -> Option<SwitchHook> {
    let address = SWITCH.load(Ordering::Acquire);
    // SAFETY: as in `timer_hook`, stored from a `SwitchHook`.
    (address != 0).then(|| unsafe { core::mem::transmute::<usize, SwitchHook>(address) })
}

/// Returns the registered syscall hook.
pub(crate) fn syscall_hook() -> Option<SyscallHook> {
    let address = SYSCALL.load(Ordering::Acquire);
    // SAFETY: as in `timer_hook`, stored from a `SyscallHook`.
    (address != 0).then(|| unsafe { core::mem::transmute::<usize, SyscallHook>(address) })
}

/// Returns the registered fatal hook.
pub(crate) fn fatal_hook() -> Option<FatalHook> {
    let address = FATAL.load(Ordering::Acquire);
    // SAFETY: as in `timer_hook`, stored from a `FatalHook`.
    (address != 0).then(|| unsafe { core::mem::transmute::<usize, FatalHook>(address) })
}
