//! Hostile: spawn bomb. `spawn_bomb` spawns copies of itself forever; the
//! children and tree budgets and the reserved slots keep the table from
//! filling (the harness's spawn probe must succeed), the tree is ended with
//! `task::kill_tree` and every slot returns.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::task;
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

static ATTACK: Attack = Attack {
    name: "spawn_bomb",
    attackers: &[Attacker {
        program: "spawn_bomb",
        capabilities: CapabilitySet::ALL,
        status: None,
    }],
    run_for_us: 3_000_000,
    probe_after_us: 1_500_000,
    check: no_bomb_left,
};

/// Every copy of the bomb is gone after the tree was killed.
fn no_bomb_left(_: &[i64]) -> Result<(), &'static str> {
    if task::agents()
        .iter()
        .any(|agent| agent.name == "spawn_bomb")
    {
        return Err("a copy of the bomb survived kill_tree");
    }
    Ok(())
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_spawn_bomb");
    hostile::run(&ATTACK)
}
