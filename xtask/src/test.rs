//! `cargo xtask test`: host unit tests, lints, formatting, source checks, then the QEMU test kernels.
//!
//! Everything is counted in one tally: each host unit test, each lint or format check,
//! each source check (`unsafe-confined`, `layers`), each (test kernel, firmware) QEMU run. Failures do not stop the run, except a failed
//! build, after which nothing meaningful is left to run. The last line printed is always
//! `N passed, N failed`, and the exit status is non-zero when anything failed.
//!
//! A QEMU test with `tensor_backends` in the manifest gets tensor-backend processes of
//! its own (`tensor_backend.rs`), and its serial output is watched for `HARNESS` lines
//! that crash or restart them; a line the runner does not understand fails the test.

use std::{
    collections::VecDeque,
    io::{self, Write},
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    sync::{Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use boot::Firmware;

use crate::{
    Result, boot_options,
    cargo::{
        self, AGENT_PACKAGES, HOST_PACKAGES, KERNEL_PACKAGES, KERNEL_TARGET, Metadata, Profile,
    },
    layer_check,
    manifest::{Expect, Manifest},
    prereq,
    qemu::{self, EXIT_STATUS_FAILURE, EXIT_STATUS_SUCCESS, Outcome, Ovmf, QemuConfig},
    tensor_backend::{self, Backends, NotReady},
    unsafe_check,
};

/// Default seconds a QEMU test may run before it is killed.
const DEFAULT_TIMEOUT_SECS: u64 = 120;

/// Most QEMU tests run at once (the reference machine has two cores).
const MAX_PARALLEL_QEMU: usize = 2;

/// Lines of serial output shown for a failed QEMU test.
const FAILURE_TAIL_LINES: usize = 60;

/// Threads of each tensor backend of a test: tests check behaviour, not speed, and
/// two QEMU tests share the reference machine's two cores.
const TEST_BACKEND_THREADS: usize = 1;

/// Arguments of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Seconds a QEMU test may run before it is killed and counted as failed (a
    /// `timeout_secs` in tests/scenarios.toml overrides it for that test).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Run only what contains STR in its name (`qemu::heap`, `clippy::host`, `fmt`, `layers`); the
    /// host unit tests get STR as their libtest filter.
    #[arg(long, value_name = "STR")]
    filter: Option<String>,
    /// Firmware to boot the QEMU test kernels under.
    #[arg(long, value_enum, default_value_t = FirmwareChoice::Both)]
    firmware: FirmwareChoice,
    /// QEMU tests run at the same time [default: 2, or 1 on a single-core machine].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    jobs: Option<u64>,
    /// Build the test kernels with optimisations.
    #[arg(long)]
    release: bool,
    /// Skip host tests, clippy, rustfmt and the source checks: only build and boot the test
    /// kernels.
    #[arg(long)]
    qemu_only: bool,
}

/// The `--firmware` choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FirmwareChoice {
    /// Legacy BIOS (SeaBIOS) only.
    Bios,
    /// UEFI (OVMF) only.
    Uefi,
    /// Both, BIOS first.
    Both,
}

impl FirmwareChoice {
    /// Returns true when `firmware` is selected.
    fn includes(self, firmware: Firmware) -> bool {
        match self {
            FirmwareChoice::Bios => firmware == Firmware::Bios,
            FirmwareChoice::Uefi => firmware == Firmware::Uefi,
            FirmwareChoice::Both => true,
        }
    }
}

/// Counts of passed and failed items, with the names of the failures.
#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    failed: usize,
    failures: Vec<String>,
}

