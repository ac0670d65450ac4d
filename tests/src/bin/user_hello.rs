//! Ring-3 hello: a program from the ramdisk runs in user mode, logs, exits 0.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "user_hello");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let programs = kernel::user::program_names();
        log::info!("ramdisk programs: {programs:?}");
        let status = kernel_tests::run_program("hello", CapabilitySet::ALL);
        if status != 0 {
            kernel::println!("hello exited with {status}");
            testing::fail("hello did not exit with 0");
        }
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}
