//! IPC ping-pong: two ring-3 agents exchange 1000 calls and 1000 one-way
//! messages on an endpoint; every message arrives, in order.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "user_ipc");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let parent = task::current_pid();
        let mut pong_caps = CapabilitySet::ALL;
        pong_caps.send_endpoints = 0;
        pong_caps.receive_endpoints = 1 << 1;
        let mut ping_caps = CapabilitySet::ALL;
        ping_caps.send_endpoints = 1 << 1;
        ping_caps.receive_endpoints = 0;
        let pong = kernel::user::spawn("pong", pong_caps, parent).expect("pong");
        let ping = kernel::user::spawn("ping", ping_caps, parent).expect("ping");
        let ping_status = task::wait_child(ping);
        let pong_status = task::wait_child(pong);
        kernel::println!("ping {ping_status:?}, pong {pong_status:?}");
        if ping_status != Some(0) || pong_status != Some(0) {
            testing::fail("a message was lost or out of order");
        }
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}
