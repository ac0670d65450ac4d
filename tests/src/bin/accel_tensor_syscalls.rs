//! The `tensor` syscall from ring 3 with one tensor accelerator: right
//! results on the device and through the adaptive table, every bad argument
//! refused with its documented error, and an agent without the accelerator
//! capability refused.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::{CapabilitySet, DEVICE_ACCELERATOR};
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "accel_tensor_syscalls");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let status = kernel_tests::run_program("tensor_user", CapabilitySet::ALL);
        if status != 0 {
            kernel::println!("tensor_user exited with {status}");
            testing::fail("the tensor syscall misbehaved");
        }
        let mut without = CapabilitySet::ALL;
        without.devices &= !DEVICE_ACCELERATOR;
        let status = kernel_tests::run_program("tensor_user", without);
        if status != 20 {
            kernel::println!("tensor_user without the capability exited with {status}");
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
