//! Stack overflow: endless kernel recursion hits the guard page, and the
//! resulting double fault is handled on its own IST stack and reported
//! (no triple fault, no reboot).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use kernel::{
    arch::exceptions::{self, ExceptionReport},
    testing,
};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn expect_double_fault(report: &ExceptionReport) {
    match report.vector {
        // The page fault on the guard page cannot push its frame onto the
        // dead stack, so the CPU raises a double fault instead.
        8 => {
            kernel::println!("{report}");
            testing::pass();
        }
        _ => {
            kernel::println!("{report}");
            testing::fail("expected a double fault");
        }
    }
}

#[allow(unconditional_recursion, reason = "the point of this test")]
fn recurse(depth: u64) -> u64 {
    let frame = [depth; 16];
    // `black_box` keeps the frame alive and stops tail-call elimination.
    core::hint::black_box(&frame);
    recurse(depth + 1) + core::hint::black_box(frame[3])
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "stack_overflow");
    exceptions::set_hook(expect_double_fault);
    let depth = recurse(0);
    testing::fail(if depth > 0 {
        "recursion returned"
    } else {
        "recursion returned 0"
    })
}
