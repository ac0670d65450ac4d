//! The one `unsafe` place of agent programs: `syscall`, `rdtsc`, mapped memory, faults.
//!
//! Everything an agent program does that Rust cannot check lives here, behind
//! safe functions: the raw `syscall` instruction with 0 to 6 arguments, the
//! time-stamp counter, the bytes of a [`Mapping`], the entry symbol that
//! [`agent_main!`](crate::agent_main) declares, and the instructions of
//! [`fault`] that end the agent on purpose. Every other file of `agent-lib`,
//! `agent-abi` and the programs is free of `unsafe`.
//!
//! The raw calls are safe because the kernel validates every argument and
//! touches user memory only through checked copies; the one way they can
//! break Rust's rules is `unmap` on memory still in use, which is why
//! [`Mapping`] is the only owner of mapped memory that the library offers.
#![allow(unsafe_code)]

use agent_abi::{Error, Syscall};

/// Issues syscall `number` (any value, for fuzzing) with six arguments;
/// returns `rax`.
#[inline(always)]
pub fn raw6(number: u64, a: u64, b: u64, c: u64, d: u64, e: u64, f: u64) -> i64 {
    let result: i64;
    // SAFETY: `syscall` transfers control to the kernel, which preserves
    // every register except rax (the result), rcx and r11 (clobbered by the
    // instruction), validates every argument and touches user memory only
    // through checked copies.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number as i64 => result,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            in("r8") e,
            in("r9") f,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// Issues `syscall` without arguments.
pub fn syscall0(syscall: Syscall) -> i64 {
    raw6(syscall as u64, 0, 0, 0, 0, 0, 0)
}

/// Issues `syscall` with one argument.
pub fn syscall1(syscall: Syscall, a: u64) -> i64 {
    raw6(syscall as u64, a, 0, 0, 0, 0, 0)
}

/// Issues `syscall` with two arguments.
pub fn syscall2(syscall: Syscall, a: u64, b: u64) -> i64 {
    raw6(syscall as u64, a, b, 0, 0, 0, 0)
}

/// Issues `syscall` with three arguments.
pub fn syscall3(syscall: Syscall, a: u64, b: u64, c: u64) -> i64 {
    raw6(syscall as u64, a, b, c, 0, 0, 0)
}

/// Issues `syscall` with five arguments.
pub fn syscall5(syscall: Syscall, a: u64, b: u64, c: u64, d: u64, e: u64) -> i64 {
    raw6(syscall as u64, a, b, c, d, e, 0)
}

/// RFLAGS bits [`syscall_with_flags`] may set: TF, DF, AC and NT.
pub const HOSTILE_FLAGS: u64 = (1 << 8) | (1 << 10) | (1 << 18) | (1 << 14);

/// Issues syscall `number` with three arguments after setting the RFLAGS
/// bits `flags` (only those in [`HOSTILE_FLAGS`] are used); clears them
/// again afterwards. Returns `rax`.
pub fn syscall_with_flags(number: u64, a: u64, b: u64, c: u64, flags: u64) -> i64 {
    let result: i64;
    // SAFETY: only TF, DF, AC and NT change, for the `syscall` alone (the
    // instruction right after `popfq`), and are cleared before any Rust
    // code runs again (DF must be clear at every call by the ABI). TF makes
    // the CPU trap after the first instruction back in ring 3, which the
    // kernel answers by clearing TF; AC has no effect while CR0.AM is
    // clear. The kernel preserves every register but rax, rcx and r11.
    unsafe {
        core::arch::asm!(
            "pushfq",
            "or qword ptr [rsp], {flags}",
            "popfq",
            "syscall",
            "pushfq",
            "and qword ptr [rsp], {clear}",
            "popfq",
            flags = in(reg) flags & HOSTILE_FLAGS,
            clear = in(reg) !HOSTILE_FLAGS,
            inlateout("rax") number as i64 => result,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            // Not `lateout`: `clear` is read after `syscall` overwrote rcx
            // and r11, so it must not share either (a non-incremental build
            // put it in rcx, and the flags stayed set).
            out("rcx") _,
            out("r11") _,
        );
    }
    result
}

/// Issues syscall `number` with three arguments while RSP holds `stack`
/// (any value: 0, a kernel or a non-canonical address); restores the real
/// stack pointer right after the instruction. Returns `rax` if the kernel
/// returns at all (it ends an agent whose RSP is no user address).
pub fn syscall_with_stack(number: u64, a: u64, b: u64, c: u64, stack: u64) -> i64 {
    let result: i64;
    // SAFETY: nothing touches memory through RSP between the two moves: the
    // kernel never uses the user stack (it switches to its own) and returns
    // to the next instruction, which puts the saved stack pointer back; r12
    // is declared clobbered. Interrupts and faults in ring 3 switch to the
    // kernel stack, so they never push onto the bad one either.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {stack}",
            "syscall",
            "mov rsp, r12",
            stack = in(reg) stack,
            inlateout("rax") number as i64 => result,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            out("r12") _,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    result
}

/// Returns the time-stamp counter (`rdtsc` works in ring 3: the kernel
/// leaves CR4.TSD clear).
#[inline(always)]
pub fn read_timestamp_counter() -> u64 {
    // SAFETY: RDTSC reads a counter and has no side effects; it is
    // available on every x86_64 CPU and allowed in ring 3 unless CR4.TSD is
    // set, which this kernel never does.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Anonymous memory given by the `map` syscall, unmapped when dropped.
#[derive(Debug)]
pub struct Mapping {
    address: u64,
    length: u64,
    writable: bool,
}

impl Mapping {
    /// Maps `length` bytes of zeroed memory (`flags`: [`agent_abi::MAP_WRITE`],
    /// [`agent_abi::MAP_EXECUTE`]) where the kernel chooses.
    pub fn new(length: u64, flags: u64) -> Result<Self, Error> {
        let address = crate::check(syscall3(Syscall::Map, 0, length, flags))?;
        Ok(Self {
            address,
            length,
            writable: flags & agent_abi::MAP_WRITE != 0,
        })
    }

    /// Returns the first address.
    pub const fn address(&self) -> u64 {
        self.address
    }

    /// Returns the bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: 1. the kernel mapped `length` readable bytes at `address`
        // (`map` succeeded) and they stay mapped until `self` is dropped or
        // unmapped, which needs `self` by value; 2. nothing else in this
        // agent refers to them (the kernel chose a fresh range); 3. `length`
        // is at most `MAX_MAP_BYTES`, far below `isize::MAX`, and a byte
        // needs no alignment.
        unsafe { core::slice::from_raw_parts(self.address as *const u8, self.length as usize) }
    }

    /// Returns the bytes for writing, if the mapping is writable.
    pub fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        if !self.writable {
            return None;
        }
        // SAFETY: as in `bytes`, and the pages are writable (`MAP_WRITE`);
        // `&mut self` makes this the only reference to them.
        Some(unsafe {
            core::slice::from_raw_parts_mut(self.address as *mut u8, self.length as usize)
        })
    }

    /// Unmaps the memory, returning the kernel's answer.
    pub fn unmap(self) -> Result<(), Error> {
        let mapping = core::mem::ManuallyDrop::new(self);
        crate::check(syscall2(Syscall::Unmap, mapping.address, mapping.length)).map(|_| ())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let _ = syscall2(Syscall::Unmap, self.address, self.length);
    }
}

