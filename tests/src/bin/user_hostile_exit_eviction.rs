//! Hostile: exit-status eviction. `hostile_exit_flood` produces thousands
//! of exits of children it never waits for, while `patient_parent` lets
//! its own child exit early and waits for it later: the status must still
//! be there (status 0), since notes are kept per parent.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

static ATTACK: Attack = Attack {
    name: "exit_eviction",
    attackers: &[
        Attacker {
            program: "patient_parent",
            capabilities: CapabilitySet::ALL,
            status: Some(0),
        },
        Attacker {
            program: "hostile_exit_flood",
            capabilities: CapabilitySet::ALL,
            status: Some(0),
        },
    ],
    run_for_us: 30_000_000,
    probe_after_us: 1_000_000,
    check: hostile::no_check,
};

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_exit_eviction");
    hostile::run(&ATTACK)
}
