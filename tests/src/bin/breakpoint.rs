//! Breakpoint: `int3` is reported and execution continues after it.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use kernel::{
    arch::{cpu, exceptions},
    testing,
};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "breakpoint");
    let before = exceptions::breakpoint_count();
    cpu::breakpoint();
    cpu::breakpoint();
    if exceptions::breakpoint_count() != before + 2 {
        testing::fail("breakpoints were not handled");
    }
    testing::pass()
}