/// Declares the agent's main function: `fn main() -> i64`, whose result is
/// the exit status.
#[macro_export]
macro_rules! agent_main {
    ($main:path) => {
        /// Entry point the kernel jumps to in ring 3.
        // The kernel's loader enters the program at this symbol; no other
        // item of the program may be called `_start`.
        #[unsafe(no_mangle)]
        pub extern "C" fn _start() -> ! {
            let main: fn() -> i64 = $main;
            $crate::exit(main())
        }
    };
}

/// Instructions that fault on purpose, for the programs that test the
/// kernel's fault isolation.
///
/// Each raises a CPU exception in ring 3, which the kernel answers by ending
/// the calling agent with the vector in its exit status. A function returns
/// only if the CPU did not fault, which its caller reports as a kernel bug.
pub mod fault {
    /// An address in the kernel's half (its heap), which ring 3 may not touch.
    pub const KERNEL_ADDRESS: u64 = 0xFFFF_F000_0000_0000;
    /// A user address that no agent program maps (inside the `map` window,
    /// far above where `map` places memory on its own).
    pub const UNMAPPED_ADDRESS: u64 = 0x0000_4444_0000_0000;
    /// The kernel's internal switch interrupt, whose gate ring 3 may not use.
    pub const KERNEL_SWITCH_VECTOR: u8 = 0x81;
    /// What [`write_kernel_memory`] tries to write.
    const KERNEL_WRITE_VALUE: u64 = 0xDEAD;

