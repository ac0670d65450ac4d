//! CPU exception handlers: report what happened, then stop cleanly.
//!
//! Every one of the architecture's exception vectors has a handler. A handler
//! builds an [`ExceptionReport`] (vector name, error code, RIP, RSP, CR2 for page
//! faults), gives it to the installed [`ExceptionHook`] if any, and then:
//! - `#BP` (breakpoint) and `#OF` (overflow) are traps: log and continue;
//! - `#DB` (debug) from ring 3 is an agent single-stepping itself (RFLAGS.TF
//!   set before `syscall` comes back with `sysretq`): the handler clears TF
//!   in the interrupted frame and the agent goes on; from ring 0 it is fatal;
//! - NMI and machine check stop the machine, whichever ring they interrupt
//!   (hardware trouble is never one agent's fault); they, `#DB` and double
//!   fault run on their own interrupt stacks (see `gdt`);
//! - every other exception is fatal: print the report and halt, or in a test
//!   kernel exit QEMU with the failure code.

use core::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
};

use spin::Mutex;
use x86_64::{
    registers::control::Cr2,
    structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode},
};

use super::gdt::{DEBUG_IST_INDEX, DOUBLE_FAULT_IST_INDEX, MACHINE_CHECK_IST_INDEX, NMI_IST_INDEX};

/// What the CPU reported when an exception was raised.
#[derive(Debug, Clone, Copy)]
pub struct ExceptionReport {
    /// Vector number, 0..32.
    pub vector: u8,
    /// Architectural name, such as "page fault".
    pub name: &'static str,
    /// Error code pushed by the CPU, for the vectors that push one.
    pub error_code: Option<u64>,
    /// Instruction pointer at the fault.
    pub instruction_pointer: u64,
    /// Stack pointer at the fault.
    pub stack_pointer: u64,
    /// Code segment at the fault (its low two bits are the privilege level).
    pub code_segment: u64,
    /// Faulting linear address (CR2); page faults only.
    pub fault_address: Option<u64>,
}

impl ExceptionReport {
    /// Returns whether the exception was raised while running in ring 3.
    pub fn from_user_mode(&self) -> bool {
        self.code_segment & 0b11 == 3
    }
}

impl fmt::Display for ExceptionReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "EXCEPTION #{} {}: rip={:#x} rsp={:#x} cs={:#x}",
            self.vector, self.name, self.instruction_pointer, self.stack_pointer, self.code_segment
        )?;
        if let Some(code) = self.error_code {
            write!(formatter, " error_code={code:#x}")?;
        }
        if let Some(address) = self.fault_address {
            write!(formatter, " cr2={address:#x}")?;
        }
        Ok(())
    }
}

/// A function told about every exception before the default action.
///
/// It may not return (for example a test kernel that expected the exception
/// exits QEMU with success); if it returns, the default action follows.
pub type ExceptionHook = fn(&ExceptionReport);

static HOOK: Mutex<Option<ExceptionHook>> = Mutex::new(None);
static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);
static USER_SINGLE_STEPS: AtomicU64 = AtomicU64::new(0);

/// Installs `hook`, replacing any earlier one.
pub fn set_hook(hook: ExceptionHook) {
    super::cpu::without_interrupts(|| *HOOK.lock() = Some(hook));
}

/// Returns how many single-step traps from ring 3 were handled (and the
/// agent's TF cleared) since boot.
pub fn user_single_step_count() -> u64 {
    USER_SINGLE_STEPS.load(Ordering::Relaxed)
}

/// Returns how many breakpoint exceptions were handled since boot.
pub fn breakpoint_count() -> u64 {
    BREAKPOINTS.load(Ordering::Relaxed)
}

fn report(
    vector: u8,
    name: &'static str,
    frame: &InterruptStackFrame,
    error_code: Option<u64>,
    fault_address: Option<u64>,
) -> ExceptionReport {
    // An exception from ring 3 keeps the user's AC flag: no kernel code
    // runs with SMAP lifted.
    super::cpu::clear_alignment_check();
    let report = ExceptionReport {
        vector,
        name,
        error_code,
        instruction_pointer: frame.instruction_pointer.as_u64(),
        stack_pointer: frame.stack_pointer.as_u64(),
        code_segment: u64::from(frame.code_segment.0),
        fault_address,
    };
    // A hook is called only if its lock is free: an exception inside
    // `set_hook` must not deadlock.
    let hook = HOOK.try_lock().and_then(|hook| *hook);
    if let Some(hook) = hook {
        hook(&report);
    }
    report
}

/// Hands a fatal exception (or a ring-3 fault) to the kernel's fatal hook,
/// which ends the faulting agent or stops the machine; halts without one.
fn fatal(report: &ExceptionReport) -> ! {
    match crate::trap::fatal_hook() {
        Some(hook) => hook(report),
        None => super::cpu::halt_forever(),
    }
}

macro_rules! fatal_handler {
    ($name:ident, $vector:expr, $text:expr) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame) {
            fatal(&report($vector, $text, &frame, None, None));
        }
    };
}

macro_rules! fatal_handler_with_code {
    ($name:ident, $vector:expr, $text:expr) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame, code: u64) {
            fatal(&report($vector, $text, &frame, Some(code), None));
        }
    };
}

