//! Capabilities: an agent started without `sleep` and without endpoint 3 is
//! refused both, and a child it spawns asking for everything is refused too;
//! its children get receive rights only by explicit grant, and not on an
//! endpoint it owns (`denied`, `receive_probe`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::{CapabilitySet, Syscall};
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "user_capabilities");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let mut capabilities = CapabilitySet::ALL.without(Syscall::Sleep);
        capabilities.send_endpoints &= !(1 << 3);
        let status = kernel_tests::run_program("denied", capabilities);
        let (_, denied) = kernel::syscall::refusals();
        kernel::println!("denied exited with {status}; {denied} capability denials counted");
        if status != 0 || denied < 2 {
            testing::fail("a capability check did not refuse");
        }
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}
