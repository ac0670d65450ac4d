//! Vector-register isolation and vector faults (see `kernel_tests::vector`), with XSAVE and AVX (`-cpu max`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "user_vector_xsave");
    kernel_tests::vector::run(true)
}
