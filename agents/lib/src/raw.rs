//! Raw `syscall` instructions with 0 to 6 arguments.

use agent_abi::Syscall;

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

/// Returns the time-stamp counter (`rdtsc` works in ring 3: the kernel
/// leaves CR4.TSD clear).
#[inline(always)]
pub fn read_timestamp_counter() -> u64 {
    // SAFETY: RDTSC reads a counter and has no side effects; it is
    // available on every x86_64 CPU and allowed in ring 3 unless CR4.TSD is
    // set, which this kernel never does.
    unsafe { core::arch::x86_64::_rdtsc() }
}
