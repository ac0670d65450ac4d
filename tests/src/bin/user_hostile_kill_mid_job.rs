//! Hostile suite, kill in the middle of a device job: two `accel_long_job`
//! agents copy the largest buffer through the two `edu` devices with
//! interrupt completion (blocked ~100 ms per DMA, holding a device and its
//! buffer) until the harness kills them. The accelerator's exit observer
//! must give back their jobs and buffers: afterwards at least one job was
//! reclaimed, both devices come back into service, a ring-3 `accel_user`
//! gets correct results on every route, and (the harness's check) heap and
//! frames are back at their starting counts.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::{accel, task};
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

static ATTACK: Attack = Attack {
    name: "kill_mid_job",
    attackers: &[
        Attacker {
            program: "accel_long_job",
            capabilities: CapabilitySet::ALL,
            status: None,
        },
        Attacker {
            program: "accel_long_job",
            capabilities: CapabilitySet::ALL,
            status: None,
        },
    ],
    run_for_us: 3_000_000,
    probe_after_us: 500_000,
    check: reclaimed_and_served,
};

fn reclaimed_and_served(statuses: &[i64]) -> Result<(), &'static str> {
    if statuses.iter().any(|status| *status != task::KILLED_STATUS) {
        return Err("an accel_long_job ended before it was killed");
    }
    let reclaimed = accel::reclaimed_jobs();
    kernel::println!(
        "[hostile] kill_mid_job: {reclaimed} device jobs reclaimed from killed agents"
    );
    if reclaimed == 0 {
        return Err("no kill hit a device job (or the observer did not reclaim it)");
    }
    let count = accel::devices().len();
    let deadline = kernel::time::now_us() + 3_000_000;
    while accel::recover() != count {
        if kernel::time::now_us() > deadline {
            return Err("a device did not come back into service after the kill");
        }
        task::sleep_us(10_000);
    }
    let status = kernel_tests::run_program("accel_user", CapabilitySet::ALL);
    kernel::println!("[hostile] kill_mid_job: accel_user after the kill: {status}");
    if status != 0 {
        return Err("the devices did not serve another agent correctly after the kill");
    }
    Ok(())
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_kill_mid_job");
    if accel::devices().len() != 2 {
        kernel::testing::fail("expected two edu devices");
    }
    hostile::run(&ATTACK)
}
