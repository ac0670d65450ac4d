//! `cargo xtask run`: build the kernel, make its disk image and boot it in QEMU.
//!
//! The serial log (COM1) is on this terminal. With a graphical session QEMU also opens a
//! window showing the framebuffer console; without one it runs with `-display none`. The
//! exit status follows the QEMU exit protocol (see `qemu.rs`): 33 becomes 0, 35 becomes 1.
//! Two tensor accelerators are attached by default, each served by a `tensor-backend`
//! started before QEMU and stopped (its shared file removed) when QEMU exits.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use boot::Firmware;

use crate::{
    Result,
    boot_options::{self, BootOptions},
    cargo::{self, Metadata, Profile},
    prereq,
    qemu::{self, Accel, Display, GDB_PORT, Outcome, QemuConfig},
    tensor_backend::{self, Backends},
};

/// Guest memory when `--memory` is not given.
const DEFAULT_MEMORY: &str = "256M";

/// QEMU arguments of `--gpu`: a virtio-gpu with VGA compatibility as the only display
/// adapter (the firmware and the bootloader still find a framebuffer on it).
const GPU_ARGS: [&str; 4] = ["-vga", "none", "-device", "virtio-vga"];

/// QEMU's `-vnc` value when `--gpu` has no window: local connections only.
const VNC_DISPLAY: &str = "127.0.0.1:0";

/// Where a VNC viewer connects for [`VNC_DISPLAY`].
const VNC_ADDRESS: &str = "127.0.0.1:5900";

/// The device node KVM needs.
const KVM_DEVICE: &str = "/dev/kvm";

/// Tensor accelerators attached when `--tensor-backends` is not given: two, so the
/// kernel's routing between devices has something to choose from.
const DEFAULT_TENSOR_BACKENDS: usize = 2;

/// Each accelerator's shared memory when `--tensor-size` is not given: room for the
/// digits model's tensors and a few large operands.
const DEFAULT_TENSOR_SIZE: &str = "64M";

/// The label of `run`'s shared files (`/dev/shm/aikernel-run-<pid>-<n>`).
const BACKEND_LABEL: &str = "run";

/// Arguments of `cargo xtask run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Boot through UEFI (OVMF) instead of legacy BIOS (SeaBIOS).
    #[arg(long)]
    uefi: bool,
    /// Build the kernel with optimisations.
    #[arg(long)]
    release: bool,
    /// Start QEMU halted with a gdb server on localhost:1234 and print the gdb command.
    #[arg(long)]
    gdb: bool,
    /// QEMU accelerator; kvm needs /dev/kvm and is meant for benchmarks (BIOS image).
    #[arg(long, value_enum, default_value_t = Accel::Tcg)]
    accel: Accel,
    /// Guest memory in QEMU's syntax: a number with an optional K, M, G or T suffix.
    #[arg(long, value_name = "SIZE", default_value = DEFAULT_MEMORY, value_parser = parse_memory)]
    memory: String,
    /// Give the guest a virtio-gpu display (`virtio-vga`, the only display, so the
    /// window shows the dashboard); without a graphical session, serve it over VNC on
    /// 127.0.0.1:5900.
    #[arg(long)]
    gpu: bool,
    /// Tensor accelerators to attach (0 to 4): `ivshmem-doorbell` devices (completion
    /// interrupts), each served by a `tensor-backend` process of its own (and a
    /// `tensor-doorbell` server holding its doorbells).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TENSOR_BACKENDS,
          value_parser = parse_backend_count)]
    tensor_backends: usize,
    /// Shared memory of each tensor accelerator: a power of two with an optional K, M
    /// or G suffix.
    #[arg(long, value_name = "SIZE", default_value = DEFAULT_TENSOR_SIZE,
          value_parser = tensor_backend::parse_size)]
    tensor_size: u64,
    /// Threads of each tensor backend [default: every core but one, at least 1].
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    tensor_threads: Option<usize>,
    /// Attach the tensor accelerators as `ivshmem-plain` (polled only, no ivshmem
    /// server) instead of `ivshmem-doorbell`.
    #[arg(long)]
    tensor_plain: bool,
    /// Options passed to the kernel (through the boot ramdisk).
    #[command(flatten)]
    boot: BootOptions,
    /// Extra QEMU arguments, passed unchanged (after `--`).
    #[arg(last = true, value_name = "QEMU_ARGS")]
    qemu_args: Vec<String>,
}

