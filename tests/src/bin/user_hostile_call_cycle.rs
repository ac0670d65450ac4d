//! Hostile suite: two agents call each other's endpoints (`cycle_a` owns 6
//! and calls 7, `cycle_b` owns 7 and calls 6). The call that would close the
//! cycle must get `WouldDeadlock` (status 1) and the other agent's call must
//! then be answered (status 2): nothing hangs.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

static ATTACK: Attack = Attack {
    name: "call_cycle",
    attackers: &[
        Attacker {
            program: "cycle_a",
            capabilities: CapabilitySet::ALL,
            status: None,
        },
        Attacker {
            program: "cycle_b",
            capabilities: CapabilitySet::ALL,
            status: None,
        },
        Attacker {
            program: "cycle_kick",
            capabilities: CapabilitySet::ALL,
            status: None,
        },
    ],
    run_for_us: 10_000_000,
    probe_after_us: 0,
    check,
};

/// One closer (1) and one released caller (2), in either order.
fn check(statuses: &[i64]) -> Result<(), &'static str> {
    match statuses {
        [1, 2, _] | [2, 1, _] => Ok(()),
        _ => Err("expected one WouldDeadlock closer (1) and one answered caller (2)"),
    }
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_call_cycle");
    hostile::run(&ATTACK)
}
