//! Real AI in ring 3: `digits_infer` serves the int8 digits model from the
//! ramdisk, `digits_client` sends it every held-out test image and checks
//! the logits bit for bit against the host's reference and the accuracy
//! against the host's (at least 95%), and `digits_train` runs SGD epochs
//! on the training split whose losses must match the host's run; all at
//! once, beside `ai_probe`, which feeds the model path bad files and
//! images.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "ai_digits");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, || {
        let parent = task::current_pid();
        let mut server_caps = CapabilitySet::ALL;
        server_caps.send_endpoints = 0;
        server_caps.receive_endpoints = 1 << agent_abi::DIGITS_ENDPOINT;
        let mut client_caps = CapabilitySet::ALL;
        client_caps.send_endpoints = 1 << agent_abi::DIGITS_ENDPOINT;
        client_caps.receive_endpoints = 0;
        let spawn = |name, caps| match kernel::user::spawn(name, caps, parent) {
            Ok(pid) => pid,
            Err(error) => {
                kernel::println!("cannot start {name}: {error:?}");
                testing::fail("spawn failed")
            }
        };
        let server = spawn("digits_infer", server_caps);
        let trainer = spawn("digits_train", CapabilitySet::ALL);
        let client = spawn("digits_client", client_caps);
        let probe = spawn("ai_probe", CapabilitySet::ALL);
        let mut ok = true;
        for (name, pid) in [
            ("ai_probe", probe),
            ("digits_client", client),
            ("digits_infer", server),
            ("digits_train", trainer),
        ] {
            let status = task::wait_child(pid);
            kernel::println!("{name}: exit status {status:?}");
            ok &= status == Some(0);
            if name == "digits_client" && status != Some(0) {
                // Nobody will stop the server.
                let _ = task::kill(server);
            }
        }
        if !ok {
            testing::fail("an AI agent did not do its work as the host did");
        }
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}
