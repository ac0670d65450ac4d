//! Fault isolation: each kind of ring-3 fault (page fault on an unmapped and
//! on a kernel address, general protection, invalid opcode, divide error,
//! a misaligned SSE load, an unmasked x87 divide by zero, the kernel's switch vector) stops
//! only the faulting agent, with the vector in its exit status, while a
//! worker agent finishes its work.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing, user::FAULT_STATUS_BASE};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// Each faulting program and the vector it must die of.
const FAULTS: [(&str, i64); 8] = [
    ("fault_page", 14),
    ("fault_kernel_write", 14),
    ("fault_gp", 13),
    ("fault_ud", 6),
    ("fault_divide", 0),
    ("fault_sse_align", 13),
    ("fault_x87", 16),
    ("fault_switch_vector", 13),
];

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "user_faults");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let parent = task::current_pid();
        let worker = kernel::user::spawn("worker", CapabilitySet::ALL, parent).expect("worker");
        for (program, vector) in FAULTS {
            let status = kernel_tests::run_program(program, CapabilitySet::ALL);
            kernel::println!("{program}: exit status {status}");
            if status != FAULT_STATUS_BASE - vector {
                testing::fail("a faulting agent did not end with its fault");
            }
        }
        match task::wait_child(worker) {
            Some(0) => {}
            other => {
                kernel::println!("worker ended with {other:?}");
                testing::fail("the worker did not finish its work correctly");
            }
        }
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}
