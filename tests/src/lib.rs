//! Shared start-up for the QEMU test kernels in `src/bin/`.
//!
//! Each binary is one scenario: it boots, runs its check and ends QEMU with
//! the success (33) or failure (35) status through `kernel::testing`. A test
//! that hangs is killed by the xtask runner's timeout and counted as failed.
#![forbid(unsafe_code)]
#![no_std]

extern crate alloc;

pub mod hostile;
pub mod vector;

use bootloader_api::BootInfo;

/// Brings the kernel up in test mode and announces the scenario.
pub fn start(boot_info: &'static mut BootInfo, scenario: &str) {
    kernel::init(boot_info, kernel::Mode::Test);
    kernel::println!("[test] {scenario}");
}

/// Runs the ramdisk program `name` as a user agent with `capabilities`,
/// waits for it and returns its exit status; fails the test if it cannot
/// be started.
pub fn run_program(name: &str, capabilities: agent_abi::CapabilitySet) -> i64 {
    let parent = kernel::task::current_pid();
    let child = match kernel::user::spawn(name, capabilities, parent) {
        Ok(child) => child,
        Err(error) => {
            kernel::println!("cannot start {name}: {error:?}");
            kernel::testing::fail("spawn failed")
        }
    };
    match kernel::task::wait_child(child) {
        Some(status) => status,
        None => kernel::testing::fail("lost the child"),
    }
}
