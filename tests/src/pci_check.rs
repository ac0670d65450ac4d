//! Shared check of the PCI enumeration tests: host bridge and `edu` found with sane BARs.

use kernel::devices::pci;
use kernel::testing;

/// Class and subclass of a host bridge.
const HOST_BRIDGE: (u8, u8) = (0x06, 0x00);

/// Checks the function list; `expect_ecam` says which mechanism must be in use.
pub fn check(expect_ecam: bool) -> ! {
    let access = pci::access().expect("pci initialised");
    log::info!("configuration access: {}", access.name());
    if access.name().starts_with("ECAM") != expect_ecam {
        testing::fail("wrong configuration mechanism for this machine");
    }
    if !pci::functions()
        .iter()
        .any(|function| (function.class.class, function.class.subclass) == HOST_BRIDGE)
    {
        testing::fail("no host bridge");
    }
    let edus: alloc_free::Count =
        pci::find(0x1234, 0x11E8).fold(alloc_free::Count(0), |count, edu| {
            let Some(bar) = edu.memory_bar(0) else {
                testing::fail("edu without memory BAR 0");
            };
            if bar.size != 1 << 20 || bar.address == 0 || bar.address % bar.size != 0 {
                testing::fail("edu BAR 0 not a 1 MiB aligned memory range");
            }
            if edu.msi_capability.is_none() || edu.interrupt_pin != 1 {
                testing::fail("edu header fields wrong");
            }
            alloc_free::Count(count.0 + 1)
        });
    if edus.0 != 1 {
        testing::fail("expected one edu");
    }
    if pci::lspci_lines().count() != pci::functions().len() {
        testing::fail("lspci lines do not list every function");
    }
    testing::pass()
}

mod alloc_free {
    pub struct Count(pub usize);
}
