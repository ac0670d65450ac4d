//! Booting the benchmark kernel once in QEMU and reading its `BENCH` lines (shared by `bench kernel` and `bench accel`).
//!
//! The benchmark kernel is the `bench` binary of the kernel package
//! (`kernel/src/bin/bench/`), built in release mode, booted from the BIOS
//! image (the UEFI image has shown no serial output under KVM) with the
//! agent programs in the ramdisk and `bench=NAME` (and `quick=1`) on its
//! command line. It prints `BENCH`, `BENCHCTX`, `BENCHCALL`, ... lines of
//! `key=value` words, possibly after a log prefix, and ends QEMU through
//! the exit device once it printed everything. With `tensor_backends`, each
//! boot attaches that many tensor accelerators (64 MiB each), served by
//! `tensor-backend` processes started before QEMU and stopped after it.

use std::{collections::BTreeMap, path::Path, process::Command, time::Duration};

use boot::Firmware;

use crate::{
    Result, boot_options,
    cargo::{self, Metadata, Profile},
    prereq,
    qemu::{self, Accel, Display, EXIT_STATUS_SUCCESS, Outcome, QemuConfig},
    tensor_backend::{self, Backends},
};

/// The benchmark kernel's binary in the kernel package.
pub const BENCH_BIN: &str = "bench";
/// Guest memory of a benchmark run.
const BENCH_MEMORY: &str = "256M";
/// The device node KVM needs.
const KVM_DEVICE: &str = "/dev/kvm";
/// The line the benchmark kernel prints when every result is out.
const DONE_MARKER: &str = "BENCHDONE";
/// Shared memory of each tensor accelerator of a benchmark boot.
const BENCH_TENSOR_BYTES: u64 = 64 << 20;

/// A record: its tag (`BENCH`, `BENCHCALL`, ...) and its `key=value` words.
pub type Record = (String, BTreeMap<String, String>);

/// One benchmark boot.
pub struct BenchBoot<'a> {
    /// `bench=` value on the kernel command line.
    pub bench: &'a str,
    /// Shorter measurements.
    pub quick: bool,
    /// QEMU accelerator.
    pub accel: Accel,
    /// Extra QEMU arguments (devices).
    pub devices: &'a [&'a str],
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// Tensor accelerators to attach (0 for none), each served by a `tensor-backend`.
    pub tensor_backends: usize,
    /// Threads of each tensor backend.
    pub tensor_threads: usize,
    /// Whether the accelerators are `ivshmem-doorbell` (else `ivshmem-plain`).
    pub tensor_doorbells: bool,
}

/// What a benchmark boot printed.
pub struct BenchOutput {
    /// The records, in order: tag (`BENCH`, `BENCHCALL`, ...) and its words,
    /// with the `BENCHCTX` words seen before it added where it has none of its own.
    pub records: Vec<Record>,
    /// The last context (`BENCHCTX`) words.
    pub context: BTreeMap<String, String>,
    /// How the QEMU run was set up, for the report header.
    pub setup: Setup,
}

/// How a run was made, for the report header and the CSV.
pub struct Setup {
    /// `TCG` or `KVM`.
    pub accel: String,
    /// The `-cpu` model, when one was given.
    pub cpu_model: Option<String>,
    /// QEMU's version line.
    pub qemu_version: String,
    /// The host CPU's model name.
    pub host_cpu: String,
    /// Build profile of the benchmark kernel.
    pub profile: &'static str,
    /// Wall time of the QEMU run.
    pub elapsed: Duration,
}

