//! PCI enumeration under `-machine pc: legacy configuration ports`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};

#[path = "../pci_check.rs"]
mod pci_check;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "pci_pc");
    pci_check::check(false)
}
