//! The `syscall`/`sysret` entry and the first entry into ring 3.
//!
//! On `syscall` the CPU leaves RSP on the user stack, puts the user RIP in
//! RCX and RFLAGS in R11, and clears the flags in SFMASK (interrupts off).
//! The entry swaps GS to reach [`CpuLocal`], parks the user RSP there, loads
//! the running agent's kernel stack, swaps GS back (the rest of the kernel
//! never uses GS), and saves a full [`SavedContext`] exactly as an interrupt
//! would. The Rust dispatcher gets that context: arguments in
//! rdi/rsi/rdx/r10/r8/r9, the syscall number in rax, and the result goes back
//! in rax. Blocking syscalls block in kernel mode on this stack, like kernel
//! agents do, so the return path is always back to the same agent, with
//! `sysretq`; a return RIP or RSP outside the user half ends the agent
//! instead (`sysretq` to a non-canonical RIP would fault in ring 0).

use core::arch::naked_asm;

use x86_64::{
    VirtAddr,
    registers::{
        model_specific::{Efer, EferFlags, KernelGsBase, LStar, SFMask, Star},
        rflags::RFlags,
    },
};

use super::{
    cpu::{RFLAGS_INTERRUPT_ENABLE, RFLAGS_RESERVED},
    gdt::{USER_CODE_SELECTOR, USER_DATA_SELECTOR},
    switch::SavedContext,
};
use crate::memory::layout::USER_HALF_END;

/// Per-CPU data reached through GS during the syscall entry (the entry
/// names each field's offset: [`GS_KERNEL_STACK_TOP`],
/// [`GS_USER_STACK_SCRATCH`]).
#[repr(C)]
struct CpuLocal {
    /// Top of the running agent's kernel stack.
    kernel_stack_top: u64,
    /// The user RSP while the entry switches stacks.
    user_stack_scratch: u64,
}

/// Written only with interrupts disabled (syscall entry runs with IF clear).
static mut CPU_LOCAL: CpuLocal = CpuLocal {
    kernel_stack_top: 0,
    user_stack_scratch: 0,
};

/// RFLAGS for fresh user code: interrupts on, reserved bit 1 set.
const USER_RFLAGS: u64 = RFLAGS_INTERRUPT_ENABLE | RFLAGS_RESERVED;
/// `gs:` offset of [`CpuLocal::kernel_stack_top`].
const GS_KERNEL_STACK_TOP: usize = core::mem::offset_of!(CpuLocal, kernel_stack_top);
/// `gs:` offset of [`CpuLocal::user_stack_scratch`].
const GS_USER_STACK_SCRATCH: usize = core::mem::offset_of!(CpuLocal, user_stack_scratch);

/// Enables `syscall`/`sysret` and points them at the entry below.
pub fn init() {
    let selectors = super::gdt::selectors();
    // SAFETY: the selectors come from the loaded GDT, in the order `sysret`
    // requires (user data right before user code); `Star::write` checks it.
    Star::write(
        selectors.user_code,
        selectors.user_data,
        selectors.kernel_code,
        selectors.kernel_data,
    )
    .expect("GDT layout does not fit syscall/sysret");
    LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK,
    );
    KernelGsBase::write(VirtAddr::from_ptr(&raw const CPU_LOCAL));
    // SAFETY: enabling SCE only makes `syscall` valid; LSTAR/STAR/SFMASK
    // are set above, so a `syscall` lands in `syscall_entry`.
    unsafe { Efer::update(|flags| flags.insert(EferFlags::SYSTEM_CALL_EXTENSIONS)) };
}

/// Records the kernel stack the next `syscall` switches to (see
/// [`super::set_kernel_stack`]).
pub(super) fn set_kernel_stack(top: VirtAddr) {
    // SAFETY: called with interrupts disabled on the only CPU; the entry
    // reads this field with interrupts disabled too, so accesses never overlap.
    unsafe { CPU_LOCAL.kernel_stack_top = top.as_u64() };
}

