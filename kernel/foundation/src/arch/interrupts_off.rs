//! How long the CPU runs with interrupts disabled, and where.
//!
//! Every stretch that [`super::cpu::without_interrupts`] opens (the
//! outermost one: nested calls run inside it), and every timer and switch
//! interrupt handler (from entry to return), is measured with the
//! time-stamp counter and counted in a log-linear histogram of cycles. The
//! longest stretch also keeps its source location (`#[track_caller]`).
//!
//! Recording is O(1), allocates nothing and takes no lock: the statistics
//! are one static written only with interrupts disabled on the only CPU, so
//! no two writers (and no reader, which also disables interrupts) overlap.

use core::panic::Location;

use kernel_core::histogram::Histogram;

/// The interrupts-off measurements since boot (or the last reset).
#[derive(Clone)]
pub struct InterruptsOffStats {
    /// Stretch lengths in TSC cycles.
    pub cycles: Histogram,
    /// The longest stretch, in cycles.
    pub longest_cycles: u64,
    /// Where the longest stretch was opened (file, line), if any was recorded.
    pub longest_site: Option<(&'static str, u32)>,
}

impl InterruptsOffStats {
    const fn new() -> Self {
        Self {
            cycles: Histogram::new(),
            longest_cycles: 0,
            longest_site: None,
        }
    }
}

/// Written and read only with interrupts disabled (see the module docs).
static mut STATS: InterruptsOffStats = InterruptsOffStats::new();

/// Counts one interrupts-off stretch of `cycles` opened at `site`.
///
/// Call with interrupts disabled.
pub(crate) fn record(cycles: u64, site: &'static Location<'static>) {
    debug_assert!(!super::cpu::interrupts_enabled());
    let stats = &raw mut STATS;
    // SAFETY: interrupts are disabled and the kernel runs on one CPU, so
    // this is the only access to STATS until it returns (readers and
    // other writers disable interrupts too); no reference escapes.
    let stats = unsafe { &mut *stats };
    stats.cycles.record(cycles);
    if cycles > stats.longest_cycles {
        stats.longest_cycles = cycles;
        stats.longest_site = Some((site.file(), site.line()));
    }
}

/// Returns a copy of the interrupts-off measurements.
pub fn interrupts_off_stats() -> InterruptsOffStats {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let stats = &raw const STATS;
        // SAFETY: as in `record`: interrupts are off on the only CPU.
        unsafe { (*stats).clone() }
    })
}

/// Forgets every measurement (the shell's `latency reset`, tests).
pub fn reset_interrupts_off_stats() {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let stats = &raw mut STATS;
        // SAFETY: as in `record`: interrupts are off on the only CPU.
        unsafe { stats.write(InterruptsOffStats::new()) }
    })
}
