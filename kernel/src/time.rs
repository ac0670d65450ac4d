//! Kernel time: the monotonic tick counter driven by the timer interrupt.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Frequency the PIT is asked to interrupt at. One tick is one millisecond.
pub const TICK_FREQUENCY_HZ: u32 = 1000;

static TICKS: AtomicU64 = AtomicU64::new(0);
static FREQUENCY_HZ: AtomicU32 = AtomicU32::new(TICK_FREQUENCY_HZ);

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

/// Returns the time since the timer started, in milliseconds.
pub fn uptime_ms() -> u64 {
    ticks() * 1000 / u64::from(tick_frequency_hz())
}
