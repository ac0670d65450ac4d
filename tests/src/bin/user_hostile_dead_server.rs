//! Hostile suite: `dead_server` receives one message on endpoint 5 and exits
//! without answering. Callers queued or taken (`dead_caller` x3), senders
//! queued (`dead_sender` x2) and a caller that comes after the death
//! (`dead_late`) must all get `PeerGone` (status 0) rather than block; one
//! sender may legitimately have been the one taken (status 10).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// An attacker with every capability and its status checked by [`check`].
const fn client(program: &'static str) -> Attacker {
    Attacker {
        program,
        capabilities: CapabilitySet::ALL,
        status: None,
    }
}

static ATTACK: Attack = Attack {
    name: "dead_server",
    attackers: &[
        Attacker {
            program: "dead_server",
            capabilities: CapabilitySet::ALL,
            status: Some(0),
        },
        client("dead_caller"),
        client("dead_caller"),
        client("dead_caller"),
        client("dead_sender"),
        client("dead_sender"),
        client("dead_late"),
    ],
    run_for_us: 10_000_000,
    probe_after_us: 0,
    check,
};

/// Every client saw `PeerGone` (0), except at most one sender taken (10);
/// a killed client (blocked forever) fails.
fn check(statuses: &[i64]) -> Result<(), &'static str> {
    let [_, callers @ .., late] = statuses else {
        return Err("wrong number of statuses");
    };
    if *late != 0 {
        return Err("a call after the server died did not get PeerGone");
    }
    let taken = callers.iter().filter(|status| **status == 10).count();
    if callers.iter().any(|status| *status != 0 && *status != 10) || taken > 1 {
        return Err("a client of the dead server did not get PeerGone");
    }
    if callers[..3].contains(&10) {
        return Err("a call to a server that never replies completed");
    }
    Ok(())
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_dead_server");
    hostile::run(&ATTACK)
}