impl Setup {
    /// Returns the header lines every benchmark report starts with.
    pub fn describe(&self, tsc_hz: f64) -> String {
        format!(
            "accelerator: {}{}; {}; host CPU: {}; benchmark kernel: {} build; guest TSC {:.0} MHz (calibrated by the kernel against the PIT); QEMU ran {:.1} s",
            self.accel,
            self.cpu_model
                .as_ref()
                .map(|model| format!(" (-cpu {model})"))
                .unwrap_or_default(),
            self.qemu_version,
            self.host_cpu,
            self.profile,
            tsc_hz / 1e6,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Returns the host CPU's model name.
pub fn host_cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

fn qemu_version(qemu: &Path) -> String {
    Command::new(qemu)
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "QEMU (version unknown)".to_owned())
}

/// Timeout of one KVM attempt: a failed attempt stops the guest (e.g. "KVM
/// internal error"), and QEMU then waits forever.
const KVM_TIMEOUT: Duration = Duration::from_secs(150);

/// `-cpu` models tried in turn under KVM (`None`: QEMU's default).
const KVM_CPU_MODELS: [Option<&str>; 3] = [Some("host"), Some("max"), None];

/// Builds the benchmark kernel and the agent programs, boots them once and
/// returns what the kernel printed. Under KVM each `-cpu` model of
/// [`KVM_CPU_MODELS`] is tried until one run completes; the error says what
/// each attempt did.
pub fn boot(root: &Path, run: &BenchBoot<'_>) -> Result<BenchOutput> {
    prereq::require_toolchain(root)?;
    let qemu = prereq::require_qemu()?;
    if run.accel == Accel::Kvm && !Path::new(KVM_DEVICE).exists() {
        return Err(format!(
            "--accel kvm needs {KVM_DEVICE}; enable virtualisation (and the kvm module) or use \
             --accel tcg"
        )
        .into());
    }
    let metadata = Metadata::load(root)?;
    let profile = Profile::Release;
    let mut build = cargo::cargo(root);
    build.args([
        "build",
        "--target",
        cargo::KERNEL_TARGET,
        "--release",
        "-p",
        cargo::KERNEL_PACKAGE,
        "--bin",
        BENCH_BIN,
    ]);
    cargo::run_inherited(build)?;
    let kernel = metadata.kernel_target_binary(profile, BENCH_BIN);
    let agents = cargo::build_agents(root, &metadata, profile)?;
    let run_dir = metadata.target_dir.join("bench").join("image");
    let image = run_dir.join(format!("{}-{}", run.bench, Firmware::Bios.image_name()));
    let mut words = vec![format!("bench={}", run.bench)];
    if run.quick {
        words.push("quick=1".to_owned());
    }
    boot_options::image_builder(
        &kernel,
        &words,
        &agents,
        &run_dir.join(format!("{}-ramdisk.tar", run.bench)),
    )?
    .build(Firmware::Bios, &image)?;

    let backend_binary = match run.tensor_backends {
        0 => None,
        _ => Some(tensor_backend::build(root, &metadata)?),
    };

    let models: &[Option<&str>] = match run.accel {
        Accel::Tcg => &[None],
        Accel::Kvm => &KVM_CPU_MODELS,
    };
    let mut failures = Vec::new();
    for model in models {
        let mut extra_args: Vec<String> = run.devices.iter().map(|arg| (*arg).to_owned()).collect();
        if let Some(model) = model {
            extra_args.extend(["-cpu".to_owned(), (*model).to_owned()]);
        }
        // A fresh set per attempt: a failed attempt may have left jobs in the rings.
        let mut backends = match &backend_binary {
            Some(binary) => Some(Backends::start(
                binary,
                run.tensor_backends,
                BENCH_TENSOR_BYTES,
                run.tensor_threads,
                run.tensor_doorbells,
                &format!("bench-{}", run.bench),
            )?),
            None => None,
        };
        if let Some(backends) = &backends {
            for line in backends.describe() {
                eprintln!("xtask: {line}");
            }
            extra_args.extend(backends.qemu_args());
        }
        let config = QemuConfig {
            qemu: qemu.clone(),
            image: image.clone(),
            firmware: Firmware::Bios,
            ovmf: None,
            memory: BENCH_MEMORY.to_owned(),
            accel: run.accel,
            display: Display::None,
            gdb: false,
            extra_args,
        };
        let command = config.command(&image.with_extension("vars.fd"))?;
        eprintln!("xtask: {}", cargo::display_command(&command));
        let timeout = match run.accel {
            Accel::Tcg => run.timeout,
            Accel::Kvm => run.timeout.min(KVM_TIMEOUT),
        };
        let captured = qemu::run_with_timeout(command, timeout)
            .map_err(|error| format!("cannot start {}: {error}", qemu.display()))?;
        let backend_problems = backends
            .as_mut()
            .map(Backends::stop_all)
            .unwrap_or_default();
        let log_path = run_dir.join(format!("{}-serial.log", run.bench));
        std::fs::write(&log_path, &captured.output)
            .map_err(|error| format!("writing {}: {error}", log_path.display()))?;
        eprintln!("xtask: serial log in {}", log_path.display());
        if let Some(backends) = &backends {
            let backend_log = run_dir.join(format!("{}-tensor-backend.log", run.bench));
            std::fs::write(&backend_log, backends.output())
                .map_err(|error| format!("writing {}: {error}", backend_log.display()))?;
            eprintln!("xtask: tensor backend log in {}", backend_log.display());
        }
        for problem in &backend_problems {
            eprintln!("xtask: {problem}");
        }
        // A backend that crashed mid-run makes the numbers meaningless.
        let complete = captured.output.contains(DONE_MARKER)
            && captured.outcome == Outcome::Exited(EXIT_STATUS_SUCCESS)
            && backend_problems.is_empty();
        if complete {
            let (records, context) = parse(&captured.output);
            return Ok(BenchOutput {
                records,
                context,
                setup: Setup {
                    accel: run.accel.name().to_uppercase(),
                    cpu_model: model.map(str::to_owned),
                    qemu_version: qemu_version(&qemu),
                    host_cpu: host_cpu(),
                    profile: "release",
                    elapsed: captured.elapsed,
                },
            });
        }
        let lines = captured.output.lines().count();
        eprintln!(
            "xtask: benchmark kernel run{} did not complete: QEMU {} after {:.1} s, {lines} lines of output; last lines:\n{}",
            model
                .map(|model| format!(" with -cpu {model}"))
                .unwrap_or_default(),
            captured.outcome.describe(),
            captured.elapsed.as_secs_f64(),
            qemu::tail(&captured.output, 15)
        );
        failures.push(format!(
            "{}: {} after {:.1} s with {lines} lines of output{}",
            model.map_or_else(
                || "default -cpu".to_owned(),
                |model| format!("-cpu {model}")
            ),
            captured.outcome.describe(),
            captured.elapsed.as_secs_f64(),
            backend_problems
                .iter()
                .map(|problem| format!(", {problem}"))
                .collect::<String>()
        ));
    }
    Err(format!(
        "the benchmark kernel did not complete under {} ({}); no numbers are reported",
        run.accel.name().to_uppercase(),
        failures.join("; ")
    )
    .into())
}

/// Tags of the records the benchmark kernel prints.
const TAGS: [&str; 6] = [
    "BENCH",
    "BENCHCTX",
    "BENCHCALL",
    "BENCHRUN",
    "BENCHCLASS",
    "BENCHDONE",
];

/// Returns the records in `output` and the last context.
pub fn parse(output: &str) -> (Vec<Record>, BTreeMap<String, String>) {
    let mut records = Vec::new();
    let mut context = BTreeMap::new();
    for line in output.lines() {
        let Some((tag, rest)) = find_record(line) else {
            continue;
        };
        let words: BTreeMap<String, String> = rest
            .split_whitespace()
            .filter_map(|word| word.split_once('='))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        if tag == "BENCHCTX" {
            context.extend(words);
            continue;
        }
        let mut merged = context.clone();
        merged.extend(words);
        records.push((tag.to_owned(), merged));
    }
    (records, context)
}

/// Returns the tag and the rest of a record line (after any log prefix).
fn find_record(line: &str) -> Option<(&'static str, &str)> {
    let start = line.find("BENCH")?;
    let text = &line[start..];
    let tag_end = text.find(' ').unwrap_or(text.len());
    let tag = TAGS.iter().find(|tag| **tag == &text[..tag_end])?;
    Some((tag, &text[tag_end..]))
}

/// Returns the records tagged `tag`.
pub fn tagged<'a>(
    records: &'a [Record],
    tag: &'a str,
) -> impl Iterator<Item = &'a BTreeMap<String, String>> + 'a {
    records
        .iter()
        .filter(move |(name, _)| name == tag)
        .map(|(_, words)| words)
}

/// Returns `words[key]` as a number (0 when missing or malformed).
pub fn number(words: &BTreeMap<String, String>, key: &str) -> f64 {
    words
        .get(key)
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// Returns `words[key]` or "".
pub fn text<'a>(words: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    words.get(key).map_or("", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_context_and_survive_log_prefixes() {
        let output = "noise\nBENCHCTX tsc_hz=2000000000\nBENCHCTX policy=fifo\n\
                      [agent 4 bench_null] BENCH name=null_syscall p50=700 n=10\n\
                      BENCH name=decision policy=mlfq p50=90\nBENCHMARK not a record\nBENCHDONE\n";
        let (records, context) = parse(output);
        assert_eq!(records.len(), 3);
        let null = &records[0].1;
        assert_eq!(text(null, "name"), "null_syscall");
        assert_eq!(text(null, "policy"), "fifo");
        assert_eq!(number(null, "p50"), 700.0);
        assert_eq!(number(null, "tsc_hz"), 2e9);
        assert_eq!(text(&records[1].1, "policy"), "mlfq");
        assert_eq!(records[2].0, "BENCHDONE");
        assert_eq!(text(&context, "policy"), "fifo");
        assert_eq!(tagged(&records, "BENCH").count(), 2);
    }
}