impl Tally {
    /// Records one check or test.
    fn record(&mut self, name: &str, ok: bool) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            self.failures.push(name.to_owned());
        }
    }

    /// Prints the failure list and the final `N passed, N failed` line; returns the
    /// process exit code.
    fn finish(self) -> ExitCode {
        if !self.failures.is_empty() {
            println!("\nfailures:");
            for name in &self.failures {
                println!("    {name}");
            }
        }
        println!("\n{} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// Runs `cargo xtask test`.
pub fn test(root: &Path, args: &TestArgs) -> Result<ExitCode> {
    let mut tally = Tally::default();
    let wanted = |name: &str| {
        args.filter
            .as_deref()
            .is_none_or(|filter| name.contains(filter))
    };

    // Prerequisites first: finding out after ten minutes of clippy is no fun.
    let prerequisites = (|| -> Result<(PathBuf, Option<Ovmf>)> {
        prereq::require_toolchain(root)?;
        let qemu = prereq::require_qemu()?;
        let ovmf = if args.firmware.includes(Firmware::Uefi) {
            Some(prereq::require_ovmf()?)
        } else {
            None
        };
        Ok((qemu, ovmf))
    })();
    let (qemu, ovmf) = match prerequisites {
        Ok(found) => found,
        Err(error) => {
            println!("prerequisites missing:\n{error}");
            tally.record("prerequisites", false);
            return Ok(tally.finish());
        }
    };

    if !args.qemu_only {
        if !host_unit_tests(root, args.filter.as_deref(), &mut tally) {
            return Ok(tally.finish());
        }
        for check in checks(root) {
            if wanted(&check.name) {
                run_check(check, &mut tally);
            }
        }
        for check in &SOURCE_CHECKS {
            if wanted(check.name) {
                run_source_check(root, check, &mut tally);
            }
        }
    }

    let profile = Profile::from_release_flag(args.release);
    let context = QemuContext {
        qemu,
        ovmf,
        default_timeout: Duration::from_secs(args.timeout),
    };
    qemu_tests(root, args, profile, &context, &wanted, &mut tally);
    let firmwares: Vec<Firmware> = Firmware::ALL
        .into_iter()
        .filter(|firmware| args.firmware.includes(*firmware))
        .collect();
    crate::host_tests::run_all(root, &firmwares, &wanted, &mut |name, ok| {
        tally.record(name, ok);
    });
    Ok(tally.finish())
}

/// Runs the host crates' unit tests and adds every test to the tally. Returns false when
/// they do not even build (the run stops there).
fn host_unit_tests(root: &Path, filter: Option<&str>, tally: &mut Tally) -> bool {
    let package_args: Vec<&str> = HOST_PACKAGES.iter().flat_map(|name| ["-p", name]).collect();

    let mut build = cargo::cargo(root);
    build.arg("test").args(&package_args).arg("--no-run");
    let build_check = Check {
        name: "host-tests".to_owned(),
        command: build,
        kind: CheckKind::Build,
    };
    if !run_check(build_check, tally) {
        println!("host unit tests do not build; stopping");
        return false;
    }

    let mut command = cargo::cargo(root);
    command
        .arg("test")
        .args(&package_args)
        .arg("--no-fail-fast");
    if let Some(filter) = filter {
        command.args(["--", filter]);
    }
    print_start("host::unit-tests");
    let start = Instant::now();
    let output = command.stdin(Stdio::null()).output();
    let elapsed = start.elapsed();
    let output = match output {
        Ok(output) => output,
        Err(error) => {
            println!("FAILED (cannot run cargo test: {error})");
            tally.record("host::unit-tests", false);
            return true;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let counts = parse_libtest_counts(&stdout);
    tally.passed += counts.passed;
    tally.failed += counts.failed;
    tally
        .failures
        .extend(failed_libtest_names(&stdout).map(|name| format!("host::{name}")));
    let clean = output.status.success() && counts.failed == 0;
    if clean {
        println!("ok ({} passed, {})", counts.passed, seconds(elapsed));
    } else {
        println!(
            "FAILED ({} passed, {} failed, cargo test {}, {})",
            counts.passed,
            counts.failed,
            output.status,
            seconds(elapsed)
        );
        println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
        if counts.failed == 0 {
            // A test binary crashed or cargo failed without a failing test to count.
            tally.record("host::unit-tests (cargo test failed)", false);
        }
    }
    true
}

/// Sums of the libtest `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LibtestCounts {
    passed: usize,
    failed: usize,
}

/// Returns the sums of every `test result: ok. N passed; M failed; ...` line in `stdout`.
fn parse_libtest_counts(stdout: &str) -> LibtestCounts {
    let mut counts = LibtestCounts::default();
    for line in stdout.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        for field in rest.split(';') {
            let mut words = field.split_whitespace().rev();
            let (Some(label), Some(number)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(number) = number.parse::<usize>() else {
                continue;
            };
            match label {
                "passed" => counts.passed += number,
                "failed" => counts.failed += number,
                _ => {}
            }
        }
    }
    counts
}

/// Returns the names of failed tests from libtest's `test NAME ... FAILED` lines.
fn failed_libtest_names(stdout: &str) -> impl Iterator<Item = &str> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
}

/// A named command that passes when it exits successfully.
struct Check {
    name: String,
    command: Command,
    kind: CheckKind,
}

/// Whether a check is one of the counted items or a build step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CheckKind {
    /// A lint or format check: counted as passed or failed.
    Counted,
    /// A build the counted items need: counted only when it fails.
    Build,
}

/// Returns the lint and format checks, in order.
fn checks(root: &Path) -> Vec<Check> {
    let mut clippy_host = cargo::cargo(root);
    clippy_host.arg("clippy");
    for package in HOST_PACKAGES {
        clippy_host.args(["-p", package]);
    }
    clippy_host.args(["--all-targets", "--", "-D", "warnings"]);

    let mut clippy_kernel = cargo::cargo(root);
    clippy_kernel.arg("clippy");
    for package in KERNEL_PACKAGES {
        clippy_kernel.args(["-p", package]);
    }
    clippy_kernel.args(["--target", KERNEL_TARGET, "--", "-D", "warnings"]);

    let mut clippy_agents = cargo::cargo(root);
    clippy_agents.arg("clippy");
    for package in AGENT_PACKAGES {
        clippy_agents.args(["-p", package]);
    }
    clippy_agents
        .arg("--target")
        .arg(root.join(cargo::AGENT_TARGET_SPEC))
        .args(cargo::AGENT_BUILD_STD_ARGS)
        .args(["--", "-D", "warnings"]);

    let mut fmt = cargo::cargo(root);
    // Captured output is shown in logs and files: no colour escapes.
    fmt.args(["fmt", "--all", "--check", "--", "--color=never"]);

    vec![
        Check {
            name: "clippy::host".to_owned(),
            command: clippy_host,
            kind: CheckKind::Counted,
        },
        Check {
            name: "clippy::kernel".to_owned(),
            command: clippy_kernel,
            kind: CheckKind::Counted,
        },
        Check {
            name: "clippy::agents".to_owned(),
            command: clippy_agents,
            kind: CheckKind::Counted,
        },
        Check {
            name: "fmt".to_owned(),
            command: fmt,
            kind: CheckKind::Counted,
        },
    ]
}

/// Runs one check with its output captured (shown only on failure); returns whether it
/// passed.
fn run_check(check: Check, tally: &mut Tally) -> bool {
    let Check {
        name,
        mut command,
        kind,
    } = check;
    match kind {
        CheckKind::Counted => print_start(&name),
        CheckKind::Build => print!("build {name} ... "),
    }
    let _ = io::stdout().flush();
    let start = Instant::now();
    let result = command.stdin(Stdio::null()).output();
    let elapsed = start.elapsed();
    let ok = match result {
        Ok(output) if output.status.success() => {
            println!("ok ({})", seconds(elapsed));
            true
        }
        Ok(output) => {
            println!("FAILED ({}, {})", output.status, seconds(elapsed));
            println!("---- {} ----", cargo::display_command(&command));
            print!("{}", String::from_utf8_lossy(&output.stdout));
            print!("{}", String::from_utf8_lossy(&output.stderr));
            println!("----");
            false
        }
        Err(error) => {
            println!(
                "FAILED (cannot run `{}`: {error})",
                cargo::display_command(&command)
            );
            false
        }
    };
    match kind {
        CheckKind::Counted => tally.record(&name, ok),
        CheckKind::Build if !ok => tally.record(&format!("build {name}"), ok),
        CheckKind::Build => {}
    }
    ok
}

/// A check that reads the sources itself: it returns one line per problem.
struct SourceCheck {
    /// The item's name.
    name: &'static str,
    /// Returns the problems found in the repository at the given root.
    run: fn(&Path) -> Result<Vec<String>>,
}

/// The source checks, in order: each counts as one item.
const SOURCE_CHECKS: [SourceCheck; 2] = [
    SourceCheck {
        name: "unsafe-confined",
        run: unsafe_check::check,
    },
    SourceCheck {
        name: "layers",
        run: layer_check::check,
    },
];

/// Runs one source check, prints its problems when there are any, and counts it.
fn run_source_check(root: &Path, check: &SourceCheck, tally: &mut Tally) {
    print_start(check.name);
    let start = Instant::now();
    let result = (check.run)(root);
    let elapsed = start.elapsed();
    let ok = match result {
        Ok(problems) if problems.is_empty() => {
            println!("ok ({})", seconds(elapsed));
            true
        }
        Ok(problems) => {
            println!("FAILED ({} problems, {})", problems.len(), seconds(elapsed));
            println!("---- {} ----", check.name);
            for problem in &problems {
                println!("{problem}");
            }
            println!("----");
            false
        }
        Err(error) => {
            println!("FAILED ({error})");
            false
        }
    };
    tally.record(check.name, ok);
}

/// What every QEMU test run needs.
struct QemuContext {
    qemu: PathBuf,
    ovmf: Option<Ovmf>,
    default_timeout: Duration,
}

/// One QEMU test run: a test kernel under one firmware.
#[derive(Clone, Debug)]
struct QemuJob {
    bin: String,
    firmware: Firmware,
    kernel: PathBuf,
    image: PathBuf,
    expect: Expect,
    qemu_args: Vec<String>,
    cmdline: Vec<String>,
    agents: Vec<cargo::AgentProgram>,
    timeout: Duration,
    forbidden_lines: Vec<String>,
    tensor_backends: usize,
    tensor_backend_bytes: u64,
    tensor_doorbells: bool,
}

/// The tensor-backend binary for the jobs that need one, or why there is none.
type BackendBinary = std::result::Result<PathBuf, String>;

/// What one QEMU run produced.
#[derive(Clone, Debug)]
struct JobResult {
    verdict: Verdict,
    elapsed: Duration,
    /// QEMU's output (the guest's serial log and QEMU's stderr).
    output: String,
    /// The tensor backends' output and xtask's notes about them (empty without any).
    backend_output: String,
}

impl QemuJob {
    /// Returns the name printed and filtered on: `qemu::heap`.
    fn name(&self) -> String {
        format!("qemu::{}", self.bin)
    }

    /// Returns the name with the firmware: `qemu::heap [bios]`.
    fn full_name(&self) -> String {
        format!("{} [{}]", self.name(), self.firmware)
    }

    /// Returns the label of this run's tensor backend files: `heap-bios`, different for
    /// every job, so parallel jobs never share a file.
    fn backend_label(&self) -> String {
        format!("{}-{}", self.bin, self.firmware)
    }
}

/// The verdict on one QEMU run.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// Passed; the note says how when it is not plain success.
    Ok(Option<String>),
    /// Failed for the stated reason.
    Failed(String),
}

