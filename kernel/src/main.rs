//! The kernel binary: boot, report the machine, then idle on `hlt`.
#![no_std]
#![no_main]

use bootloader_api::{BootInfo, entry_point};
use kernel::{Mode, arch::cpu, memory, time};

entry_point!(kernel_main, config = &kernel::BOOTLOADER_CONFIG);

/// Seconds between two heartbeat lines while idle.
const HEARTBEAT_SECONDS: u64 = 10;

fn kernel_main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info, Mode::Normal);
    log::info!("kernel ready; idling (close QEMU or press Ctrl-C to stop)");
    let mut next_heartbeat = HEARTBEAT_SECONDS * 1000;
    loop {
        cpu::enable_interrupts_and_halt();
        if time::uptime_ms() >= next_heartbeat {
            next_heartbeat += HEARTBEAT_SECONDS * 1000;
            let heap = memory::heap::stats();
            let frames = memory::frame::stats();
            log::info!(
                "heartbeat: uptime {} s, heap {} / {} KiB used, {} frames free",
                time::uptime_ms() / 1000,
                heap.used / 1024,
                heap.size / 1024,
                frames.free_frames
            );
        }
    }
}
