//! Context switching: the timer and yield interrupt entries and new stacks.
//!
//! Both entries save every general-purpose register on the interrupted
//! agent's stack, call into the task manager with that stack pointer, and
//! resume whatever stack pointer it returns: the same agent, or another one
//! whose registers were saved the same way. The saved context is therefore
//! just a stack pointer; the task manager treats it as an opaque number.
//!
//! Kernel agents run soft-float code (the `x86_64-unknown-none` target uses
//! no SSE/x87 registers), so there is no floating-point state to save.

use core::arch::naked_asm;

use super::{
    cpu::{RFLAGS_INTERRUPT_ENABLE, RFLAGS_RESERVED},
    gdt::{KERNEL_CODE_SELECTOR, KERNEL_DATA_SELECTOR},
};
use crate::memory::stack::KernelStack;

/// Vector of the software interrupt agents use to yield, sleep, block or exit.
pub const SWITCH_VECTOR: u8 = 0x81;

/// The registers the entries push, lowest address first, then the frame
/// the CPU pushed on interrupt entry.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SavedContext {
    /// General-purpose registers, r15 first (pushed last).
    pub r15: u64,
    /// r14.
    pub r14: u64,
    /// r13.
    pub r13: u64,
    /// r12.
    pub r12: u64,
    /// r11.
    pub r11: u64,
    /// r10.
    pub r10: u64,
    /// r9.
    pub r9: u64,
    /// r8.
    pub r8: u64,
    /// rbp.
    pub rbp: u64,
    /// rdi: first argument of a switch request.
    pub rdi: u64,
    /// rsi: second argument of a switch request.
    pub rsi: u64,
    /// rdx.
    pub rdx: u64,
    /// rcx.
    pub rcx: u64,
    /// rbx.
    pub rbx: u64,
    /// rax.
    pub rax: u64,
    /// Interrupted instruction pointer.
    pub rip: u64,
    /// Code segment.
    pub cs: u64,
    /// Flags.
    pub rflags: u64,
    /// Interrupted stack pointer.
    pub rsp: u64,
    /// Stack segment.
    pub ss: u64,
}

macro_rules! switching_entry {
    ($name:ident, $handler:path) => {
        /// Interrupt entry that saves all registers and may switch stacks.
        #[unsafe(naked)]
        pub extern "C" fn $name() {
            naked_asm!(
                "push rax", "push rbx", "push rcx", "push rdx", "push rsi", "push rdi",
                "push rbp", "push r8", "push r9", "push r10", "push r11", "push r12",
                "push r13", "push r14", "push r15",
                // The CPU aligned RSP to 16 before pushing its 5-word frame;
                // 15 more words leave it 16-byte aligned for the call.
                "mov rdi, rsp",
                "cld",
                // An interrupt from ring 3 keeps the user's AC flag: clear
                // it, so kernel code never runs with SMAP lifted.
                "pushfq",
                "and dword ptr [rsp], {no_ac}",
                "popfq",
                "call {handler}",
                "mov rsp, rax",
                "pop r15", "pop r14", "pop r13", "pop r12", "pop r11", "pop r10",
                "pop r9", "pop r8", "pop rbp", "pop rdi", "pop rsi", "pop rdx",
                "pop rcx", "pop rbx", "pop rax",
                "iretq",
                handler = sym $handler,
                no_ac = const !(1u32 << 18),
            )
        }
    };
}

switching_entry!(timer_entry, timer_handler);
switching_entry!(switch_entry, switch_handler);

extern "C" fn timer_handler(context: *mut SavedContext) -> *mut SavedContext {
    let start = super::cpu::read_timestamp_counter();
    crate::time::on_tick();
    super::pic::end_of_interrupt(super::pic::Irq::Timer.vector());
    let resume = match crate::trap::timer_hook() {
        // The hook returns a stack pointer the task manager saved from one
        // of these entries (or `context` itself).
        Some(hook) => hook(context as u64) as *mut SavedContext,
        None => context,
    };
    record_handler(start, core::panic::Location::caller());
    resume
}

