//! `tensor-backend`: serve the tensor accelerator's rings in an ivshmem file until SIGINT or SIGTERM.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, atomic::AtomicBool},
};

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use tensor_backend::{Backend, Config, DoorbellServer, SharedFile, size::parse_size};

/// Serve the paravirtual tensor accelerator: map the file behind QEMU's
/// `ivshmem-plain` device, lay out the tensor-ring protocol in it and run the
/// guest's jobs until SIGINT or SIGTERM. Start it before QEMU. With `--doorbell` it is
/// also the ivshmem server of QEMU's `ivshmem-doorbell` device.
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
    /// Serve doorbells: listen on this UNIX socket as the ivshmem server of QEMU's
    /// `ivshmem-doorbell` device (`-chardev socket,path=SOCKET -device
    /// ivshmem-doorbell,chardev=...,vectors=1`); removed again on SIGINT or SIGTERM.
    #[arg(long, value_name = "SOCKET")]
    doorbell: Option<PathBuf>,
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
    // Listening before the header says Ready and before the serving line: QEMU,
    // started after either, reads its first messages while it realizes the device.
    let doorbell = match &arguments.doorbell {
        None => None,
        Some(socket) => match DoorbellServer::listen(socket, &file) {
            Ok(server) => Some(Arc::new(server)),
            Err(error) => {
                eprintln!(
                    "tensor-backend: cannot serve doorbells on {}: {error}",
                    socket.display()
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let started = match &doorbell {
        Some(server) => Backend::start_with_doorbell(file.region(), config, server.clone()),
        None => Backend::start(file.region(), config),
    };
    let mut backend = match started {
        Ok(backend) => backend,
        Err(error) => {
            eprintln!("tensor-backend: cannot lay out the region: {error:?}");
            return ExitCode::FAILURE;
        }
    };
    let layout = *backend.layout();
    let wakeups = match &doorbell {
        Some(server) => format!("doorbells on {}", server.path().display()),
        None => "no doorbells".to_string(),
    };
    println!(
        "tensor-backend: serving {} ({} bytes, {} + {} slots, data area {} bytes at {:#x}, {} threads, {wakeups})",
        arguments.shm.display(),
        layout.region_bytes(),
        layout.submission().slots(),
        layout.completion().slots(),
        layout.data_bytes(),
        layout.data_offset(),
        config.threads,
    );
    let result = backend.run(&stop);
    if let Some(server) = &doorbell {
        let stats = server.stats();
        println!(
            "tensor-backend: doorbell: {} guests served, {} refused, {} failed handshakes",
            stats.served, stats.refused, stats.failed,
        );
    }
    // On every way out of `main`, `backend` and then `doorbell` (declared before it)
    // are dropped: the server's last reference goes, and with it the socket file.
    match result {
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
