//! Page fault: touching an unmapped address is reported with that address in CR2.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use kernel::{
    arch::exceptions::{self, ExceptionReport},
    memory::paging,
    testing,
};
use x86_64::VirtAddr;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// An address in the lower half that nothing maps.
const UNMAPPED_ADDRESS: u64 = 0x0000_6666_0000_1234;
/// Page-fault error code bit: the access was a write.
const WRITE_ACCESS: u64 = 1 << 1;

fn expect_page_fault(report: &ExceptionReport) {
    if report.vector != 14 {
        testing::fail("unexpected exception instead of a page fault");
    }
    if report.fault_address != Some(UNMAPPED_ADDRESS) {
        kernel::println!("cr2 was {:?}", report.fault_address);
        testing::fail("page fault reported the wrong CR2");
    }
    if report.error_code.unwrap_or(0) & WRITE_ACCESS == 0 {
        testing::fail("page fault error code does not say write");
    }
    kernel::println!("{report}");
    testing::pass();
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "page_fault");
    exceptions::set_hook(expect_page_fault);
    match paging::write_to_unmapped(VirtAddr::new(UNMAPPED_ADDRESS)) {
        Ok(()) => testing::fail("write to an unmapped address did not fault"),
        Err(_) => testing::fail("the test address is mapped"),
    }
}