    /// Divides by zero (divide error, #DE).
    pub fn divide_by_zero() {
        // SAFETY: `div` by a zero `ecx` raises #DE, and ending this agent is
        // the purpose; the clobbered registers are declared.
        unsafe {
            core::arch::asm!(
                "xor edx, edx",
                "mov eax, 1",
                "xor ecx, ecx",
                "div ecx",
                out("eax") _, out("ecx") _, out("edx") _,
                options(nomem, nostack),
            );
        }
    }

    /// Runs the privileged `hlt` in ring 3 (general protection, #GP).
    pub fn privileged_instruction() {
        // SAFETY: `hlt` at privilege level 3 raises #GP instead of halting,
        // and ending this agent is the purpose.
        unsafe { core::arch::asm!("hlt", options(nomem, nostack)) };
    }

    /// Writes to [`KERNEL_ADDRESS`] (page fault, protection violation, #PF).
    pub fn write_kernel_memory() {
        // SAFETY: a ring-3 store to a supervisor page raises #PF before any
        // byte changes, and ending this agent is the purpose; no Rust object
        // lives at the address.
        unsafe {
            core::arch::asm!(
                "mov qword ptr [{address}], {value}",
                address = in(reg) KERNEL_ADDRESS,
                value = in(reg) KERNEL_WRITE_VALUE,
                options(nostack),
            );
        }
    }

    /// Reads [`UNMAPPED_ADDRESS`] (page fault, page not present, #PF);
    /// returns the word read if the CPU did not fault.
    pub fn read_unmapped_memory() -> u64 {
        let value: u64;
        // SAFETY: a load from a page that is not mapped raises #PF, and
        // ending this agent is the purpose; the load writes only `value`.
        unsafe {
            core::arch::asm!(
                "mov {value}, qword ptr [{address}]",
                address = in(reg) UNMAPPED_ADDRESS,
                value = lateout(reg) value,
                options(nostack, readonly),
            );
        }
        value
    }

    /// Divides by zero in SSE with the divide-by-zero exception unmasked
    /// in MXCSR (SIMD floating-point exception, #XM).
    pub fn simd_divide_by_zero() {
        /// MXCSR: default (0x1F80) with ZM (bit 9) clear.
        const MXCSR_UNMASKED_ZERO_DIVIDE: u32 = 0x1F80 & !(1 << 9);
        let mxcsr = MXCSR_UNMASKED_ZERO_DIVIDE;
        // SAFETY: loads a valid MXCSR (reserved bits clear), then 1.0 / 0.0
        // raises #XM, and ending this agent is the purpose; the clobbered
        // registers are declared.
        unsafe {
            core::arch::asm!(
                "ldmxcsr [{mxcsr}]",
                "mov eax, 1",
                "cvtsi2ss {one}, eax",
                "xorps {zero}, {zero}",
                "divss {one}, {zero}",
                mxcsr = in(reg) &mxcsr,
                one = out(xmm_reg) _,
                zero = out(xmm_reg) _,
                out("eax") _,
                options(nostack, readonly),
            );
        }
    }

