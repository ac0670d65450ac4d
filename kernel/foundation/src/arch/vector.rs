//! Vector (x87, SSE, AVX, AVX-512) register state of ring-3 agents.
//!
//! The kernel is soft-float: no kernel code touches these registers, so they
//! hold the last user agent's values until another user agent needs them.
//! [`enable`] turns the unit on at boot: with XSAVE where CPUID reports it
//! (XCR0 gets every user state component the CPU offers of x87, SSE, AVX
//! and the three AVX-512 ones), else with FXSAVE (x87 and SSE only). Each
//! user agent owns a [`VectorState`], a save area of the size CPUID gives for
//! those components; the task manager saves the registers into the previous
//! owner's area and restores the next one's when the CPU passes from one
//! user agent to another (eager, with ownership tracking: switches through
//! kernel agents cost nothing).
//!
//! SIMD floating-point exceptions are reported (`CR4.OSXMMEXCPT`, vector 19)
//! and x87 ones too (`CR0.NE`, vector 16): an agent that unmasks one and
//! trips it ends with that report, like any other fault.

use alloc::{boxed::Box, vec};
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

/// XCR0 bit of the x87 state.
const XCR0_X87: u64 = 1 << 0;
/// XCR0 bit of the SSE state (XMM registers, MXCSR).
const XCR0_SSE: u64 = 1 << 1;
/// XCR0 bit of the AVX state (upper halves of YMM).
const XCR0_AVX: u64 = 1 << 2;
/// XCR0 bits of the AVX-512 state (opmask, upper ZMM0-15, ZMM16-31): on
/// together or not at all.
const XCR0_AVX512: u64 = (1 << 5) | (1 << 6) | (1 << 7);
/// Size of the FXSAVE area (bytes).
const FXSAVE_AREA_BYTES: usize = 512;
/// Offset of MXCSR in the legacy (FXSAVE) region.
const MXCSR_OFFSET: usize = 24;
/// MXCSR after reset: every exception masked, round to nearest.
const MXCSR_DEFAULT: u32 = 0x1F80;
/// x87 control word after `fninit`: every exception masked, 64-bit precision.
const FCW_DEFAULT: u16 = 0x037F;
/// Alignment XSAVE needs (FXSAVE needs 16).
const AREA_ALIGN: usize = 64;

/// How the unit saves state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveMode {
    /// [`enable`] has not run: no agent may use the registers.
    Off,
    /// FXSAVE/FXRSTOR: x87, MMX and SSE.
    Fxsave,
    /// XSAVE/XRSTOR with the components in [`Unit::components`].
    Xsave,
}

/// The vector unit as [`enable`] set it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    /// How state is saved.
    pub mode: SaveMode,
    /// XCR0: the state components saved (x87 | SSE for FXSAVE).
    pub components: u64,
    /// Bytes of one save area.
    pub area_bytes: usize,
}

impl Unit {
    /// Returns whether the AVX registers are part of the saved state.
    pub fn has_avx(&self) -> bool {
        self.components & XCR0_AVX != 0
    }

    /// Returns whether the AVX-512 registers are part of the saved state.
    pub fn has_avx512(&self) -> bool {
        self.components & XCR0_AVX512 == XCR0_AVX512
    }
}

impl core::fmt::Display for Unit {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.mode {
            SaveMode::Off => write!(formatter, "vector unit off"),
            SaveMode::Fxsave => write!(
                formatter,
                "vector state: FXSAVE (x87, SSE), {} bytes per agent",
                self.area_bytes
            ),
            SaveMode::Xsave => write!(
                formatter,
                "vector state: XSAVE (x87, SSE{}{}), XCR0 {:#x}, {} bytes per agent",
                if self.has_avx() { ", AVX" } else { "" },
                if self.has_avx512() { ", AVX-512" } else { "" },
                self.components,
                self.area_bytes
            ),
        }
    }
}

/// [`SaveMode`] as a number: 0 off, 1 FXSAVE, 2 XSAVE.
static MODE: AtomicU8 = AtomicU8::new(0);
static COMPONENTS: AtomicU64 = AtomicU64::new(0);
static AREA_BYTES: AtomicU32 = AtomicU32::new(0);

