//! Hostile suite: bad RSP and RFLAGS at `syscall`, a jump to a
//! non-canonical RIP, on a CPU with SMEP, SMAP and UMIP (`-cpu max`).
//!
//! Per case: RSP 0 gets a correct answer and the agent goes on; a kernel or
//! non-canonical RSP ends only that agent with `FAULT_STATUS_BASE - 13`
//! (the kernel refuses to `sysretq` there); DF, AC and NT leave the
//! kernel's copies correct and the agent running; TF causes single-step
//! traps in ring 3 only, which clear TF (the agent goes on); a jump to a
//! non-canonical RIP faults in ring 3 and ends only that agent (-1013).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::CapabilitySet;
use bootloader_api::{BootInfo, entry_point};
use kernel::{arch, testing, user::FAULT_STATUS_BASE};
use kernel_tests::hostile::{self, Attack, Attacker};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// Status of an agent ended by a general protection fault (or a refused
/// return treated as one).
const GP_STATUS: i64 = FAULT_STATUS_BASE - 13;

static ATTACK: Attack = Attack {
    name: "registers",
    attackers: &[
        Attacker {
            program: "hostile_rsp",
            capabilities: CapabilitySet::ALL,
            status: Some(GP_STATUS),
        },
        Attacker {
            program: "hostile_rsp_noncanonical",
            capabilities: CapabilitySet::ALL,
            status: Some(GP_STATUS),
        },
        Attacker {
            program: "hostile_flags",
            capabilities: CapabilitySet::ALL,
            status: Some(0),
        },
        Attacker {
            program: "hostile_jump_noncanonical",
            capabilities: CapabilitySet::ALL,
            status: Some(GP_STATUS),
        },
    ],
    run_for_us: 10_000_000,
    probe_after_us: 0,
    check,
};

fn check(_: &[i64]) -> Result<(), &'static str> {
    let steps = arch::exceptions::user_single_step_count();
    kernel::println!("[hostile] registers: {steps} single-step traps from ring 3");
    if steps == 0 {
        return Err("TF at syscall caused no single-step trap in ring 3");
    }
    Ok(())
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    hostile::start(boot_info, "user_hostile_registers");
    let protections = arch::cpu::protections();
    kernel::println!("[hostile] registers: {protections}");
    if !(protections.smep && protections.smap && protections.umip) {
        testing::fail("SMEP, SMAP and UMIP must be on under -cpu max");
    }
    hostile::run(&ATTACK)
}
