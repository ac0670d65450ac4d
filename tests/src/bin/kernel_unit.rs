//! In-kernel unit tests: runs every test in `kernel::selftest::TESTS`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use kernel::{selftest, testing};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "kernel_unit");
    let mut failed = 0;
    for test in selftest::TESTS {
        match (test.run)() {
            Ok(()) => kernel::println!("  {} ... ok", test.name),
            Err(reason) => {
                kernel::println!("  {} ... FAILED: {reason}", test.name);
                failed += 1;
            }
        }
    }
    kernel::println!(
        "{} passed, {failed} failed (in-kernel)",
        selftest::TESTS.len() - failed
    );
    if failed > 0 {
        testing::fail("in-kernel unit tests failed");
    }
    testing::pass()
}