/// Turns the vector unit on for ring 3 (see the module docs) and returns how.
/// Call once at boot, before any user agent runs.
pub fn enable() -> Unit {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
    let leaf1 = __cpuid(1);
    let has_fxsr = leaf1.edx & (1 << 24) != 0;
    let has_xsave = leaf1.ecx & (1 << 26) != 0 && __cpuid(0).eax >= 0xD;
    if !has_fxsr {
        return unit();
    }
    // SAFETY: the kernel uses no x87/SSE register (soft-float target), so
    // letting these instructions run changes no kernel behaviour; every user
    // agent gets its own state restored before it runs (see the module
    // docs), so none sees another's registers. CR4.OSXSAVE is set only where
    // CPUID reports XSAVE.
    unsafe {
        Cr0::update(|flags| {
            flags.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            flags.insert(Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::NUMERIC_ERROR);
        });
        Cr4::update(|flags| {
            flags.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE);
            if has_xsave {
                flags.insert(Cr4Flags::OSXSAVE);
            }
        });
    }
    let (mode, components, area_bytes) = if has_xsave {
        let leaf = __cpuid_count(0xD, 0);
        let supported = u64::from(leaf.eax) | u64::from(leaf.edx) << 32;
        let mut components = supported & (XCR0_X87 | XCR0_SSE | XCR0_AVX);
        if supported & XCR0_AVX512 == XCR0_AVX512 && components & XCR0_AVX != 0 {
            components |= XCR0_AVX512;
        }
        // SAFETY: OSXSAVE is on; `components` holds only bits CPUID reports
        // as supported, includes x87, and AVX-512 only together with AVX and
        // as a whole: a valid XCR0.
        unsafe { write_xcr0(components) };
        // EBX: the area size for the components now in XCR0.
        let size = __cpuid_count(0xD, 0).ebx as usize;
        (
            SaveMode::Xsave,
            components,
            size.max(FXSAVE_AREA_BYTES + 64),
        )
    } else {
        (SaveMode::Fxsave, XCR0_X87 | XCR0_SSE, FXSAVE_AREA_BYTES)
    };
    COMPONENTS.store(components, Ordering::Relaxed);
    AREA_BYTES.store(area_bytes as u32, Ordering::Relaxed);
    MODE.store(
        match mode {
            SaveMode::Off => 0,
            SaveMode::Fxsave => 1,
            SaveMode::Xsave => 2,
        },
        Ordering::Release,
    );
    unit()
}

/// Returns the unit as [`enable`] set it up.
pub fn unit() -> Unit {
    let mode = match MODE.load(Ordering::Acquire) {
        1 => SaveMode::Fxsave,
        2 => SaveMode::Xsave,
        _ => SaveMode::Off,
    };
    Unit {
        mode,
        components: COMPONENTS.load(Ordering::Relaxed),
        area_bytes: AREA_BYTES.load(Ordering::Relaxed) as usize,
    }
}

/// Writes XCR0.
///
/// # Safety
/// 1. CR4.OSXSAVE is set.
/// 2. `value` is a valid XCR0 for this CPU (x87 set, only supported bits,
///    AVX only with SSE, the AVX-512 bits together and only with AVX).
unsafe fn write_xcr0(value: u64) {
    // SAFETY: the caller guarantees both conditions; `xsetbv` changes only
    // XCR0.
    unsafe {
        core::arch::asm!(
            "xsetbv",
            in("ecx") 0u32,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(nomem, nostack, preserves_flags),
        );
    }
}

/// One 64-byte piece of a save area (gives the area its alignment).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Chunk([u8; AREA_ALIGN]);

/// One agent's saved vector registers: a save area in the unit's format,
/// starting in the reset state (all registers zero, every exception masked).
pub struct VectorState {
    area: Box<[Chunk]>,
}

