//! Kernel time: the tick counter and a microsecond clock from the TSC.
//!
//! The PIT interrupts [`TICK_FREQUENCY_HZ`] times a second; every interrupt
//! is one tick. At boot the time-stamp counter is calibrated against the PIT
//! ([`calibrate`]), which gives [`now_us`], a microsecond clock that does not
//! depend on interrupts being delivered.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::arch::cpu;

/// Frequency the PIT is asked to interrupt at. One tick is one millisecond.
pub const TICK_FREQUENCY_HZ: u32 = 1000;
/// Ticks the TSC calibration measures over.
const CALIBRATION_TICKS: u64 = 20;
/// TSC frequency assumed until calibration ran (2 GHz).
const DEFAULT_TSC_HZ: u64 = 2_000_000_000;
/// Fixed-point shift of [`MICROSECONDS_PER_CYCLE`]: the value is
/// microseconds per cycle in Q32.32.
const CYCLE_SCALE_SHIFT: u32 = 32;

static TICKS: AtomicU64 = AtomicU64::new(0);
static FREQUENCY_HZ: AtomicU32 = AtomicU32::new(TICK_FREQUENCY_HZ);
static TSC_HZ: AtomicU64 = AtomicU64::new(DEFAULT_TSC_HZ);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);
/// Microseconds per TSC cycle, Q32.32.
static MICROSECONDS_PER_CYCLE: AtomicU64 =
    AtomicU64::new((1_000_000u64 << CYCLE_SCALE_SHIFT) / DEFAULT_TSC_HZ);

/// Records the frequency the timer really runs at.
pub fn set_tick_frequency(frequency_hz: u32) {
    FREQUENCY_HZ.store(frequency_hz.max(1), Ordering::Relaxed);
}

/// Returns the timer frequency in hertz.
pub fn tick_frequency_hz() -> u32 {
    FREQUENCY_HZ.load(Ordering::Relaxed)
}

/// Counts one timer interrupt. Called by the timer handler only.
pub fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Returns the number of timer interrupts since the timer started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Returns the time since the timer started, in milliseconds, from ticks.
pub fn uptime_ms() -> u64 {
    ticks() * 1000 / u64::from(tick_frequency_hz())
}

/// Measures the TSC frequency against the PIT. Needs the timer running and
/// interrupts enabled; takes [`CALIBRATION_TICKS`] ticks.
pub fn calibrate() {
    let start_tick = ticks();
    // Start on a tick edge so the measured span is whole ticks.
    while ticks() == start_tick {
        cpu::enable_interrupts_and_halt();
    }
    let first_tick = ticks();
    let first_cycles = cpu::read_timestamp_counter();
    while ticks() < first_tick + CALIBRATION_TICKS {
        cpu::enable_interrupts_and_halt();
    }
    let cycles = cpu::read_timestamp_counter().wrapping_sub(first_cycles);
    let elapsed_ticks = ticks() - first_tick;
    let hz = cycles * u64::from(tick_frequency_hz()) / elapsed_ticks.max(1);
    let hz = hz.max(1_000_000);
    TSC_HZ.store(hz, Ordering::Relaxed);
    MICROSECONDS_PER_CYCLE.store((1_000_000u64 << CYCLE_SCALE_SHIFT) / hz, Ordering::Relaxed);
    // The microsecond clock counts from the same moment as the ticks.
    let since_start_us = first_tick * 1_000_000 / u64::from(tick_frequency_hz());
    let cycles_since_start = since_start_us * (hz / 1_000_000);
    TSC_AT_BOOT.store(
        first_cycles.saturating_sub(cycles_since_start),
        Ordering::Relaxed,
    );
}

/// Returns the calibrated TSC frequency in hertz.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts a span of TSC cycles to microseconds.
pub fn cycles_to_us(cycles: u64) -> u64 {
    let scale = MICROSECONDS_PER_CYCLE.load(Ordering::Relaxed);
    ((u128::from(cycles) * u128::from(scale)) >> CYCLE_SCALE_SHIFT) as u64
}

/// Returns microseconds since the timer started, from the TSC.
pub fn now_us() -> u64 {
    let cycles = cpu::read_timestamp_counter().wrapping_sub(TSC_AT_BOOT.load(Ordering::Relaxed));
    cycles_to_us(cycles)
}
