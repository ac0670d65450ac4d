//! The vector registers from an agent's side: whether AVX is usable, and
//! the probe the isolation test runs.
//!
//! Agents are built hard-float (SSE2, see `agents/x86_64-agent.json`); the
//! kernel saves and restores every user agent's x87/SSE/AVX state, so an
//! agent may keep values in any vector register across preemption and
//! syscalls. AVX needs the CPU and the kernel (XCR0) both to offer it:
//! [`avx_usable`] asks.
#![allow(unsafe_code)]

use core::arch::x86_64::{__cpuid, _xgetbv};

/// Vector registers the probe fills: xmm0-15 / ymm0-15.
pub const REGISTERS: usize = 16;

/// What the probe loads and reads back: 16 registers of four 64-bit lanes
/// (two used without AVX) and MXCSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Pattern {
    /// Register contents, `lanes[register][lane]`.
    pub lanes: [[u64; 4]; REGISTERS],
    /// MXCSR (rounding control and masks; the flags may change).
    pub mxcsr: u32,
}

/// Returns whether AVX instructions may run: the CPU has them and the
/// kernel enabled their state (CR4.OSXSAVE and XCR0 bits 1 and 2).
pub fn avx_usable() -> bool {
    let leaf = __cpuid(1);
    let osxsave = leaf.ecx & (1 << 27) != 0;
    let avx = leaf.ecx & (1 << 28) != 0;
    if !(osxsave && avx) {
        return false;
    }
    // SAFETY: CPUID reports OSXSAVE, so `xgetbv` is enabled in ring 3.
    let xcr0 = unsafe { _xgetbv(0) };
    xcr0 & 0b110 == 0b110
}

/// MXCSR flag set by a divide by zero (ZE).
pub const MXCSR_ZERO_DIVIDE_FLAG: u32 = 1 << 2;

/// Returns MXCSR.
pub fn mxcsr() -> u32 {
    let mut value = 0u32;
    // SAFETY: `stmxcsr` writes the four bytes of `value`.
    unsafe {
        core::arch::asm!("stmxcsr [{}]", in(reg) &mut value, options(nostack));
    }
    value
}

/// Loads `pattern` into xmm0-15 (ymm0-15 with `avx`, which needs
/// [`avx_usable`]) and MXCSR, gives the CPU away with the `yield` syscall,
/// spins `spin` iterations (preemption may come there too), and returns what
/// the registers then hold. MXCSR is put back to its default afterwards.
pub fn hold_across_yield(pattern: &Pattern, avx: bool, spin: u64) -> Pattern {
    let mut out = Pattern {
        lanes: [[0; 4]; REGISTERS],
        mxcsr: 0,
    };
    if avx && avx_usable() {
        // SAFETY: AVX is usable (checked just now).
        unsafe { hold_ymm(pattern, &mut out, spin) };
    } else {
        hold_xmm(pattern, &mut out, spin);
    }
    out
}

/// Default MXCSR: every exception masked, round to nearest.
const MXCSR_DEFAULT: u32 = 0x1F80;

fn hold_xmm(pattern: &Pattern, out: &mut Pattern, spin: u64) {
    let default = MXCSR_DEFAULT;
    // SAFETY: reads 16 * 32 bytes of `pattern.lanes` and MXCSR from
    // `pattern`, writes the same of `out` (unaligned moves, in bounds);
    // every xmm register and rax/rcx/r11 (the syscall's) are declared
    // clobbered; `yield` preserves everything else; MXCSR ends at its
    // default (a valid value), and the pattern's MXCSR is the caller's.
    unsafe {
        core::arch::asm!(
            "ldmxcsr [{src} + 512]",
            "movdqu xmm0, [{src} + 0]",
            "movdqu xmm1, [{src} + 32]",
            "movdqu xmm2, [{src} + 64]",
            "movdqu xmm3, [{src} + 96]",
            "movdqu xmm4, [{src} + 128]",
            "movdqu xmm5, [{src} + 160]",
            "movdqu xmm6, [{src} + 192]",
            "movdqu xmm7, [{src} + 224]",
            "movdqu xmm8, [{src} + 256]",
            "movdqu xmm9, [{src} + 288]",
            "movdqu xmm10, [{src} + 320]",
            "movdqu xmm11, [{src} + 352]",
            "movdqu xmm12, [{src} + 384]",
            "movdqu xmm13, [{src} + 416]",
            "movdqu xmm14, [{src} + 448]",
            "movdqu xmm15, [{src} + 480]",
            "mov eax, {yield_number}",
            "syscall",
            "2:",
            "dec {spin}",
            "jnz 2b",
            "movdqu [{dst} + 0], xmm0",
            "movdqu [{dst} + 32], xmm1",
            "movdqu [{dst} + 64], xmm2",
            "movdqu [{dst} + 96], xmm3",
            "movdqu [{dst} + 128], xmm4",
            "movdqu [{dst} + 160], xmm5",
            "movdqu [{dst} + 192], xmm6",
            "movdqu [{dst} + 224], xmm7",
            "movdqu [{dst} + 256], xmm8",
            "movdqu [{dst} + 288], xmm9",
            "movdqu [{dst} + 320], xmm10",
            "movdqu [{dst} + 352], xmm11",
            "movdqu [{dst} + 384], xmm12",
            "movdqu [{dst} + 416], xmm13",
            "movdqu [{dst} + 448], xmm14",
            "movdqu [{dst} + 480], xmm15",
            "stmxcsr [{dst} + 512]",
            "ldmxcsr [{default}]",
            src = in(reg) pattern as *const Pattern,
            dst = in(reg) out as *mut Pattern,
            default = in(reg) &default,
            spin = inout(reg) spin.max(1) => _,
            yield_number = const crate::Syscall::Yield as u32,
            out("rax") _, out("rcx") _, out("r11") _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nostack),
        );
    }
}