/// The `syscall` entry point (LSTAR).
#[unsafe(naked)]
extern "C" fn syscall_entry() {
    naked_asm!(
        "swapgs",
        "mov gs:[{scratch}], rsp",
        "mov rsp, gs:[{stack_top}]",
        "push {user_data}",
        "push qword ptr gs:[{scratch}]",
        "swapgs",
        "push r11",
        "push {user_code}",
        "push rcx",
        "push rax", "push rbx", "push rcx", "push rdx", "push rsi", "push rdi",
        "push rbp", "push r8", "push r9", "push r10", "push r11", "push r12",
        "push r13", "push r14", "push r15",
        "mov rdi, rsp",
        "cld",
        "call {dispatch}",
        // `dispatch` returns only when the saved RIP and RSP are canonical
        // user addresses, so `sysretq` cannot fault in ring 0.
        "pop r15", "pop r14", "pop r13", "pop r12", "pop r11", "pop r10",
        "pop r9", "pop r8", "pop rbp", "pop rdi", "pop rsi", "pop rdx",
        "pop rcx", "pop rbx", "pop rax",
        // sysretq: RIP from rcx, RFLAGS from r11, then the user stack.
        "pop rcx",
        "add rsp, 8",
        "pop r11",
        "pop rsp",
        "sysretq",
        user_data = const USER_DATA_SELECTOR,
        user_code = const USER_CODE_SELECTOR,
        scratch = const GS_USER_STACK_SCRATCH,
        stack_top = const GS_KERNEL_STACK_TOP,
        dispatch = sym dispatch,
    )
}

/// Runs the syscall named in `context`; returns only when `sysretq` to the
/// saved RIP and RSP is safe, and otherwise ends the agent (status
/// `FAULT_STATUS_BASE - 13`, as a general protection fault in ring 3).
extern "C" fn dispatch(context: *mut SavedContext) {
    // SAFETY: `context` points at the registers `syscall_entry` just pushed
    // on this agent's kernel stack; nothing else refers to them until the
    // entry pops them after this function returns.
    let context = unsafe { &mut *context };
    super::cpu::enable_interrupts();
    let arguments = [
        context.rdi,
        context.rsi,
        context.rdx,
        context.r10,
        context.r8,
        context.r9,
    ];
    context.rax = match crate::trap::syscall_hook() {
        Some(hook) => hook(context.rax, arguments),
        None => crate::trap::NO_SYSCALL_HOOK,
    } as u64;
    super::cpu::disable_interrupts();
    // sysret faults in ring 0 on a non-canonical RCX (the classic hazard of
    // a `syscall` in the last bytes of the user half), and a kernel-half or
    // non-canonical user RSP is no stack to return to: end the agent.
    if context.rip >= USER_HALF_END || context.rsp >= USER_HALF_END {
        super::exceptions::end_agent_on_bad_return(context);
    }
}

/// Leaves the kernel for ring 3 at `entry` with the stack at `user_stack`.
///
/// The caller has switched to the agent's address space and checked that
/// both addresses are mapped user memory; a bad address only faults in ring
/// 3, which ends the agent.
pub fn enter_user_mode(entry: u64, user_stack: u64) -> ! {
    // SAFETY: iretq to ring 3 with user selectors; it only changes the
    // privilege level, RIP, RSP and RFLAGS, and user code cannot reach kernel
    // memory (its pages lack the user bit). Registers are cleared so no
    // kernel value leaks to user space.
    unsafe {
        core::arch::asm!(
            "cli",
            "push {user_data}",
            "push {stack}",
            "push {flags}",
            "push {user_code}",
            "push {entry}",
            "xor eax, eax", "xor ebx, ebx", "xor ecx, ecx", "xor edx, edx",
            "xor esi, esi", "xor edi, edi", "xor ebp, ebp",
            "xor r8d, r8d", "xor r9d, r9d", "xor r10d, r10d", "xor r11d, r11d",
            "xor r12d, r12d", "xor r13d, r13d", "xor r14d, r14d", "xor r15d, r15d",
            "iretq",
            user_data = const USER_DATA_SELECTOR,
            user_code = const USER_CODE_SELECTOR,
            flags = const USER_RFLAGS,
            stack = in(reg) user_stack,
            entry = in(reg) entry,
            options(noreturn),
        )
    }
}
