//! PCI enumeration under `-machine q35: ECAM from the ACPI MCFG table`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};

#[path = "../pci_check.rs"]
mod pci_check;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "pci_q35");
    pci_check::check(true)
}
