//! The syscall fuzzer: 1 000 000 random syscalls from a ring-3 agent with a
//! fixed seed while two worker agents run. The kernel survives, the workers
//! finish their work correctly, and the fuzzer reports how many calls each
//! error code answered.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::{CapabilitySet, Syscall};
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing, time};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "user_fuzz");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let parent = task::current_pid();
        let start = time::now_us();
        let workers = [
            kernel::user::spawn("worker", CapabilitySet::ALL, parent).expect("worker"),
            kernel::user::spawn("worker", CapabilitySet::ALL, parent).expect("worker"),
        ];
        // Calls that could block forever or end the run are withheld; the
        // fuzzer still issues them and must be refused.
        let capabilities = CapabilitySet {
            send_endpoints: 0,
            receive_endpoints: 0,
            devices: 0,
            ..CapabilitySet::ALL
        }
        .without(Syscall::Spawn)
        .without(Syscall::Wait)
        .without(Syscall::Send)
        .without(Syscall::Receive)
        .without(Syscall::Call)
        .without(Syscall::Reply);
        let fuzzer = kernel::user::spawn("fuzzer", capabilities, parent).expect("fuzzer");
        let fuzzer_status = task::wait_child(fuzzer);
        let worker_status = workers.map(task::wait_child);
        kernel::println!(
            "fuzzer {fuzzer_status:?}, workers {worker_status:?}, {} ms",
            (time::now_us() - start) / 1000
        );
        for line in kernel::syscall::table_lines() {
            kernel::println!("{line}");
        }
        if fuzzer_status != Some(0) {
            testing::fail("the fuzzer did not finish");
        }
        if worker_status != [Some(0), Some(0)] {
            testing::fail("a worker's work was disturbed");
        }
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}
