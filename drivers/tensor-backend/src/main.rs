//! `tensor-backend`: serve the tensor accelerator's rings in an ivshmem file until SIGINT or SIGTERM.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, atomic::AtomicBool},
};

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use tensor_backend::{
    Backend, Config, Doorbell, DoorbellPeer, DoorbellServer, SharedFile, size::parse_size,
};

/// Serve the paravirtual tensor accelerator: map the file behind QEMU's
/// `ivshmem-plain` device, lay out the tensor-ring protocol in it and run the
/// guest's jobs until SIGINT or SIGTERM. Start it before QEMU. With `--doorbell` it is
/// also the ivshmem server of QEMU's `ivshmem-doorbell` device; with `--doorbell-peer`
/// it takes its doorbells from a `tensor-doorbell` server, which keeps them across a
/// restart of the backend.
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
    #[arg(long, value_name = "SOCKET", conflicts_with = "doorbell_peer")]
    doorbell: Option<PathBuf>,
    /// Take doorbells from a `tensor-doorbell` server: connect to its backend socket
    /// (its `--backend-socket`). A restarted backend gets the same eventfds again.
    #[arg(long, value_name = "SOCKET")]
    doorbell_peer: Option<PathBuf>,
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
    let mut server = None;
    let mut doorbell: Option<Arc<dyn Doorbell>> = None;
    let mut wakeups = "no doorbells".to_string();
    if let Some(socket) = &arguments.doorbell {
        match DoorbellServer::listen(socket, &file) {
            Ok(listening) => {
                let listening = Arc::new(listening);
                wakeups = format!("doorbells on {}", socket.display());
                doorbell = Some(listening.clone());
                server = Some(listening);
            }
            Err(error) => {
                eprintln!(
                    "tensor-backend: cannot serve doorbells on {}: {error}",
                    socket.display()
                );
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(socket) = &arguments.doorbell_peer {
        match DoorbellPeer::connect(socket) {
            Ok(peer) => {
                wakeups = format!(
                    "doorbells from the server on {}{}",
                    socket.display(),
                    if peer.has_guest() {
                        ""
                    } else {
                        ", no guest yet"
                    }
                );
                doorbell = Some(Arc::new(peer));
            }
            Err(error) => {
                eprintln!(
                    "tensor-backend: cannot take doorbells from {}: {error}",
                    socket.display()
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let started = match &doorbell {
        Some(doorbell) => Backend::start_with_doorbell(file.region(), config, doorbell.clone()),
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
    if let Some(server) = &server {
        let stats = server.stats();
        println!(
            "tensor-backend: doorbell: {} guests served, {} refused, {} failed handshakes",
            stats.served, stats.refused, stats.failed,
        );
    }
    // On every way out of `main`, `backend` and then `doorbell` and `server` (declared
    // before it) are dropped: the server's last reference goes, and with it the socket
    // file; a peer's connection closes, so its server takes the next backend.
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
