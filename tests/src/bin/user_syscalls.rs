//! Every syscall's success path, from a ring-3 program (`syscalls`), which
//! also spawns `hello` and `ipc_echo` and talks to the latter.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "user_syscalls");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let status = kernel_tests::run_program("syscalls", CapabilitySet::ALL);
        for line in kernel::syscall::table_lines() {
            kernel::println!("{line}");
        }
        if status != 0 {
            kernel::println!("syscalls exited with {status}");
            testing::fail("a syscall's success path failed");
        }
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}
