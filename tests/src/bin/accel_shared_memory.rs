//! Two `ivshmem-plain` devices (1 MiB and 2 MiB of host shared memory):
//! the kernel finds both at boot, maps their registers and shared memory,
//! and the memory holds what is written to it, at its first and last bytes
//! and in between, in every access width; the two devices' memories are
//! distinct; accesses outside the window or misaligned are refused.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use kernel::{accel::shared, testing};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// Sizes the scenario gives the two devices, in the order QEMU puts them.
const SIZES: [usize; 2] = [1 << 20, 2 << 20];

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "accel_shared_memory");
    let devices = shared::devices();
    for device in &devices {
        kernel::println!(
            "shared memory at {}: {} KiB at {:#x}",
            device.address,
            device.memory_size / 1024,
            device.memory_address
        );
    }
    let mut sizes = [0usize; 2];
    if devices.len() != SIZES.len() {
        testing::fail("expected two ivshmem devices");
    }
    for (slot, device) in sizes.iter_mut().zip(&devices) {
        *slot = device.memory_size;
    }
    sizes.sort_unstable();
    if sizes != SIZES {
        testing::fail("the shared memories are not 1 MiB and 2 MiB");
    }
    for (index, info) in devices.iter().enumerate() {
        let size = info.memory_size;
        let seed = 0x5EED_0000_0000_0000u64 | index as u64;
        shared::with_device(index, |device| {
            let offsets = [0, 8, size / 2, size - 16, size - 8];
            for (step, &offset) in offsets.iter().enumerate() {
                let value = seed.wrapping_mul(step as u64 + 1);
                device.write::<u64>(offset, value).expect("aligned, inside");
                if device.read::<u64>(offset) != Ok(value) {
                    testing::fail("shared memory did not hold a u64");
                }
            }
            device.write::<u8>(size - 1, 0xA5).expect("last byte");
            device.write::<u16>(2, 0xBEEF).expect("u16");
            device
                .write::<u32>(4, 0xC0FF_EE00 | index as u32)
                .expect("u32");
            if device.read::<u8>(size - 1) != Ok(0xA5)
                || device.read::<u16>(2) != Ok(0xBEEF)
                || device.read::<u32>(4) != Ok(0xC0FF_EE00 | index as u32)
            {
                testing::fail("shared memory did not hold a narrow value");
            }
            if device.read::<u64>(size).is_ok()
                || device.write::<u32>(size - 2, 0).is_ok()
                || device.read::<u64>(3).is_ok()
            {
                testing::fail("an access outside the window or misaligned was allowed");
            }
        })
        .expect("device kept");
    }
    // Each device has its own memory: device 0's word 4 is not device 1's.
    let words: [Option<u32>; 2] = [0, 1]
        .map(|index| shared::with_device(index, |device| device.read::<u32>(4).ok()).flatten());
    if words != [Some(0xC0FF_EE00), Some(0xC0FF_EE01)] {
        kernel::println!("words at offset 4: {words:x?}");
        testing::fail("the two devices share one memory");
    }
    testing::pass()
}
