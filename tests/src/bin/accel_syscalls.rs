//! Accelerator syscalls with one `edu` device: a ring-3 agent gets correct
//! factorials and byte-exact copy round trips on every route; an agent
//! without the accelerator capability is refused.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::{CapabilitySet, DEVICE_ACCELERATOR};
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "accel_syscalls");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let status = kernel_tests::run_program("accel_user", CapabilitySet::ALL);
        if status != 0 {
            kernel::println!("accel_user exited with {status}");
            testing::fail("the accelerator syscalls misbehaved");
        }
        let mut without = CapabilitySet::ALL;
        without.devices &= !DEVICE_ACCELERATOR;
        let status = kernel_tests::run_program("accel_user", without);
        if status != 20 {
            kernel::println!("accel_user without the capability exited with {status}");
            testing::fail("the device capability was not checked");
        }
        for line in kernel::syscall::table_lines() {
            kernel::println!("{line}");
        }
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}