fatal_handler!(divide_error, 0, "divide error");
fatal_handler!(bound_range_exceeded, 5, "bound range exceeded");
fatal_handler!(invalid_opcode, 6, "invalid opcode");
fatal_handler!(device_not_available, 7, "device not available");
fatal_handler_with_code!(invalid_tss, 10, "invalid TSS");
fatal_handler_with_code!(segment_not_present, 11, "segment not present");
fatal_handler_with_code!(stack_segment_fault, 12, "stack-segment fault");
fatal_handler_with_code!(general_protection_fault, 13, "general protection fault");
fatal_handler!(x87_floating_point, 16, "x87 floating-point exception");
fatal_handler_with_code!(alignment_check, 17, "alignment check");
fatal_handler!(simd_floating_point, 19, "SIMD floating-point exception");
fatal_handler!(virtualization, 20, "virtualization exception");
fatal_handler_with_code!(control_protection, 21, "control protection exception");
fatal_handler!(hypervisor_injection, 28, "hypervisor injection exception");
fatal_handler_with_code!(vmm_communication, 29, "VMM communication exception");
fatal_handler_with_code!(security_exception, 30, "security exception");

extern "x86-interrupt" fn breakpoint(frame: InterruptStackFrame) {
    BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
    let report = report(3, "breakpoint", &frame, None, None);
    log::warn!("{report} (continuing)");
}

extern "x86-interrupt" fn overflow(frame: InterruptStackFrame) {
    let report = report(4, "overflow", &frame, None, None);
    log::warn!("{report} (continuing)");
}

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, code: PageFaultErrorCode) {
    // CR2 always holds a canonical address after a page fault; a raw read
    // keeps the handler from faulting on the impossible case.
    let address = Cr2::read_raw();
    fatal(&report(
        14,
        "page fault",
        &frame,
        Some(code.bits()),
        Some(address),
    ));
}

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, code: u64) -> ! {
    fatal(&report(8, "double fault", &frame, Some(code), None))
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    machine_fatal(report(18, "machine check", &frame, None, None))
}

extern "x86-interrupt" fn non_maskable_interrupt(frame: InterruptStackFrame) {
    machine_fatal(report(2, "non-maskable interrupt", &frame, None, None))
}

/// Stops the machine for a hardware event: reported as if it came from
/// ring 0, so the fatal hook never blames (and ends) the interrupted agent
/// on this interrupt stack.
fn machine_fatal(mut report: ExceptionReport) -> ! {
    if report.from_user_mode() {
        log::error!("{report} (interrupted ring 3)");
        report.code_segment = super::gdt::KERNEL_CODE_SELECTOR;
    }
    fatal(&report)
}

extern "x86-interrupt" fn debug(mut frame: InterruptStackFrame) {
    let report = report(1, "debug", &frame, None, None);
    if !report.from_user_mode() {
        fatal(&report);
    }
    USER_SINGLE_STEPS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: only TF is cleared in the ring-3 frame the CPU pushed; the
    // return goes to the same user RIP, RSP and selectors, so nothing but
    // single-stepping changes.
    unsafe {
        frame.as_mut().update(|value| {
            value
                .cpu_flags
                .remove(x86_64::registers::rflags::RFlags::TRAP_FLAG)
        });
    }
}

/// Ends the running agent because its saved `context` would make the
/// return to ring 3 fault in ring 0 (a non-canonical or kernel-half RIP or
/// RSP), reported as a general protection fault from ring 3.
pub(super) fn end_agent_on_bad_return(context: &super::switch::SavedContext) -> ! {
    let report = ExceptionReport {
        vector: 13,
        name: "general protection fault (refused return to a non-user RIP/RSP)",
        error_code: Some(0),
        instruction_pointer: context.rip,
        stack_pointer: context.rsp,
        code_segment: super::gdt::USER_CODE_SELECTOR,
        fault_address: None,
    };
    fatal(&report)
}

/// Installs a handler for every CPU exception vector into `idt`.
pub fn install(idt: &mut InterruptDescriptorTable) {
    idt.divide_error.set_handler_fn(divide_error);
    idt.breakpoint.set_handler_fn(breakpoint);
    idt.overflow.set_handler_fn(overflow);
    idt.bound_range_exceeded
        .set_handler_fn(bound_range_exceeded);
    idt.invalid_opcode.set_handler_fn(invalid_opcode);
    idt.device_not_available
        .set_handler_fn(device_not_available);
    idt.invalid_tss.set_handler_fn(invalid_tss);
    idt.segment_not_present.set_handler_fn(segment_not_present);
    idt.stack_segment_fault.set_handler_fn(stack_segment_fault);
    idt.general_protection_fault
        .set_handler_fn(general_protection_fault);
    idt.page_fault.set_handler_fn(page_fault);
    idt.x87_floating_point.set_handler_fn(x87_floating_point);
    idt.alignment_check.set_handler_fn(alignment_check);
    idt.simd_floating_point.set_handler_fn(simd_floating_point);
    idt.virtualization.set_handler_fn(virtualization);
    idt.cp_protection_exception
        .set_handler_fn(control_protection);
    idt.hv_injection_exception
        .set_handler_fn(hypervisor_injection);
    idt.vmm_communication_exception
        .set_handler_fn(vmm_communication);
    idt.security_exception.set_handler_fn(security_exception);
    // SAFETY: each index names an IST slot that `gdt::init` fills with a
    // dedicated stack, used by no other vector, before the IDT is loaded.
    unsafe {
        idt.double_fault
            .set_handler_fn(double_fault)
            .set_stack_index(DOUBLE_FAULT_IST_INDEX);
        idt.non_maskable_interrupt
            .set_handler_fn(non_maskable_interrupt)
            .set_stack_index(NMI_IST_INDEX);
        idt.machine_check
            .set_handler_fn(machine_check)
            .set_stack_index(MACHINE_CHECK_IST_INDEX);
        idt.debug
            .set_handler_fn(debug)
            .set_stack_index(DEBUG_IST_INDEX);
    }
}
