//! Timer: ticks keep arriving while the kernel sleeps in `hlt`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use kernel::{arch::cpu, testing, time};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// Ticks to wait for.
const TICKS_TO_WAIT: u64 = 200;
/// Most `hlt` wake-ups allowed: each wake-up is an interrupt, and the timer
/// is the only unmasked one, so the ticks must arrive well within this.
const MAX_WAKE_UPS: u64 = TICKS_TO_WAIT * 4;

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "timer");
    let start_ticks = time::ticks();
    let start_cycles = cpu::read_timestamp_counter();
    let mut wake_ups = 0;
    while time::ticks() < start_ticks + TICKS_TO_WAIT {
        cpu::enable_interrupts_and_halt();
        wake_ups += 1;
        if wake_ups > MAX_WAKE_UPS {
            testing::fail("woke up too often without timer ticks");
        }
    }
    let cycles = cpu::read_timestamp_counter() - start_cycles;
    let elapsed = time::ticks() - start_ticks;
    if cycles == 0 {
        testing::fail("time-stamp counter did not move");
    }
    log::info!(
        "{elapsed} ticks in {wake_ups} wake-ups, {} TSC cycles per tick, uptime {} ms",
        cycles / elapsed,
        time::uptime_ms()
    );
    testing::pass()
}