/// Counts the interrupts-off stretch of a switching handler that began at
/// TSC `start`.
fn record_handler(start: u64, site: &'static core::panic::Location<'static>) {
    let cycles = super::cpu::read_timestamp_counter().wrapping_sub(start);
    super::interrupts_off::record(cycles, site);
}

extern "C" fn switch_handler(context: *mut SavedContext) -> *mut SavedContext {
    // SAFETY: `context` points at the registers `switch_entry` just pushed
    // on the current stack; they stay valid until this handler returns.
    let (request, argument) = unsafe { ((*context).rdi, (*context).rsi) };
    let start = super::cpu::read_timestamp_counter();
    let resume = match crate::trap::switch_hook() {
        Some(hook) => hook(context as u64, request, argument) as *mut SavedContext,
        None => context,
    };
    record_handler(start, core::panic::Location::caller());
    resume
}

/// Asks the task manager to handle `request` with `argument` and possibly
/// run another agent; returns when this agent runs again.
///
/// The call builds the frame an interrupt through [`SWITCH_VECTOR`] would
/// push (stack aligned to 16, SS, RSP, RFLAGS, CS, RIP, interrupts then
/// disabled) and jumps to the same entry, instead of executing `int`: the
/// same path, a little cheaper, and it also runs under nested KVM, whose
/// instruction emulator gave up on this `int` in a benchmark run.
pub fn request_switch(request: u64, argument: u64) {
    // SAFETY: the frame built here is exactly what the CPU pushes for an
    // interrupt from ring 0, so `switch_entry` saves every register and
    // its `iretq` comes back to label 2 with the original RSP and RFLAGS;
    // rdi/rsi carry the request and are restored unchanged; rax is
    // scratch; memory may be changed by other agents meanwhile.
    unsafe {
        core::arch::asm!(
            "mov rax, rsp",
            "and rsp, -16",
            "push {data}",
            "push rax",
            "pushfq",
            "cli",
            "push {code}",
            "lea rax, [rip + 2f]",
            "push rax",
            "jmp {entry}",
            "2:",
            data = const KERNEL_DATA_SELECTOR,
            code = const KERNEL_CODE_SELECTOR,
            entry = sym switch_entry,
            in("rdi") request,
            in("rsi") argument,
            out("rax") _,
        );
    }
}

/// Writes a first context on `stack`, so that resuming it enters `entry` in
/// ring 0 with interrupts enabled.
///
/// Returns the stack and the saved stack pointer to hand to the switch
/// entries. Taking the stack by value is what makes this safe: a
/// `KernelStack` an agent runs on is owned by the task manager and never
/// handed out, so the one passed here is not in use.
pub fn prepare_stack(stack: KernelStack, entry: extern "C" fn() -> !) -> (KernelStack, u64) {
    let stack_top = stack.top();
    let selectors = super::gdt::selectors();
    // Entered as if called: RSP % 16 == 8 at the first instruction.
    let entry_stack_pointer = (stack_top.as_u64() & !0xF) - 8;
    let context = SavedContext {
        rip: entry as *const () as u64,
        cs: u64::from(selectors.kernel_code.0),
        rflags: RFLAGS_INTERRUPT_ENABLE | RFLAGS_RESERVED,
        rsp: entry_stack_pointer,
        ss: u64::from(selectors.kernel_data.0),
        ..SavedContext::default()
    };
    let address = entry_stack_pointer - 64 - core::mem::size_of::<SavedContext>() as u64;
    let address = address & !0xF;
    // SAFETY: the range [address, stack_top) lies inside `stack` (far less
    // than its size below the top), which is mapped, writable and unused
    // (see above); the address is 16-aligned.
    unsafe { (address as *mut SavedContext).write(context) };
    (stack, address)
}