    /// Loads 16 bytes with `movaps` from an address that is not 16-byte
    /// aligned (general protection, #GP).
    pub fn misaligned_vector_load() {
        let buffer = [0u8; 32];
        let base = buffer.as_ptr() as u64;
        // 16-byte aligned plus one: inside the buffer, never aligned.
        let address = (base + 15) & !15 | 1;
        // SAFETY: `address` lies inside `buffer` (at most base + 16, 16
        // bytes readable from there); `movaps` from an unaligned address
        // raises #GP before it loads, and ending this agent is the purpose.
        unsafe {
            core::arch::asm!(
                "movaps {value}, [{address}]",
                address = in(reg) address,
                value = out(xmm_reg) _,
                options(nostack, readonly),
            );
        }
        core::hint::black_box(&buffer);
    }

    /// Divides by zero on the x87 with its zero-divide exception unmasked
    /// (x87 floating-point error, #MF, raised at the next `fwait`).
    pub fn x87_divide_by_zero() {
        /// x87 control word after `fninit` (0x037F) with ZM (bit 2) clear.
        const FCW_UNMASKED_ZERO_DIVIDE: u16 = 0x037F & !(1 << 2);
        let control = FCW_UNMASKED_ZERO_DIVIDE;
        // SAFETY: `fninit` empties the x87 stack; 1.0 / 0.0 with the
        // exception unmasked sets a pending error that the `fwait` raises
        // (#MF, CR0.NE set by the kernel), and ending this agent is the
        // purpose. If it did not fault, `fstp` leaves the stack empty again.
        unsafe {
            core::arch::asm!(
                "fninit",
                "fldcw [{control}]",
                "fld1",
                "fldz",
                "fdivp st(1), st",
                "fwait",
                "fstp st(0)",
                "fninit",
                control = in(reg) &control,
                out("st(0)") _, out("st(1)") _,
                options(nostack, readonly),
            );
        }
    }

    /// Raises [`KERNEL_SWITCH_VECTOR`] with `int` (general protection, #GP:
    /// the gate's privilege level is 0).
    pub fn kernel_switch_interrupt() {
        // SAFETY: `int` on a gate of privilege level 0 from ring 3 raises
        // #GP instead of entering the handler, and ending this agent is the
        // purpose.
        unsafe {
            core::arch::asm!(
                "int {vector}",
                vector = const KERNEL_SWITCH_VECTOR,
                options(nomem, nostack),
            );
        }
    }

    /// Runs `ud2`, the defined undefined instruction (invalid opcode, #UD).
    pub fn undefined_instruction() {
        // SAFETY: `ud2` always raises #UD, and ending this agent is the
        // purpose.
        unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    }

    /// Jumps to `address` (a non-canonical one raises general protection,
    /// #GP, at the jump in ring 3; an unmapped one a page fault).
    pub fn jump_to(address: u64) {
        // SAFETY: a jump to a non-canonical or unmapped address faults in
        // ring 3 before any instruction there runs, and ending this agent is
        // the purpose.
        unsafe {
            core::arch::asm!("jmp {address}", address = in(reg) address, options(nomem, nostack))
        };
    }
}

