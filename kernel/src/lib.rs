//! The AI-native microkernel: agents, scheduling, IPC, accelerators, syscalls, shell and dashboard.
//!
//! `init` brings the machine from the bootloader's hand-over to a state where
//! interrupts, the timer, paging and the heap work. The kernel binary and every
//! QEMU test kernel in `tests/` start by calling it.
//!
//! Where `unsafe` lives: nowhere in this crate. Every CPU, memory and device
//! access goes through the `foundation` crate's safe types; its modules
//! [`arch`], [`memory`] and [`time`] are re-exported here under their own
//! names. The foundation reaches the kernel only through the hooks that
//! [`init`] registers (timer, switch requests, syscalls, fatal traps).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub use foundation::{self, arch, memory, time};

pub mod accel;
pub mod boot_args;
pub mod console;
pub mod dashboard;
pub mod demo;
pub mod devices;
pub mod display;
pub mod panic;
pub mod selftest;
pub mod shell;
pub mod syscall;
pub mod task;
pub mod testing;
pub mod user;

use bootloader_api::{BootInfo, BootloaderConfig, config::Mapping};

/// Stack size the bootloader gives the boot CPU's kernel stack.
pub const KERNEL_STACK_SIZE: u64 = 256 * 1024;

/// Start of the range where the bootloader may place the kernel, its stack,
/// the boot information and the physical-memory window: the upper half, so
/// the lower half stays free for user address spaces.
pub const BOOTLOADER_DYNAMIC_RANGE_START: u64 = 0xFFFF_8000_0000_0000;
/// End of the bootloader's range; above it lie the kernel's own fixed regions
/// (see [`memory::layout`]).
pub const BOOTLOADER_DYNAMIC_RANGE_END: u64 = memory::layout::KERNEL_FIXED_REGIONS_START;

/// How the bootloader must set the machine up for this kernel.
///
/// All physical memory is mapped at an offset the bootloader chooses; the
/// kernel finds it in [`BootInfo::physical_memory_offset`]. Everything the
/// bootloader maps lies in the upper half.
pub const BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.mappings.dynamic_range_start = Some(BOOTLOADER_DYNAMIC_RANGE_START);
    config.mappings.dynamic_range_end = Some(BOOTLOADER_DYNAMIC_RANGE_END);
    config.kernel_stack_size = KERNEL_STACK_SIZE;
    config
};

/// Whether the kernel runs normally or as a QEMU test kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A normal boot: fatal errors halt the machine.
    Normal,
    /// A test kernel: fatal errors exit QEMU with the failure code.
    Test,
}

/// Brings the machine up: console, CPU tables, memory, heap, interrupts, timer.
///
/// Returns with interrupts enabled and the timer ticking.
pub fn init(boot_info: &'static mut BootInfo, mode: Mode) {
    testing::set_mode(mode);
    console::init_serial();
    if let Some(framebuffer) = boot_info.framebuffer.as_mut() {
        console::init_framebuffer(framebuffer);
    }
    console::init_logger(log::LevelFilter::Info);
    log::info!(
        "AI-native microkernel {} booting ({} mode)",
        env!("CARGO_PKG_VERSION"),
        match mode {
            Mode::Normal => "normal",
            Mode::Test => "test",
        }
    );
    memory::set_ramdisk(boot_info.ramdisk_addr.into_option(), boot_info.ramdisk_len);
    boot_args::init();
    if let Some(level) = boot_args::log_level() {
        log::set_max_level(level);
    }
    register_trap_hooks();
    arch::init_cpu_tables();
    memory::init(
        boot_info.physical_memory_offset.into_option(),
        &boot_info.memory_regions[..],
    );
    arch::init_interrupts();
    time::calibrate();
    devices::init(boot_info.rsdp_addr.into_option());
    user::init();
    accel::init();
    log::info!(
        "timer at {} Hz, interrupts enabled, TSC {} MHz",
        time::tick_frequency_hz(),
        time::tsc_hz() / 1_000_000
    );
}

/// Points the foundation's trap entries at the kernel: the task manager
/// takes ticks and switch requests, the syscall table takes syscalls, and
/// [`fatal_trap`] takes exceptions the foundation cannot continue from.
fn register_trap_hooks() {
    foundation::trap::set_timer_hook(task::on_timer_tick);
    foundation::trap::set_switch_hook(task::on_switch_request);
    foundation::trap::set_syscall_hook(syscall::dispatch);
    foundation::trap::set_fatal_hook(fatal_trap);
}

/// Ends the faulting agent after a ring-3 exception (the kernel and other
/// agents go on); stops the machine after a fatal one in ring 0.
fn fatal_trap(report: &arch::exceptions::ExceptionReport) -> ! {
    if report.from_user_mode() {
        user::fault(report);
    }
    console::emergency_print(format_args!("\n{report}\n"));
    testing::fatal_stop()
}