/// # Safety
/// AVX must be usable ([`avx_usable`]).
#[target_feature(enable = "avx")]
unsafe fn hold_ymm(pattern: &Pattern, out: &mut Pattern, spin: u64) {
    let default = MXCSR_DEFAULT;
    // SAFETY: as in `hold_xmm`, with the whole 32 bytes of every lane row
    // moved through ymm registers (AVX usable, the caller's promise);
    // `vzeroupper` leaves the upper halves clean for SSE code after it.
    unsafe {
        core::arch::asm!(
            "ldmxcsr [{src} + 512]",
            "vmovdqu ymm0, [{src} + 0]",
            "vmovdqu ymm1, [{src} + 32]",
            "vmovdqu ymm2, [{src} + 64]",
            "vmovdqu ymm3, [{src} + 96]",
            "vmovdqu ymm4, [{src} + 128]",
            "vmovdqu ymm5, [{src} + 160]",
            "vmovdqu ymm6, [{src} + 192]",
            "vmovdqu ymm7, [{src} + 224]",
            "vmovdqu ymm8, [{src} + 256]",
            "vmovdqu ymm9, [{src} + 288]",
            "vmovdqu ymm10, [{src} + 320]",
            "vmovdqu ymm11, [{src} + 352]",
            "vmovdqu ymm12, [{src} + 384]",
            "vmovdqu ymm13, [{src} + 416]",
            "vmovdqu ymm14, [{src} + 448]",
            "vmovdqu ymm15, [{src} + 480]",
            "mov eax, {yield_number}",
            "syscall",
            "2:",
            "dec {spin}",
            "jnz 2b",
            "vmovdqu [{dst} + 0], ymm0",
            "vmovdqu [{dst} + 32], ymm1",
            "vmovdqu [{dst} + 64], ymm2",
            "vmovdqu [{dst} + 96], ymm3",
            "vmovdqu [{dst} + 128], ymm4",
            "vmovdqu [{dst} + 160], ymm5",
            "vmovdqu [{dst} + 192], ymm6",
            "vmovdqu [{dst} + 224], ymm7",
            "vmovdqu [{dst} + 256], ymm8",
            "vmovdqu [{dst} + 288], ymm9",
            "vmovdqu [{dst} + 320], ymm10",
            "vmovdqu [{dst} + 352], ymm11",
            "vmovdqu [{dst} + 384], ymm12",
            "vmovdqu [{dst} + 416], ymm13",
            "vmovdqu [{dst} + 448], ymm14",
            "vmovdqu [{dst} + 480], ymm15",
            "stmxcsr [{dst} + 512]",
            "ldmxcsr [{default}]",
            "vzeroupper",
            src = in(reg) pattern as *const Pattern,
            dst = in(reg) out as *mut Pattern,
            default = in(reg) &default,
            spin = inout(reg) spin.max(1) => _,
            yield_number = const crate::Syscall::Yield as u32,
            out("rax") _, out("rcx") _, out("r11") _,
            out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
            out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
            out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
            out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
            options(nostack),
        );
    }
}
