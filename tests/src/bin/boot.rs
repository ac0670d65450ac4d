//! Basic boot: the kernel comes up, logs, and reports the machine it found.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use kernel::{memory, testing};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    let framebuffer_present = boot_info.framebuffer.as_ref().is_some();
    kernel_tests::start(boot_info, "boot");
    if !kernel::console::has_serial() {
        testing::fail("no serial port found under QEMU");
    }
    if framebuffer_present && kernel::console::framebuffer_size().is_none() {
        testing::fail("the bootloader's framebuffer was not taken as a console");
    }
    let frames = memory::frame::stats();
    if frames.free_frames == 0 || frames.usable_bytes < 16 * 1024 * 1024 {
        testing::fail("implausible memory map");
    }
    let heap = memory::heap::stats();
    if heap.size != memory::heap::HEAP_SIZE as usize {
        testing::fail("heap has the wrong size");
    }
    log::info!(
        "boot ok: {frames:?}, framebuffer {:?}",
        kernel::console::framebuffer_size()
    );
    testing::pass()
}
