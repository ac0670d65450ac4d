//! No `edu` device: operations report the documented error, the CPU path serves when allowed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::Error;
use bootloader_api::{BootInfo, entry_point};
use kernel::accel::{self, AccelError, Completion, JobOptions, Route};
use kernel::testing;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "accel_none");
    if !accel::devices().is_empty() {
        testing::fail("no edu device expected");
    }
    let device_only = JobOptions {
        allow_cpu: false,
        ..JobOptions::default()
    };
    if accel::factorial(5, &device_only) != Err(AccelError::NoDevice) {
        testing::fail("factorial without device and CPU path did not say NoDevice");
    }
    // The documented ABI code: `NoDevice` is -14 (see `agent_abi::Error`).
    if Error::from(AccelError::NoDevice) != Error::NoDevice || Error::NoDevice as i64 != -14 {
        testing::fail("NoDevice does not map to the ABI's NoDevice (-14)");
    }
    if !matches!(
        accel::copy_to_device(&[1, 2, 3], &device_only),
        Err(AccelError::NoDevice)
    ) {
        testing::fail("copy without device did not say NoDevice");
    }
    match accel::factorial(10, &JobOptions::default()) {
        Ok(outcome) if outcome.value == 3_628_800 && outcome.route == Route::Cpu => {}
        other => {
            log::error!("{other:?}");
            testing::fail("CPU path did not serve the factorial");
        }
    }
    let data = [9u8; 300];
    let cpu_only = JobOptions {
        completion: Completion::Cpu,
        ..JobOptions::default()
    };
    let buffer = match accel::copy_to_device(&data, &cpu_only) {
        Ok(outcome) => outcome.value,
        Err(error) => {
            log::error!("{error:?}");
            testing::fail("CPU path did not take the copy");
        }
    };
    let mut back = [0u8; 300];
    if accel::copy_from_device(&buffer, &mut back, &cpu_only).is_err() || back != data {
        testing::fail("CPU-side buffer lost data");
    }
    testing::pass()
}
