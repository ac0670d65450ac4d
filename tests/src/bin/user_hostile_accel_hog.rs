//! Hostile suite, accelerator hog: two `accel_hog` agents call
//! `accel_factorial(0xFFFF_FFFF)` and other maximal inputs on every route and
//! copy the largest buffer, in a loop, beside a well-behaved `accel_user`
//! (correct factorials and copies on every route, else a non-zero status),
//! on a pool of two `edu` devices. Each hog checks that every call returned
//! in bounded time (a huge factorial within 100 ms: the kernel answers it
//! without a device) and exits 0 only then; afterwards both devices must be
//! in service and serve a job correctly.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::accel::{self, Completion, DeviceState, JobOptions};
use kernel::task;
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

static ATTACK: Attack = Attack {
    name: "accel_hog",
    attackers: &[
        Attacker {
            program: "accel_hog",
            capabilities: CapabilitySet::ALL,
            status: Some(0),
        },
        Attacker {
            program: "accel_hog",
            capabilities: CapabilitySet::ALL,
            status: Some(0),
        },
        Attacker {
            program: "accel_user",
            capabilities: CapabilitySet::ALL,
            status: Some(0),
        },
    ],
    run_for_us: 60_000_000,
    probe_after_us: 1_000_000,
    check: devices_serve,
};

/// Every device is back in service and computes a factorial correctly.
fn devices_serve(_: &[i64]) -> Result<(), &'static str> {
    let count = accel::devices().len();
    let deadline = kernel::time::now_us() + 3_000_000;
    while accel::recover() != count {
        if kernel::time::now_us() > deadline {
            return Err("a device did not come back into service");
        }
        task::sleep_us(10_000);
    }
    for device in 0..count {
        let options = JobOptions {
            completion: Completion::Interrupt,
            allow_cpu: false,
            device: Some(device),
            ..JobOptions::default()
        };
        match accel::factorial(12, &options) {
            Ok(outcome) if outcome.value == 479_001_600 => {}
            _ => return Err("a device computed a wrong factorial after the attack"),
        }
        if accel::devices()[device].state != DeviceState::Ready {
            return Err("a device left service after the attack");
        }
    }
    Ok(())
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_accel_hog");
    if accel::devices().len() != 2 {
        kernel::testing::fail("expected two edu devices");
    }
    hostile::run(&ATTACK)
}
