//! Hostile: orphan bomb. `orphan_bomb` starts a chain of
//! `orphan_bomb_child` generations, each starting two copies and exiting,
//! so the tree grows below agents that have ended. The tree budget counts
//! every live member (the tree is fixed at spawn, not found through live
//! parents), so the tree stays within 24 agents and the spawn probe
//! succeeds; the kill of the root reaches the orphans too and every slot,
//! byte and frame returns.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::task;
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// The most agents one user tree may hold.
const TREE_LIMIT: usize = 24;

static ATTACK: Attack = Attack {
    name: "orphan_bomb",
    attackers: &[Attacker {
        program: "orphan_bomb",
        capabilities: CapabilitySet::ALL,
        status: None,
    }],
    run_for_us: 3_000_000,
    probe_after_us: 1_500_000,
    check: no_orphan_left,
};

/// Every generation of the bomb is gone after the root's tree was killed.
fn no_orphan_left(_: &[i64]) -> Result<(), &'static str> {
    let spawned = task::counters().spawned;
    kernel::println!("[hostile] orphan_bomb: {spawned} agents spawned since boot");
    if task::agents()
        .iter()
        .any(|agent| agent.name.starts_with("orphan_bomb"))
    {
        return Err("an orphan of the bomb survived the kill of its tree");
    }
    Ok(())
}

/// Kernel agent: watches the bomb's size while it runs, then sleeps (it
/// never ends, so the harness's start and end counts both include it).
fn watch() {
    let mut largest = 0;
    for _ in 0..500 {
        let members = task::agents()
            .iter()
            .filter(|agent| agent.name.starts_with("orphan_bomb"))
            .count();
        largest = largest.max(members);
        task::sleep_us(5_000);
    }
    kernel::println!("[hostile] orphan_bomb: at most {largest} live agents in the tree");
    if largest > TREE_LIMIT {
        kernel::testing::fail("the orphan bomb's tree outgrew its budget");
    }
    loop {
        task::sleep_us(100_000);
    }
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_orphan_bomb");
    task::spawn("orphan_watch", sched_rl::ClassHint::Interactive, watch)
        .expect("a slot for the watcher");
    hostile::run(&ATTACK)
}
