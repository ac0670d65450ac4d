//! The hostile suite's control: the harness with a harmless "attacker"
//! (`hello`) must pass, so a failing attack scenario is the attack's doing.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

static ATTACK: Attack = Attack {
    name: "control",
    attackers: &[Attacker {
        program: "hello",
        capabilities: CapabilitySet::ALL,
        status: Some(0),
    }],
    run_for_us: 10_000_000,
    probe_after_us: 0,
    check: hostile::no_check,
};

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_control");
    hostile::run(&ATTACK)
}