/// Returns `text` when it is a valid QEMU memory size (`256M`, `1G`, `512`).
fn parse_memory(text: &str) -> Result<String, String> {
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    let suffix_len = text.len() - digits.len();
    if digits.is_empty() || suffix_len > 1 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!(
            "`{text}` is not a memory size; use a number with an optional K, M, G or T suffix"
        ));
    }
    if digits.bytes().all(|byte| byte == b'0') {
        return Err("memory size must not be zero".to_owned());
    }
    Ok(text.to_owned())
}

/// Returns the number of tensor backends `text` names (0 to 4).
fn parse_backend_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(count) if count <= tensor_backend::MAX_BACKENDS => Ok(count),
        _ => Err(format!(
            "`{text}` is not a number of tensor backends from 0 to {}",
            tensor_backend::MAX_BACKENDS
        )),
    }
}

/// Returns the thread count `text` names (at least 1).
fn parse_threads(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(threads) if threads >= 1 => Ok(threads),
        _ => Err(format!("`{text}` is not a thread count of at least 1")),
    }
}

/// Starts the tensor backends `args` ask for (none for `--tensor-backends 0`) and
/// prints one line about each.
fn start_backends(root: &Path, metadata: &Metadata, args: &RunArgs) -> Result<Option<Backends>> {
    if args.tensor_backends == 0 {
        return Ok(None);
    }
    let binary = tensor_backend::build(root, metadata)?;
    let threads = args
        .tensor_threads
        .unwrap_or_else(tensor_backend::default_threads);
    let backends = Backends::start(
        &binary,
        args.tensor_backends,
        args.tensor_size,
        threads,
        !args.tensor_plain,
        BACKEND_LABEL,
    )?;
    for line in backends.describe() {
        eprintln!("xtask: {line}");
    }
    Ok(Some(backends))
}

/// Stops the backends after QEMU; tells about any that crashed, with their output.
fn stop_backends(backends: Option<Backends>) {
    let Some(mut backends) = backends else {
        return;
    };
    let problems = backends.stop_all();
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("xtask: {problem}");
        }
        eprint!("{}", backends.output());
    }
}

