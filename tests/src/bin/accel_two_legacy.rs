//! Two `edu` devices on their legacy INTx lines: both serve interrupt jobs, the pool spreads copies.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use kernel::accel::{self, Completion, JobOptions};
use kernel::devices::pci::{InterruptPreference, InterruptRoute};
use kernel::{task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "accel_two_legacy");
    task::init(task::policy_by_name("round-robin").expect("policy"));
    if accel::devices().len() != 2 {
        testing::fail("expected two edu devices");
    }
    if accel::reroute_interrupts(InterruptPreference::LegacyOnly) != 2 {
        testing::fail("legacy lines not routed");
    }
    for device in accel::devices() {
        log::info!(
            "edu#{} at {}: {:?}",
            device.index,
            device.address,
            device.route
        );
        if !matches!(device.route, Some(InterruptRoute::Legacy { .. })) {
            testing::fail("device not on its legacy line");
        }
    }
    task::spawn("checker", ClassHint::Interactive, checker).expect("spawn");
    task::run()
}

fn checker() {
    for device in 0..2 {
        let options = JobOptions {
            completion: Completion::Interrupt,
            allow_cpu: false,
            device: Some(device),
            ..JobOptions::default()
        };
        for input in [3u32, 11, 25] {
            match accel::factorial(input, &options) {
                Ok(outcome) if outcome.value == accel::factorial_on_cpu(input) => {}
                other => {
                    log::error!("edu#{device} {input}!: {other:?}");
                    testing::fail("interrupt factorial on a legacy line failed");
                }
            }
        }
    }
    // Two buffers held at once land on two different devices.
    let device_only = JobOptions {
        allow_cpu: false,
        completion: Completion::Interrupt,
        ..JobOptions::default()
    };
    let first = accel::copy_to_device(&[0xAB; 64], &device_only).expect("first copy");
    let second = accel::copy_to_device(&[0xCD; 64], &device_only).expect("second copy");
    if first.value.device() == second.value.device() {
        testing::fail("two live buffers on one device");
    }
    let mut back = [0u8; 64];
    accel::copy_from_device(&first.value, &mut back, &device_only).expect("first back");
    if back != [0xAB; 64] {
        testing::fail("first buffer corrupted");
    }
    accel::copy_from_device(&second.value, &mut back, &device_only).expect("second back");
    if back != [0xCD; 64] {
        testing::fail("second buffer corrupted");
    }
    for device in accel::devices() {
        log::info!(
            "edu#{}: {} jobs, {} interrupts",
            device.index,
            device.jobs,
            device.interrupts
        );
        if device.interrupts == 0 {
            testing::fail("a device never interrupted");
        }
    }
    testing::pass()
}
