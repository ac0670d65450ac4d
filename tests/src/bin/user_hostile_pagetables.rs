//! Hostile: memory via page tables. `hostile_pagetables` maps and unmaps
//! one page in a new 1 GiB slot per round; page tables must be freed with
//! their last page, so every round's map succeeds (status 0) and no frame
//! is lost (the harness counts them).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

static ATTACK: Attack = Attack {
    name: "pagetables",
    attackers: &[Attacker {
        program: "hostile_pagetables",
        capabilities: CapabilitySet::ALL,
        status: Some(0),
    }],
    run_for_us: 60_000_000,
    probe_after_us: 2_000_000,
    check: hostile::no_check,
};

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_pagetables");
    hostile::run(&ATTACK)
}