/// Returns the first line of `output` that starts with one of `forbidden`.
fn forbidden_line<'a>(output: &'a str, forbidden: &[String]) -> Option<&'a str> {
    output.lines().find(|line| {
        forbidden
            .iter()
            .any(|start| line.starts_with(start.as_str()))
    })
}

/// Returns the verdict once `problems` (a forbidden line, harness errors, crashed
/// backends) are known: any of them fails the test, before the judged reason.
fn with_problems(judged: Verdict, mut problems: Vec<String>) -> Verdict {
    if problems.is_empty() {
        return judged;
    }
    if let Verdict::Failed(reason) = judged {
        problems.push(reason);
    }
    Verdict::Failed(problems.join("; "))
}

/// Returns the harness error a serial line causes, if any, after doing what it asks:
/// a `HARNESS` line must be a command the runner knows, for a backend this test has.
fn harness_line(line: &str, backends: Option<&mut Backends>) -> Option<String> {
    let command = match tensor_backend::parse_harness_line(line)? {
        Ok(command) => command,
        Err(error) => return Some(error),
    };
    let Some(backends) = backends else {
        return Some(format!(
            "{line:?}: this test has no tensor backends (tensor_backends in {})",
            crate::manifest::MANIFEST_PATH
        ));
    };
    let error = backends.apply(command).err()?;
    let summary = error
        .downcast_ref::<NotReady>()
        .map_or_else(|| error.to_string(), |not_ready| not_ready.summary.clone());
    Some(format!("{line:?}: {summary}"))
}

