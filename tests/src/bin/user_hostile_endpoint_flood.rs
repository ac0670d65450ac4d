//! Hostile suite: `hostile_endpoint_flood` and its eight children flood the
//! endpoint of a well-behaved server (`flood_server`, spawned by
//! `flood_client` with a grant of its receive rights) with calls, and every
//! other endpoint they may send to with sends and calls nobody receives,
//! with long and short timeouts. The kernel bounds the queues (16 messages
//! an endpoint, 4 of them from one tree: the flood gets `Exhausted`), the
//! client's 100 calls must all be answered correctly beside the flood, and
//! its timed `wait`, `receive` and `call` must expire on time; then the
//! harness checks the sleeper, worker, spawn probe and memory.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// The server's hello channel and the client's own endpoint (10 and 11,
/// as in `agent_programs::flood`): the attacker may not send there.
const OFF_LIMITS: u64 = 1 << 10 | 1 << 11;

static ATTACK: Attack = Attack {
    name: "endpoint_flood",
    attackers: &[
        Attacker {
            program: "flood_client",
            capabilities: CapabilitySet::ALL,
            status: Some(0),
        },
        Attacker {
            program: "hostile_endpoint_flood",
            capabilities: CapabilitySet {
                syscalls: u64::MAX,
                send_endpoints: !OFF_LIMITS,
                receive_endpoints: 0,
                devices: 0,
            },
            status: Some(0),
        },
    ],
    run_for_us: 60_000_000,
    probe_after_us: 1_000_000,
    check,
};

/// Both ended on their own with 0 (a killed one ends with -9).
fn check(statuses: &[i64]) -> Result<(), &'static str> {
    match statuses {
        [0, 0] => Ok(()),
        [0, _] => Err("the attacker did not see the bounds, timeouts and answers it should"),
        _ => Err("the well-behaved client's calls were not all answered correctly"),
    }
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_endpoint_flood");
    hostile::run(&ATTACK)
}
