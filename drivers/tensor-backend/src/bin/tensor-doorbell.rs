//! `tensor-doorbell`: the ivshmem server of one tensor accelerator, outliving its backend, until SIGINT or SIGTERM.

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use tensor_backend::{DoorbellServer, SharedFile, size::parse_size};

/// How often the stop flag is looked at.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Hold the doorbells of one tensor accelerator: be the ivshmem server of QEMU's
/// `ivshmem-doorbell` device on `--socket`, and give the backend (`tensor-backend
/// --doorbell-peer`) its eventfds on `--backend-socket`. The server keeps the eventfds
/// QEMU got, so a backend that dies and starts again gets the same ones and doorbells
/// work again. Start it first, then the backend, then QEMU.
#[derive(Debug, Parser)]
#[command(name = "tensor-doorbell", version)]
struct Arguments {
    /// The shared memory file (created with `--size` if missing), the one the backend maps.
    #[arg(long)]
    shm: PathBuf,
    /// The region's size (a power of two, like QEMU's `size=`): 16M, 1G, ...
    #[arg(long, default_value = "16M", value_parser = parse_size)]
    size: u64,
    /// The socket QEMU connects to (`-chardev socket,path=SOCKET`).
    #[arg(long)]
    socket: PathBuf,
    /// The socket the backend connects to (`tensor-backend --doorbell-peer SOCKET`).
    #[arg(long)]
    backend_socket: PathBuf,
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        if let Err(error) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("tensor-doorbell: cannot handle signal {signal}: {error}");
            return ExitCode::FAILURE;
        }
    }
    let file = match SharedFile::create(&arguments.shm, arguments.size) {
        Ok(file) => file,
        Err(error) => {
            eprintln!(
                "tensor-doorbell: cannot map {}: {error}",
                arguments.shm.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let server = match DoorbellServer::listen_with_backend_socket(
        &arguments.socket,
        &arguments.backend_socket,
        &file,
    ) {
        Ok(server) => server,
        Err(error) => {
            eprintln!(
                "tensor-doorbell: cannot listen on {} and {}: {error}",
                arguments.socket.display(),
                arguments.backend_socket.display()
            );
            return ExitCode::FAILURE;
        }
    };
    println!(
        "tensor-doorbell: serving {} ({} bytes): guests on {}, backends on {}",
        arguments.shm.display(),
        file.len(),
        arguments.socket.display(),
        arguments.backend_socket.display(),
    );
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(STOP_POLL);
    }
    let stats = server.stats();
    println!(
        "tensor-doorbell: stopped: {} guests served, {} refused, {} failed handshakes; {} backends served, {} refused",
        stats.served, stats.refused, stats.failed, stats.backends_served, stats.backends_refused,
    );
    ExitCode::SUCCESS
}
