//! `tensor-backend`: serve the tensor accelerator's rings in an ivshmem file until SIGINT or SIGTERM.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, atomic::AtomicBool},
};

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use tensor_backend::{Backend, Config, SharedFile, size::parse_size};

/// Serve the paravirtual tensor accelerator: map the file behind QEMU's
/// `ivshmem-plain` device, lay out the tensor-ring protocol in it and run the
/// guest's jobs until SIGINT or SIGTERM. Start it before QEMU.
#[derive(Debug, Parser)]
#[command(name = "tensor-backend", version)]
struct Arguments {
    /// The shared memory file, the same as QEMU's `memory-backend-file,mem-path=`.
    #[arg(long)]
    shm: PathBuf,
    /// The region's size (a power of two, like QEMU's `size=`): 16M, 1G, ...
    #[arg(long, default_value = "16M", value_parser = parse_size)]
    size: u64,
    /// Threads a job may use (default: every CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// Slots of each ring (a power of two, at most 4096).
    #[arg(long, default_value_t = Config::DEFAULT_SLOTS)]
    slots: u32,
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    let defaults = Config::default();
    let config = Config {
        threads: arguments.threads.unwrap_or(defaults.threads).max(1),
        submission_slots: arguments.slots,
        completion_slots: arguments.slots,
        ..defaults
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        if let Err(error) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("tensor-backend: cannot handle signal {signal}: {error}");
            return ExitCode::FAILURE;
        }
    }
    let file = match SharedFile::create(&arguments.shm, arguments.size) {
        Ok(file) => file,
        Err(error) => {
            eprintln!(
                "tensor-backend: cannot map {}: {error}",
                arguments.shm.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let mut backend = match Backend::start(file.region(), config) {
        Ok(backend) => backend,
        Err(error) => {
            eprintln!("tensor-backend: cannot lay out the region: {error:?}");
            return ExitCode::FAILURE;
        }
    };
    let layout = *backend.layout();
    println!(
        "tensor-backend: serving {} ({} bytes, {} + {} slots, data area {} bytes at {:#x}, {} threads)",
        arguments.shm.display(),
        layout.region_bytes(),
        layout.submission().slots(),
        layout.completion().slots(),
        layout.data_bytes(),
        layout.data_offset(),
        config.threads,
    );
    match backend.run(&stop) {
        Ok(stats) => {
            println!(
                "tensor-backend: stopped after {} completions ({} refused, {} ring faults, {} resets, {:.3} s busy)",
                stats.completions,
                stats.refusals,
                stats.ring_faults,
                stats.resets,
                stats.busy_ns as f64 / 1e9,
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("tensor-backend: region access failed: {error:?}");
            ExitCode::FAILURE
        }
    }
}
