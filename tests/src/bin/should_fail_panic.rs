//! Expected failure: this kernel panics on purpose. The runner must see
//! QEMU exit with the failure status (35); a harness that counted every
//! test as passed would get this one wrong.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "should_fail_panic");
    panic!("deliberate panic: the harness must report this kernel as failed")
}