/// Runs `cargo xtask run`.
pub fn run(root: &Path, args: &RunArgs) -> Result<ExitCode> {
    let firmware = if args.uefi {
        Firmware::Uefi
    } else {
        Firmware::Bios
    };
    prereq::require_toolchain(root)?;
    let qemu = prereq::require_qemu()?;
    let ovmf = match firmware {
        Firmware::Uefi => Some(prereq::require_ovmf()?),
        Firmware::Bios => None,
    };
    if args.accel == Accel::Kvm {
        if !Path::new(KVM_DEVICE).exists() {
            return Err(format!(
                "--accel kvm needs {KVM_DEVICE}; enable virtualisation (and the kvm module) or \
                 use --accel tcg"
            )
            .into());
        }
        if firmware == Firmware::Uefi {
            eprintln!(
                "xtask: warning: UEFI under KVM has shown a blank serial log; prefer the BIOS \
                 image with --accel kvm"
            );
        }
    }

    let metadata = Metadata::load(root)?;
    let profile = Profile::from_release_flag(args.release);
    let kernel = cargo::build_kernel(root, &metadata, profile)?;
    let agents = cargo::build_agents(root, &metadata, profile)?;
    let run_dir = metadata.target_dir.join("run").join(profile.dir_name());
    let image = run_dir.join(firmware.image_name());
    let words = args.boot.cmdline_words();
    boot_options::image_builder(&kernel, &words, &agents, &run_dir.join("ramdisk.tar"))?
        .build(firmware, &image)?;
    if !words.is_empty() {
        eprintln!("xtask: kernel command line: {}", words.join(" "));
    }

    let display = Display::from_environment();
    let mut extra_args = Vec::new();
    if args.gpu {
        extra_args.extend(GPU_ARGS.map(str::to_owned));
        if display == Display::None {
            extra_args.extend(["-vnc".to_owned(), VNC_DISPLAY.to_owned()]);
            eprintln!(
                "xtask: no window available: the virtio-gpu screen is on VNC at {VNC_ADDRESS}"
            );
        }
    }
    // Started last before QEMU: nothing above can fail and leave them running.
    let backends = start_backends(root, &metadata, args)?;
    if let Some(backends) = &backends {
        extra_args.extend(backends.qemu_args());
    }
    extra_args.extend(args.qemu_args.iter().cloned());
    let config = QemuConfig {
        qemu,
        image: image.clone(),
        firmware,
        ovmf,
        memory: args.memory.clone(),
        accel: args.accel,
        display,
        gdb: args.gdb,
        extra_args,
    };
    let mut command = config.command(&image.with_extension("vars.fd"))?;
    eprintln!("xtask: {}", cargo::display_command(&command));
    if config.display == Display::None {
        eprintln!("xtask: no DISPLAY or WAYLAND_DISPLAY: running without a window");
    }
    if args.gdb {
        eprintln!(
            "xtask: QEMU is halted, waiting for gdb on port {GDB_PORT}. In another terminal:\n  \
             gdb {} -ex 'target remote :{GDB_PORT}'",
            relative_to(root, &kernel).display()
        );
        eprintln!(
            "xtask: note: the bootloader relocates a position-independent kernel (its log \
             shows `virtual_address_offset`); if symbols do not match, load them with \
             `add-symbol-file <kernel> -o <offset>` in gdb"
        );
    }
    let status = command
        .status()
        .map_err(|error| format!("cannot start {}: {error}", config.qemu.display()))?;
    stop_backends(backends);
    let outcome = Outcome::from_status(status);
    let code = qemu::run_exit_code(outcome);
    if code != 0 {
        eprintln!("xtask: QEMU ended with {}", outcome.describe());
    }
    Ok(ExitCode::from(code))
}

/// Returns `path` relative to `root` when it lies inside it.
fn relative_to(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        for good in ["256M", "1G", "512", "64k", "2T"] {
            assert_eq!(parse_memory(good).unwrap(), good);
        }
        for bad in ["", "M", "0M", "12MB", "1.5G", "-1G", "lots"] {
            assert!(parse_memory(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn tensor_options() {
        assert_eq!(parse_backend_count("0"), Ok(0));
        assert_eq!(parse_backend_count("4"), Ok(4));
        for bad in ["5", "-1", "two", ""] {
            assert!(parse_backend_count(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(parse_threads("3"), Ok(3));
        for bad in ["0", "-2", "x"] {
            assert!(parse_threads(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn tensor_defaults_parse() {
        use clap::Parser;
        /// A command with only `run`'s arguments.
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            run: RunArgs,
        }
        let cli = Cli::try_parse_from(["run"]).unwrap();
        assert_eq!(cli.run.tensor_backends, 2);
        assert_eq!(cli.run.tensor_size, 64 << 20);
        assert_eq!(cli.run.tensor_threads, None);
        assert!(!cli.run.tensor_plain);
        let cli = Cli::try_parse_from([
            "run",
            "--tensor-backends",
            "0",
            "--tensor-size",
            "1G",
            "--tensor-threads",
            "3",
            "--gdb",
        ])
        .unwrap();
        assert_eq!(
            (
                cli.run.tensor_backends,
                cli.run.tensor_size,
                cli.run.tensor_threads
            ),
            (0, 1 << 30, Some(3))
        );
        assert!(cli.run.gdb);
        assert!(Cli::try_parse_from(["run", "--tensor-size", "48M"]).is_err());
    }
}
