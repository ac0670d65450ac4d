//! Hostile suite: `log_forgery` logs fake kernel lines, CR, ANSI escapes and
//! control bytes, then floods; it must end 0 (forgeries logged as escaped
//! single lines, the flood cut by the rate limit in lines). The escaping of
//! these exact bytes is host-tested in `kernel_core::log_line`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

static ATTACK: Attack = Attack {
    name: "log_forgery",
    attackers: &[Attacker {
        program: "log_forgery",
        capabilities: CapabilitySet::ALL,
        status: Some(0),
    }],
    run_for_us: 10_000_000,
    probe_after_us: 0,
    check: hostile::no_check,
};

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_log_forgery");
    hostile::run(&ATTACK)
}
