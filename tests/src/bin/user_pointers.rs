//! Pointer validation: every bad pointer or length a ring-3 program passes
//! (null, kernel address, non-canonical, unmapped, read-only for a write,
//! overflow, too long) gets its documented error code; the kernel survives.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "user_pointers");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let status = kernel_tests::run_program("pointers", CapabilitySet::ALL);
        if status != 0 {
            kernel::println!("pointers failed at step {status}");
            testing::fail("a pointer case got the wrong answer");
        }
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}