impl core::fmt::Debug for VectorState {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("VectorState")
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl VectorState {
    /// Returns a save area in the reset state, or `None` when [`enable`] did
    /// not turn the unit on.
    pub fn new() -> Option<Self> {
        let unit = unit();
        if unit.mode == SaveMode::Off {
            return None;
        }
        let chunks = unit.area_bytes.div_ceil(AREA_ALIGN);
        let mut area = vec![Chunk([0; AREA_ALIGN]); chunks].into_boxed_slice();
        // The legacy region: FCW and MXCSR at their reset values. For XRSTOR
        // the zeroed header (XSTATE_BV = 0, XCOMP_BV = 0) puts every other
        // component in its initial state.
        let first = &mut area[0].0;
        first[0..2].copy_from_slice(&FCW_DEFAULT.to_le_bytes());
        first[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
        Some(Self { area })
    }

    /// Returns the size of the save area in bytes.
    pub fn bytes(&self) -> usize {
        self.area.len() * AREA_ALIGN
    }

    /// Saves the CPU's vector registers into this area.
    pub fn save(&mut self) {
        let unit = unit();
        let area = self.area.as_mut_ptr().cast::<u8>();
        match unit.mode {
            SaveMode::Off => {}
            // SAFETY: FXSR is on (`enable`); `area` is 64-byte aligned and
            // at least 512 bytes long, and only this call writes it.
            SaveMode::Fxsave => unsafe {
                core::arch::asm!("fxsave64 [{}]", in(reg) area, options(nostack, preserves_flags));
            },
            // SAFETY: OSXSAVE is on and XCR0 = `components` (`enable`); the
            // area is 64-byte aligned and as long as CPUID's size for XCR0;
            // the mask names only enabled components.
            SaveMode::Xsave => unsafe {
                core::arch::asm!(
                    "xsave64 [{}]",
                    in(reg) area,
                    in("eax") unit.components as u32,
                    in("edx") (unit.components >> 32) as u32,
                    options(nostack, preserves_flags),
                );
            },
        }
    }

    /// Loads this area into the CPU's vector registers.
    pub fn restore(&self) {
        let unit = unit();
        let area = self.area.as_ptr().cast::<u8>();
        match unit.mode {
            SaveMode::Off => {}
            // SAFETY: as in `save`; the area holds either the reset image
            // built by `new` (valid FCW and MXCSR, reserved MXCSR bits
            // clear) or what `fxsave64` stored.
            SaveMode::Fxsave => unsafe {
                core::arch::asm!("fxrstor64 [{}]", in(reg) area, options(nostack, preserves_flags, readonly));
            },
            // SAFETY: as in `save`; the area holds the reset image (a zero
            // XSAVE header, valid MXCSR) or what `xsave64` stored with the
            // same mask, so XRSTOR finds a valid header and cannot fault.
            SaveMode::Xsave => unsafe {
                core::arch::asm!(
                    "xrstor64 [{}]",
                    in(reg) area,
                    in("eax") unit.components as u32,
                    in("edx") (unit.components >> 32) as u32,
                    options(nostack, preserves_flags, readonly),
                );
            },
        }
    }
}

/// Set while kernel code holds the vector unit ([`kernel_section`]).
static KERNEL_SECTION: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The vector unit lent to kernel code for one [`kernel_section`]: the only
/// way kernel code runs vector instructions. Not `Send`, and only handed
/// out by reference, so it cannot outlive the section.
pub struct KernelVector {
    _not_send: core::marker::PhantomData<*const ()>,
}

/// Runs `work` with the vector unit, like Linux's `kernel_fpu_begin/end`:
/// interrupts stay off for the whole section (no switch can hand the
/// registers to an agent meanwhile), MXCSR and the x87 control word are
/// the kernel's defaults inside it (an agent's rounding mode or unmasked
/// exceptions do not leak in), and `save_live` / `restore_live` run first
/// and last so that the owner of the live register values (the task
/// manager's business: the last user agent that ran) gets them back
/// unchanged. Returns `None` without running `work` when the unit is off,
/// or when called inside a section (sections do not nest; an interrupt
/// handler cannot get here, interrupts being off).
///
/// Callers go through the task manager's bracket, which supplies the
/// save and restore of the live owner's state.
pub fn kernel_section<R>(
    save_live: impl FnOnce(),
    restore_live: impl FnOnce(),
    work: impl FnOnce(&KernelVector) -> R,
) -> Option<R> {
    if unit().mode == SaveMode::Off {
        return None;
    }
    super::cpu::without_interrupts(|| {
        if KERNEL_SECTION.swap(true, Ordering::Acquire) {
            return None;
        }
        save_live();
        let mxcsr = MXCSR_DEFAULT;
        // SAFETY: the unit is on (`enable`); `fninit` and `ldmxcsr` change
        // only the x87/SSE control state, which the kernel's own (soft-float)
        // code never reads and `restore_live` puts back for its owner.
        unsafe {
            core::arch::asm!(
                "fninit",
                "ldmxcsr [{}]",
                in(reg) &raw const mxcsr,
                options(nostack, preserves_flags, readonly)
            );
        }
        let result = work(&KernelVector {
            _not_send: core::marker::PhantomData,
        });
        restore_live();
        KERNEL_SECTION.store(false, Ordering::Release);
        Some(result)
    })
}

impl KernelVector {
    /// Returns the dot product of `a` and `b` (the shorter length), four
    /// lanes at a time with SSE (`mulps`/`addps`, lanes summed pairwise at
    /// the end), the tail of fewer than four in software.
    pub fn dot_f32(&self, a: &[f32], b: &[f32]) -> f32 {
        let length = a.len().min(b.len());
        let chunks = length / 4;
        let bits: u32;
        // SAFETY: the section owns the vector registers (interrupts off,
        // live state saved by `kernel_section`); the loads read `4 * chunks
        // <= length` floats of each slice; unaligned loads (`movups`) need no
        // alignment. The kernel's compiled code never uses xmm registers, so
        // clobbering xmm0-xmm2 disturbs nothing.
        unsafe {
            core::arch::asm!(
                "xorps xmm0, xmm0",
                "test {chunks}, {chunks}",
                "jz 3f",
                "2:",
                "movups xmm1, [{a}]",
                "movups xmm2, [{b}]",
                "mulps xmm1, xmm2",
                "addps xmm0, xmm1",
                "add {a}, 16",
                "add {b}, 16",
                "dec {chunks}",
                "jnz 2b",
                "3:",
                "movaps xmm1, xmm0",
                "shufps xmm1, xmm0, 0x4E",
                "addps xmm0, xmm1",
                "movaps xmm1, xmm0",
                "shufps xmm1, xmm0, 0xB1",
                "addps xmm0, xmm1",
                "movd {bits:e}, xmm0",
                a = inout(reg) a.as_ptr() => _,
                b = inout(reg) b.as_ptr() => _,
                chunks = inout(reg) chunks => _,
                bits = lateout(reg) bits,
                options(nostack, readonly)
            );
        }
        let tail = a[4 * chunks..length]
            .iter()
            .zip(&b[4 * chunks..length])
            .fold(0.0f32, |sum, (x, y)| sum + x * y);
        f32::from_bits(bits) + tail
    }

    /// Overwrites every vector register the unit saves (xmm0-15, the upper
    /// ymm halves with AVX) and MXCSR's rounding mode with values derived
    /// from `seed`: what a careless kernel routine could leave behind. Tests
    /// use it to show that the section gives the owner its values back.
    pub fn scramble(&self, seed: u64) {
        let pattern = [seed, !seed];
        let avx = unit().has_avx();
        // Round toward zero, every exception masked.
        let mxcsr = MXCSR_DEFAULT | (3 << 13);
        // SAFETY: the section owns the vector registers; `pattern` is 16
        // readable bytes; the AVX instructions run only where XCR0 enables
        // AVX (`unit().has_avx()`).
        unsafe {
            core::arch::asm!(
                "movups xmm0, [{p}]",
                "movaps xmm1, xmm0", "movaps xmm2, xmm0", "movaps xmm3, xmm0",
                "movaps xmm4, xmm0", "movaps xmm5, xmm0", "movaps xmm6, xmm0",
                "movaps xmm7, xmm0", "movaps xmm8, xmm0", "movaps xmm9, xmm0",
                "movaps xmm10, xmm0", "movaps xmm11, xmm0", "movaps xmm12, xmm0",
                "movaps xmm13, xmm0", "movaps xmm14, xmm0", "movaps xmm15, xmm0",
                "ldmxcsr [{m}]",
                "test {avx}, {avx}",
                "jz 2f",
                "vinsertf128 ymm0, ymm0, xmm0, 1",
                "vmovaps ymm1, ymm0", "vmovaps ymm2, ymm0", "vmovaps ymm3, ymm0",
                "vmovaps ymm4, ymm0", "vmovaps ymm5, ymm0", "vmovaps ymm6, ymm0",
                "vmovaps ymm7, ymm0", "vmovaps ymm8, ymm0", "vmovaps ymm9, ymm0",
                "vmovaps ymm10, ymm0", "vmovaps ymm11, ymm0", "vmovaps ymm12, ymm0",
                "vmovaps ymm13, ymm0", "vmovaps ymm14, ymm0", "vmovaps ymm15, ymm0",
                "2:",
                p = in(reg) pattern.as_ptr(),
                m = in(reg) &raw const mxcsr,
                avx = in(reg) u64::from(avx),
                options(nostack, readonly)
            );
        }
    }
}
