//! Accelerator syscalls without any device: `NoDevice` unless the agent
//! allows the CPU path, which then serves every call correctly.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "accel_syscalls_none");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let status = kernel_tests::run_program("accel_user", CapabilitySet::ALL);
        if status != 10 {
            kernel::println!("accel_user exited with {status}");
            testing::fail("without a device the syscalls did not answer as documented");
        }
        let status = kernel_tests::run_program("tensor_user", CapabilitySet::ALL);
        if status != 10 {
            kernel::println!("tensor_user exited with {status}");
            testing::fail(
                "without a tensor device the tensor syscall did not answer as documented",
            );
        }
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}
