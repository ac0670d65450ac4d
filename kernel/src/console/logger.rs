//! The `log` backend: level, tick timestamp and module path on every line.

use log::{LevelFilter, Log, Metadata, Record};

struct KernelLogger;

static LOGGER: KernelLogger = KernelLogger;

impl Log for KernelLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // The timestamp is the tick counter, shown as seconds.milliseconds at
        // the 1 kHz tick rate (tick 1234 prints as 1.234).
        let milliseconds = crate::time::uptime_ms();
        crate::console::print(format_args!(
            "[{:>5}.{:03}] {:<5} {}: {}\n",
            milliseconds / 1000,
            milliseconds % 1000,
            record.level(),
            record.module_path().unwrap_or("?"),
            record.args()
        ));
    }

    fn flush(&self) {}
}

/// Installs the kernel logger with `level` as the most verbose level shown.
pub fn init(level: LevelFilter) {
    // Installing twice is harmless; only the first call takes effect.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