/// Returns whether `outcome` meets `expect`. Only the exact failure status counts as an
/// expected failure; a timeout or a crash never does.
fn judge(expect: Expect, outcome: Outcome) -> Verdict {
    match (expect, outcome) {
        (Expect::Pass, Outcome::Exited(EXIT_STATUS_SUCCESS)) => Verdict::Ok(None),
        (Expect::Fail, Outcome::Exited(EXIT_STATUS_FAILURE)) => {
            Verdict::Ok(Some("failed as expected".to_owned()))
        }
        (Expect::Fail, Outcome::Exited(EXIT_STATUS_SUCCESS)) => Verdict::Failed(format!(
            "exit {EXIT_STATUS_SUCCESS}, expected {EXIT_STATUS_FAILURE}"
        )),
        (_, outcome) => Verdict::Failed(outcome.describe()),
    }
}

/// Builds the test kernels, then boots each under each selected firmware.
fn qemu_tests(
    root: &Path,
    args: &TestArgs,
    profile: Profile,
    context: &QemuContext,
    wanted: &dyn Fn(&str) -> bool,
    tally: &mut Tally,
) {
    let setup = (|| -> Result<(Metadata, Manifest)> {
        let metadata = Metadata::load(root)?;
        let manifest = Manifest::load(root)?;
        manifest.check_against(&metadata.test_kernels)?;
        Ok((metadata, manifest))
    })();
    let (metadata, manifest) = match setup {
        Ok(setup) => setup,
        Err(error) => {
            println!("test qemu::setup ... FAILED ({error})");
            tally.record("qemu::setup", false);
            return;
        }
    };

    let build = Check {
        name: "test-kernels".to_owned(),
        command: cargo::test_kernels_build_command(root, profile),
        kind: CheckKind::Build,
    };
    if !run_check(build, tally) {
        println!("the test kernels do not build; stopping");
        return;
    }
    let build = Check {
        name: "agent-programs".to_owned(),
        command: cargo::agents_build_command(root, profile),
        kind: CheckKind::Build,
    };
    if !run_check(build, tally) {
        println!("the agent programs do not build; stopping");
        return;
    }
    let agents = cargo::agent_programs(&metadata, profile);

    let image_dir = metadata
        .target_dir
        .join("xtask-test")
        .join(profile.dir_name());
    let jobs: Vec<QemuJob> = metadata
        .test_kernels
        .iter()
        .flat_map(|bin| {
            let scenario = manifest.scenario(bin);
            let skipped = scenario.known_failure.as_ref().filter(|_| {
                args.filter
                    .as_deref()
                    .is_none_or(|filter| !bin.contains(filter))
            });
            if let Some(reason) = skipped {
                println!("skip qemu::{bin}: known failure: {reason}");
                return Vec::new();
            }
            Firmware::ALL
                .into_iter()
                .filter(|firmware| args.firmware.includes(*firmware))
                .filter(|firmware| scenario.firmware.contains(firmware))
                .map(|firmware| QemuJob {
                    bin: bin.clone(),
                    firmware,
                    kernel: metadata.kernel_target_binary(profile, bin),
                    image: image_dir.join(format!("{bin}-{firmware}.img")),
                    expect: scenario.expect,
                    qemu_args: scenario.qemu_args.clone(),
                    cmdline: scenario.cmdline.clone(),
                    agents: agents.clone(),
                    timeout: scenario.timeout.unwrap_or(context.default_timeout),
                    forbidden_lines: scenario.forbidden_lines.clone(),
                    tensor_backends: scenario.tensor_backends,
                    tensor_backend_bytes: scenario.tensor_backend_bytes,
                    tensor_doorbells: scenario.tensor_doorbells,
                })
                .collect::<Vec<_>>()
        })
        .filter(|job| wanted(&job.name()))
        .collect();
    if metadata.test_kernels.is_empty() {
        println!("note: package kernel-tests has no test kernels (tests/src/bin/*.rs)");
    }
    let parallel = args
        .jobs
        .map(|jobs| usize::try_from(jobs).unwrap_or(1))
        .unwrap_or_else(|| {
            thread::available_parallelism()
                .map_or(1, |cores| cores.get())
                .min(MAX_PARALLEL_QEMU)
        });
    let backend_binary = build_backend_if_needed(root, &metadata, &jobs, tally);
    println!("running {} QEMU tests, {parallel} at a time", jobs.len());

    let queue = Mutex::new(jobs.into_iter().collect::<VecDeque<_>>());
    let (sender, receiver) = mpsc::channel();
    thread::scope(|scope| {
        for _ in 0..parallel {
            let sender = sender.clone();
            let queue = &queue;
            let backend_binary = &backend_binary;
            scope.spawn(move || {
                while let Some(job) = queue.lock().ok().and_then(|mut queue| queue.pop_front()) {
                    let result = run_qemu_job(&job, context, backend_binary);
                    if sender.send((job, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for (job, result) in receiver {
            report_qemu_job(&job, &result);
            tally.record(&job.full_name(), matches!(result.verdict, Verdict::Ok(_)));
        }
    });
}

/// Builds tensor-backend when one of `jobs` needs it (a failed build is counted and
/// fails those jobs); returns its binary or why there is none.
fn build_backend_if_needed(
    root: &Path,
    metadata: &Metadata,
    jobs: &[QemuJob],
    tally: &mut Tally,
) -> BackendBinary {
    if jobs.iter().all(|job| job.tensor_backends == 0) {
        return Err("no selected test needs tensor-backend, so it was not built".to_owned());
    }
    let build = Check {
        name: tensor_backend::PACKAGE.to_owned(),
        command: tensor_backend::build_command(root),
        kind: CheckKind::Build,
    };
    if run_check(build, tally) {
        Ok(tensor_backend::binary_path(metadata))
    } else {
        Err("tensor-backend does not build (see `build tensor-backend` above)".to_owned())
    }
}

/// Starts the job's tensor backends (none when it has none); an error carries the
/// reason and the backends' output.
fn start_backends(
    job: &QemuJob,
    binary: &BackendBinary,
) -> std::result::Result<Option<Backends>, (String, String)> {
    if job.tensor_backends == 0 {
        return Ok(None);
    }
    let binary = binary
        .as_ref()
        .map_err(|reason| (reason.clone(), String::new()))?;
    Backends::start(
        binary,
        job.tensor_backends,
        job.tensor_backend_bytes,
        TEST_BACKEND_THREADS,
        job.tensor_doorbells,
        &job.backend_label(),
    )
    .map(Some)
    .map_err(|error| match error.downcast_ref::<NotReady>() {
        Some(not_ready) => (
            format!("cannot start the tensor backends: {}", not_ready.summary),
            not_ready.output.clone(),
        ),
        None => (
            format!("cannot start the tensor backends: {error}"),
            String::new(),
        ),
    })
}

/// Makes the job's disk image, starts its tensor backends and boots it, acting on the
/// guest's `HARNESS` lines meanwhile; returns the verdict, run time and outputs.
fn run_qemu_job(job: &QemuJob, context: &QemuContext, backend_binary: &BackendBinary) -> JobResult {
    let start = Instant::now();
    let failed = |reason: String, backend_output: String| JobResult {
        verdict: Verdict::Failed(reason),
        elapsed: start.elapsed(),
        output: String::new(),
        backend_output,
    };
    let failed_early = |reason: String| failed(reason, String::new());
    let ramdisk = job.image.with_extension("ramdisk.tar");
    let built = boot_options::image_builder(&job.kernel, &job.cmdline, &job.agents, &ramdisk)
        .and_then(|builder| Ok(builder.build(job.firmware, &job.image)?));
    if let Err(error) = built {
        return failed_early(format!("cannot make the disk image: {error}"));
    }
    let mut config = QemuConfig::for_test(
        context.qemu.clone(),
        job.image.clone(),
        job.firmware,
        context.ovmf.clone(),
    );
    config.extra_args.clone_from(&job.qemu_args);
    let vars_scratch = job.image.with_extension("vars.fd");
    let mut command = match config.command(&vars_scratch) {
        Ok(command) => command,
        Err(error) => return failed_early(format!("cannot prepare QEMU: {error}")),
    };
    // Started last, just before QEMU: every early return above leaves none behind.
    let mut backends = match start_backends(job, backend_binary) {
        Ok(backends) => backends,
        Err((reason, backend_output)) => return failed(reason, backend_output),
    };
    if let Some(backends) = &backends {
        command.args(backends.qemu_args());
    }
    let mut harness_errors = Vec::new();
    let run = qemu::run_with_timeout_observed(command, job.timeout, |line| {
        if let Some(error) = harness_line(line, backends.as_mut()) {
            harness_errors.push(format!("harness error: {error}"));
        }
    });
    let backend_problems = backends
        .as_mut()
        .map(Backends::stop_all)
        .unwrap_or_default();
    let backend_output = backends.as_ref().map(Backends::output).unwrap_or_default();
    let captured = match run {
        Ok(captured) => captured,
        Err(error) => {
            return failed(
                format!("cannot run {}: {error}", context.qemu.display()),
                backend_output,
            );
        }
    };
    let mut problems: Vec<String> = forbidden_line(&captured.output, &job.forbidden_lines)
        .map(|line| format!("forbidden output line: {line:?}"))
        .into_iter()
        .collect();
    problems.extend(harness_errors);
    problems.extend(backend_problems);
    JobResult {
        verdict: with_problems(judge(job.expect, captured.outcome), problems),
        elapsed: captured.elapsed,
        output: captured.output,
        backend_output,
    }
}

/// Prints the result line of one QEMU run, and when it failed its output tail, then
/// its tensor backends' output.
fn report_qemu_job(job: &QemuJob, result: &JobResult) {
    let JobResult {
        verdict,
        elapsed,
        output,
        backend_output,
    } = result;
    let elapsed = *elapsed;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    // Writing to our own stdout only fails when it is closed; nothing useful to do then.
    let _ = match verdict {
        Verdict::Ok(None) => writeln!(
            out,
            "test {} ... ok ({})",
            job.full_name(),
            seconds(elapsed)
        ),
        Verdict::Ok(Some(note)) => writeln!(
            out,
            "test {} ... ok ({note}, {})",
            job.full_name(),
            seconds(elapsed)
        ),
        Verdict::Failed(reason) => writeln!(
            out,
            "test {} ... FAILED ({reason}, {})\n---- {} output (last {FAILURE_TAIL_LINES} lines) \
             ----\n{}\n----",
            job.full_name(),
            seconds(elapsed),
            job.full_name(),
            qemu::tail(output, FAILURE_TAIL_LINES)
        ),
    };
    if matches!(verdict, Verdict::Failed(_)) && !backend_output.is_empty() {
        let _ = writeln!(out, "{backend_output}----");
    }
    let _ = out.flush();
}

/// Prints `test NAME ... ` without a newline, for a check about to run.
fn print_start(name: &str) {
    print!("test {name} ... ");
    let _ = io::stdout().flush();
}

/// Returns `elapsed` as `2.1 s`.
fn seconds(elapsed: Duration) -> String {
    format!("{:.1} s", elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_counts_are_summed() {
        let stdout = "\
running 2 tests
test a ... ok
test b ... FAILED

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

running 5 tests
test result: ok. 5 passed; 0 failed; 2 ignored; 0 measured; 3 filtered out; finished in 0.00s
";
        assert_eq!(
            parse_libtest_counts(stdout),
            LibtestCounts {
                passed: 6,
                failed: 1
            }
        );
        assert_eq!(failed_libtest_names(stdout).collect::<Vec<_>>(), ["b"]);
        assert_eq!(parse_libtest_counts("no results"), LibtestCounts::default());
    }

    #[test]
    fn only_the_exact_status_meets_an_expectation() {
        let timeout = Outcome::TimedOut(Duration::from_secs(120));
        assert_eq!(judge(Expect::Pass, Outcome::Exited(33)), Verdict::Ok(None));
        let forbidden = ["[kernel]".to_owned()];
        let output = "boot\n[agent 3 x] [kernel] escaped\n[kernel] forged\n";
        assert_eq!(forbidden_line(output, &forbidden), Some("[kernel] forged"));
        assert_eq!(forbidden_line("[agent 3 x] [kernel]\n", &forbidden), None);
        assert!(matches!(
            judge(Expect::Pass, Outcome::Exited(35)),
            Verdict::Failed(_)
        ));
        assert!(matches!(
            judge(Expect::Pass, Outcome::Exited(0)),
            Verdict::Failed(_)
        ));
        assert!(matches!(judge(Expect::Pass, timeout), Verdict::Failed(_)));
        assert!(matches!(
            judge(Expect::Fail, Outcome::Exited(35)),
            Verdict::Ok(Some(_))
        ));
        assert!(matches!(
            judge(Expect::Fail, Outcome::Exited(33)),
            Verdict::Failed(_)
        ));
        assert!(matches!(
            judge(Expect::Fail, Outcome::Exited(1)),
            Verdict::Failed(_)
        ));
        assert!(matches!(
            judge(Expect::Fail, Outcome::Signalled(9)),
            Verdict::Failed(_)
        ));
        assert_eq!(
            judge(Expect::Fail, timeout),
            Verdict::Failed("timed out after 120 s".to_owned())
        );
    }

    #[test]
    fn problems_fail_a_test_before_its_own_reason() {
        assert_eq!(
            with_problems(Verdict::Ok(None), Vec::new()),
            Verdict::Ok(None)
        );
        assert_eq!(
            with_problems(Verdict::Ok(None), vec!["harness error: x".to_owned()]),
            Verdict::Failed("harness error: x".to_owned())
        );
        assert_eq!(
            with_problems(
                Verdict::Ok(Some("failed as expected".to_owned())),
                vec!["a".to_owned(), "b".to_owned()]
            ),
            Verdict::Failed("a; b".to_owned())
        );
        assert_eq!(
            with_problems(Verdict::Failed("exit 35".to_owned()), vec!["a".to_owned()]),
            Verdict::Failed("a; exit 35".to_owned())
        );
    }

    #[test]
    fn harness_lines_without_backends_are_errors() {
        assert_eq!(harness_line("boot ok", None), None);
        assert_eq!(harness_line("[agent 1 x] HARNESS nonsense", None), None);
        let error = harness_line("HARNESS tensor-backend kill 0", None).unwrap();
        assert!(error.contains("no tensor backends"), "{error}");
        let error = harness_line("HARNESS tensor-backend fly 0\r", None).unwrap();
        assert!(error.contains("unknown harness line"), "{error}");
    }

    #[test]
    fn firmware_choice() {
        assert!(FirmwareChoice::Both.includes(Firmware::Bios));
        assert!(FirmwareChoice::Both.includes(Firmware::Uefi));
        assert!(!FirmwareChoice::Bios.includes(Firmware::Uefi));
        assert!(FirmwareChoice::Uefi.includes(Firmware::Uefi));
    }

    #[test]
    fn tally_counts_failures_by_name() {
        let mut tally = Tally::default();
        tally.record("fmt", true);
        tally.record("qemu::heap [uefi]", false);
        assert_eq!((tally.passed, tally.failed), (1, 1));
        assert_eq!(tally.failures, ["qemu::heap [uefi]"]);
    }
}