/// Issues syscall `number` with six arguments while the stack pointer is
/// `stack_pointer` and RFLAGS is `flags` (for fuzzing what the kernel may
/// trust at `syscall`); returns `rax`. The helper saves the real stack
/// pointer and flags before and restores both right after `syscall`, so the
/// caller never runs on the given stack or with the given flags. The flags
/// take effect as `popfq` allows in ring 3 (IF and IOPL stay as they are).
/// With the trap flag set the CPU single-steps the instruction after
/// `syscall` and raises a debug exception, which ends the agent: only
/// programs meant to die should pass it.
#[inline(never)]
pub fn raw6_with_frame(number: u64, arguments: [u64; 6], stack_pointer: u64, flags: u64) -> i64 {
    let result: i64;
    // SAFETY: the block saves RFLAGS on the real stack and the real RSP in
    // r14 (declared clobbered), loads the given flags and stack pointer,
    // issues `syscall` (which uses no stack in ring 3; interrupts switch to
    // the kernel stack through the TSS), and restores RSP from r14 and the
    // flags with `popfq` before any other instruction touches memory. The
    // kernel preserves every register except rax, rcx and r11 (declared),
    // validates every argument and touches user memory only through checked
    // copies. No Rust code runs while RSP is the given value.
    unsafe {
        core::arch::asm!(
            "pushfq",
            "mov r14, rsp",
            "push r13",
            "popfq",
            "mov rsp, r12",
            "syscall",
            "mov rsp, r14",
            "popfq",
            inlateout("rax") number as i64 => result,
            in("rdi") arguments[0],
            in("rsi") arguments[1],
            in("rdx") arguments[2],
            in("r10") arguments[3],
            in("r8") arguments[4],
            in("r9") arguments[5],
            in("r12") stack_pointer,
            in("r13") flags,
            out("r14") _,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    result
}

/// The agent's heap: [`HEAP_BYTES`] from `map`, taken at the first
/// allocation (agents that never allocate map nothing).
pub mod heap {
    use core::{
        alloc::{GlobalAlloc, Layout},
        sync::atomic::{AtomicBool, Ordering},
    };

    use linked_list_allocator::LockedHeap;

    /// Size of the heap (charged to the agent's memory budget when taken).
    pub const HEAP_BYTES: u64 = 8 * 1024 * 1024;

    /// A free-list heap over one mapping made on first use.
    pub struct LazyHeap {
        heap: LockedHeap,
        ready: AtomicBool,
    }

    impl LazyHeap {
        /// Returns a heap that maps its memory at the first allocation.
        pub const fn new() -> Self {
            Self {
                heap: LockedHeap::empty(),
                ready: AtomicBool::new(false),
            }
        }

        /// Maps the heap's memory unless it has it; returns whether it has.
        fn ensure(&self) -> bool {
            if self.ready.load(Ordering::Acquire) {
                return true;
            }
            let Ok(mapping) = super::Mapping::new(HEAP_BYTES, agent_abi::MAP_WRITE) else {
                return false;
            };
            let address = mapping.address();
            // The heap owns the pages from now on, for the agent's life.
            core::mem::forget(mapping);
            // SAFETY: `map` gave `HEAP_BYTES` writable bytes at `address`,
            // unused by anything else (forgotten above, so never unmapped);
            // an agent has one thread, so `ready` cannot race.
            unsafe {
                self.heap
                    .lock()
                    .init(address as *mut u8, HEAP_BYTES as usize)
            };
            self.ready.store(true, Ordering::Release);
            true
        }
    }

    impl Default for LazyHeap {
        fn default() -> Self {
            Self::new()
        }
    }

    // SAFETY: allocations come from the initialised free list (or are null
    // when the heap could not be mapped), as `LockedHeap` guarantees.
    unsafe impl GlobalAlloc for LazyHeap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if !self.ensure() {
                return core::ptr::null_mut();
            }
            // SAFETY: the caller's layout contract is passed on.
            unsafe { self.heap.alloc(layout) }
        }

        unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
            // SAFETY: `pointer` came from `alloc` with `layout` (the
            // caller's contract), so from this heap.
            unsafe { self.heap.dealloc(pointer, layout) }
        }
    }

    #[global_allocator]
    static HEAP: LazyHeap = LazyHeap::new();
}
