//! `accel_tensor_doorbell`: see `tests/src/tensor_check.rs` (with doorbells: true).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

#[path = "../tensor_check.rs"]
mod tensor_check;

use bootloader_api::{BootInfo, entry_point};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    tensor_check::run(boot_info, "accel_tensor_doorbell", true)
}
