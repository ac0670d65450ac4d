//! `cargo xtask`: the one entry point for running, imaging, testing and benchmarking.
//!
//! This file owns the command line (a clap enum with one documented variant per
//! subcommand) and the refusal to run outside the repository. The work lives in
//! `run.rs`, `image.rs`, `test.rs` and `bench_*.rs`; `cargo.rs` builds the kernels,
//! `qemu.rs` builds and supervises QEMU command lines, `tensor_backend.rs` runs the
//! tensor accelerators' host processes beside QEMU, `prereq.rs` checks (and, as root
//! on Debian/Ubuntu, installs) what the host needs; `unsafe_check.rs` and `layer_check.rs`
//! are the source checks of `test`, reading code through `source_text.rs`.
#![forbid(unsafe_code)]

mod bench_accel;
mod bench_kernel;
mod bench_qemu;
mod bench_sched;
mod boot_options;
mod cargo;
mod digits;
mod fuzz;
mod guest;
mod host_tests;
mod image;
mod layer_check;
mod manifest;
mod models;
mod prereq;
mod qemu;
mod qmp;
mod run;
mod screenshot;
mod shell_test;
mod source_text;
mod tensor_backend;
mod test;
mod unsafe_check;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// The error type of every fallible xtask function: a message for the user.
pub type DynError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of every fallible xtask function.
pub type Result<T, E = DynError> = std::result::Result<T, E>;

/// Developer tasks for the kernel. Run from anywhere inside the repository.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the kernel and boot it in QEMU, with its serial log on this terminal.
    Run(run::RunArgs),
    /// Write bootable BIOS and UEFI disk images (for QEMU, or to `dd` onto a USB stick).
    Image(image::ImageArgs),
    /// Boot headless with virtio-gpu, wait for the dashboard, save a PNG via QMP screendump.
    Screenshot(screenshot::ScreenshotArgs),
    /// Run host unit tests, clippy, rustfmt, the source checks, then every QEMU test kernel
    /// under BIOS and UEFI.
    Test(test::TestArgs),
    /// Run the swarm fuzzer (tests/src/bin/user_fuzz_swarm.rs) for N calls with seed S; prints
    /// the answers by error code and the heap and frame counts before and after.
    Fuzz(fuzz::FuzzArgs),
    /// Run a benchmark; prints the baselines beside the contender measured in the same run.
    Bench {
        /// Which benchmark to run.
        #[command(subcommand)]
        what: Bench,
    },
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Scheduler policies (Q-learning vs. baselines) on a workload, in the host simulator.
    Sched {
        /// Workload description file (format: sched-rl/WORKLOAD_FORMAT.md).
        #[arg(long, value_name = "FILE")]
        workload: Option<PathBuf>,
        /// Run a short version (fewer ticks and seeds) for a quick look.
        #[arg(long)]
        quick: bool,
    },
    /// Kernel primitives in one QEMU boot: cycles per scheduling decision of every policy,
    /// context switch, null syscall and IPC call, beside published anchors.
    Kernel {
        /// QEMU accelerator (kvm: BIOS image, `-cpu host`, then `max`, then QEMU's default).
        #[arg(long, value_enum, default_value_t = qemu::Accel::Tcg)]
        accel: qemu::Accel,
        /// Run a short version (shorter windows, fewer samples).
        #[arg(long)]
        quick: bool,
    },
    /// Accelerator routes in one QEMU boot with two edu devices: every static route
    /// (CPU, poll, interrupt per device) beside the adaptive dispatch table.
    Accel {
        /// QEMU accelerator.
        #[arg(long, value_enum, default_value_t = qemu::Accel::Tcg)]
        accel: qemu::Accel,
        /// Run a short version (fewer calls).
        #[arg(long)]
        quick: bool,
        /// Boots to run: each is reported in full, then every target over the runs
        /// (met in how many, median and range), written to `<workload>/runs.csv`.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=20))]
        runs: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = match cargo::check_working_directory() {
        Ok(root) => root,
        Err(error) => {
            eprintln!("xtask: {error}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::run(&root, &args),
        Command::Image(args) => image::image(&root, &args).map(|()| ExitCode::SUCCESS),
        Command::Screenshot(args) => {
            screenshot::screenshot(&root, &args).map(|()| ExitCode::SUCCESS)
        }
        Command::Test(args) => test::test(&root, &args),
        Command::Fuzz(args) => fuzz::fuzz(&root, &args),
        Command::Bench { what } => bench(&root, what).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|error| {
        eprintln!("xtask: error: {error}");
        ExitCode::FAILURE
    })
}

/// Runs the benchmark named by `what`.
fn bench(root: &std::path::Path, what: Bench) -> Result<()> {
    let bench_dir = |name: &str| -> Result<PathBuf> {
        Ok(cargo::Metadata::load(root)?
            .target_dir
            .join("bench")
            .join(name))
    };
    match what {
        Bench::Kernel { accel, quick } => bench_kernel::run(
            root,
            &bench_kernel::BenchKernelArgs {
                accel,
                quick,
                out_dir: bench_dir("kernel")?,
            },
        ),
        Bench::Accel { accel, quick, runs } => bench_accel::run(
            root,
            &bench_accel::BenchAccelArgs {
                accel,
                quick,
                runs: runs as usize,
                out_dir: bench_dir("accel")?,
            },
        ),
        Bench::Sched { workload, quick } => {
            let out_dir = cargo::Metadata::load(root)?
                .target_dir
                .join("bench")
                .join("sched");
            bench_sched::run(&bench_sched::BenchSchedArgs {
                workload,
                out_dir,
                quick,
            })
            .map_err(DynError::from)
        }
    }
}
