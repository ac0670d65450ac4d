//! The tensor accelerator's host side of a QEMU run: build `tensor-backend`, start one per device, stop them.
//!
//! Each accelerator is QEMU's `ivshmem-plain` device over a file that a
//! `tensor-backend` process maps too (`drivers/tensor-ring/PROTOCOL.md`), or, with
//! doorbells, `ivshmem-doorbell`, which gets that file and its eventfds from a
//! `tensor-doorbell` process, the ivshmem server, on a socket beside the file
//! (`<file>.sock`). The backend takes its eventfds from that server too
//! (`<file>.backend.sock`), and the server outlives it: a backend killed and started
//! again gets the same eventfds, so doorbells work again after a restart. The backend
//! creates the file with its size, so it starts before QEMU: [`Backends::start`]
//! spawns one per device on a file of its own (`/dev/shm/aikernel-<label>-<pid>-<n>`)
//! and waits until each header says *ready*; [`Backends::qemu_args`] attaches them;
//! dropping the value (or [`Backends::stop_all`]) stops them with SIGTERM and removes
//! the files. A process-wide registry and a signal thread remove the files and stop
//! the backends when xtask itself gets SIGINT, SIGTERM or SIGHUP, so a Ctrl-C leaves
//! nothing in `/dev/shm`.
//!
//! A test kernel drives failures through its serial output: a line that is exactly
//! `HARNESS tensor-backend kill N` or `HARNESS tensor-backend restart N`
//! ([`parse_harness_line`]) makes the runner SIGKILL backend `N` (a crash: the header
//! keeps its last words) or start it again on the same file ([`Backends::apply`]).
//! Nothing is sent back: the guest watches the device's heartbeat itself.

use std::{
    collections::BTreeSet,
    env,
    fmt::Write as _,
    fs,
    io::{self, Read},
    path::{Path, PathBuf},
    process::{self, Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, mpsc},
    thread,
    time::{Duration, Instant},
};

use signal_hook::{
    consts::{SIGHUP, SIGINT, SIGTERM},
    iterator::Signals,
};
use tensor_ring::{
    DeviceStatus,
    layout::{MAGIC, VERSION, field},
};

use crate::{
    Result,
    cargo::{self, Metadata},
};

/// The package (and binary) of the backend.
pub const PACKAGE: &str = "tensor-backend";

/// The binary of the ivshmem server that holds a backend's doorbells across restarts.
const DOORBELL_BINARY: &str = "tensor-doorbell";

/// What the doorbell server prints once both its sockets listen.
const DOORBELL_LISTENING: &str = "tensor-doorbell: serving";

/// Most accelerators one run attaches (the manifest and `run --tensor-backends` refuse
/// more).
pub const MAX_BACKENDS: usize = 4;

/// Where the shared files go when it exists (memory, not disk).
const SHM_DIRECTORY: &str = "/dev/shm";

/// The first word of every shared file's name, so stray ones are easy to spot.
const FILE_PREFIX: &str = "aikernel";

/// How long a backend may take to declare itself ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the header is read while waiting for a backend.
const READY_POLL: Duration = Duration::from_millis(10);

/// How long a backend may take to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How often a stopping backend is checked.
const STOP_POLL: Duration = Duration::from_millis(5);

/// How long the output of a backend that has exited is still collected.
const READER_GRACE: Duration = Duration::from_secs(1);

/// Heartbeat changes a restarted backend must show: the dead instance left status
/// *ready* in the header, so only a moving heartbeat proves the new one serves (the
/// first change may be the new instance zeroing the header).
const RESTART_HEARTBEAT_CHANGES: u32 = 2;

/// Bytes of the header read to judge readiness: up to and including the heartbeat.
const HEADER_PREFIX_BYTES: usize = field::HEARTBEAT + 4;

/// The first word of a harness command line.
const HARNESS_WORD: &str = "HARNESS";

/// The device word of the tensor backend's harness commands.
const HARNESS_DEVICE: &str = "tensor-backend";

/// The harness commands the runner knows, for error messages.
const HARNESS_SYNTAX: &str =
    "`HARNESS tensor-backend kill N` and `HARNESS tensor-backend restart N`";

/// Returns the command that builds the backend for the host, optimised (its GEMM is
/// what a run measures).
pub fn build_command(root: &Path) -> Command {
    let mut command = cargo::cargo(root);
    command.args([
        "build",
        "--release",
        "-p",
        PACKAGE,
        "--bin",
        PACKAGE,
        "--bin",
        DOORBELL_BINARY,
    ]);
    command
}

/// Returns where [`build_command`] puts the binary.
pub fn binary_path(metadata: &Metadata) -> PathBuf {
    metadata.target_dir.join("release").join(PACKAGE)
}

/// Builds the backend (cargo's output on this terminal) and returns its binary.
pub fn build(root: &Path, metadata: &Metadata) -> Result<PathBuf> {
    cargo::run_inherited(build_command(root))?;
    Ok(binary_path(metadata))
}

/// Returns the threads an interactive backend gets by default: every core but one
/// (left to QEMU), at least one.
pub fn default_threads() -> usize {
    thread::available_parallelism()
        .map_or(1, |cores| cores.get())
        .saturating_sub(1)
        .max(1)
}

/// Returns the bytes `text` names, by the backend's own `--size` rules: a decimal
/// number with an optional binary suffix `K`, `M` or `G` (case-insensitive, an
/// optional `iB` or `B` after it), which must be a power of two (QEMU maps the region
/// as a PCI BAR).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let without_unit = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, shift) = match without_unit.strip_suffix(['K', 'M', 'G']) {
        Some(digits) if without_unit.ends_with('K') => (digits, 10),
        Some(digits) if without_unit.ends_with('M') => (digits, 20),
        Some(digits) => (digits, 30),
        None => (without_unit, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!("`{text}` is not a size like 16M, 1G or 65536"));
    }
    let too_large = || format!("`{text}` is too large");
    let bytes = digits
        .parse::<u64>()
        .map_err(|_| too_large())?
        .checked_mul(1 << shift)
        .ok_or_else(too_large)?;
    if !bytes.is_power_of_two() {
        return Err(format!(
            "{bytes} bytes is not a power of two (a PCI BAR's size must be one)"
        ));
    }
    Ok(bytes)
}

/// Returns `bytes` in the largest binary unit that divides it: `64 MiB`, `4 KiB`.
pub fn describe_size(bytes: u64) -> String {
    const UNITS: [(u32, &str); 3] = [(30, "GiB"), (20, "MiB"), (10, "KiB")];
    UNITS
        .iter()
        .find(|(shift, _)| bytes != 0 && bytes.trailing_zeros() >= *shift)
        .map_or_else(
            || format!("{bytes} bytes"),
            |(shift, unit)| format!("{} {unit}", bytes >> shift),
        )
}

/// Returns the directory of the shared files: `/dev/shm`, or the temporary directory
/// on a host without it.
fn shm_directory() -> PathBuf {
    let shm = Path::new(SHM_DIRECTORY);
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        env::temp_dir()
    }
}

/// Returns the shared file of backend `index` of the run `label` in process `pid`.
fn shm_path(directory: &Path, label: &str, pid: u32, index: usize) -> PathBuf {
    directory.join(format!(
        "{FILE_PREFIX}-{}-{pid}-{index}",
        file_name_safe(label)
    ))
}

/// Returns `label` with everything but ASCII letters, digits, `-`, `_` and `.` replaced
/// by `-`: a file name that needs no quoting in QEMU's options or a shell.
fn file_name_safe(label: &str) -> String {
    label
        .chars()
        .map(|character| match character {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => character,
            _ => '-',
        })
        .collect()
}

/// Returns the socket QEMU connects to for the file at `path` (its ivshmem server's).
fn socket_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sock");
    PathBuf::from(name)
}

/// Returns the socket the backend of the file at `path` takes its doorbells from.
fn backend_socket_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".backend.sock");
    PathBuf::from(name)
}

/// Returns QEMU's arguments attaching the file at `path` (`bytes` long) as accelerator
/// `index`: a shared memory backend `tensor<index>` and the `ivshmem-plain` device on
/// it; with `socket`, a socket chardev `tensor<index>` to that server and the
/// `ivshmem-doorbell` device on it (one vector: the completion interrupt).
fn device_args(index: usize, path: &Path, bytes: u64, socket: Option<&Path>) -> [String; 4] {
    // QEMU's option syntax escapes a comma by doubling it.
    let escape = |path: &Path| path.to_string_lossy().replace(',', ",,");
    let id = format!("tensor{index}");
    match socket {
        None => [
            "-object".to_owned(),
            format!(
                "memory-backend-file,id={id},share=on,mem-path={},size={bytes}",
                escape(path)
            ),
            "-device".to_owned(),
            format!("ivshmem-plain,memdev={id}"),
        ],
        Some(socket) => [
            "-chardev".to_owned(),
            format!("socket,id={id},path={}", escape(socket)),
            "-device".to_owned(),
            format!("ivshmem-doorbell,chardev={id},vectors=1"),
        ],
    }
}

/// The header words that say whether a backend serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HeaderWords {
    magic: u32,
    version: u32,
    status: u32,
    heartbeat: u32,
}

impl HeaderWords {
    /// Returns the words at the start of a shared file, or `None` when `bytes` is
    /// shorter than [`HEADER_PREFIX_BYTES`] (a file the backend has not sized yet).
    fn parse(bytes: &[u8]) -> Option<Self> {
        let word = |offset: usize| -> Option<u32> {
            let bytes = bytes.get(offset..offset + 4)?;
            Some(u32::from_le_bytes(bytes.try_into().ok()?))
        };
        Some(Self {
            magic: word(field::MAGIC)?,
            version: word(field::VERSION)?,
            status: word(field::DEVICE_STATUS)?,
            heartbeat: word(field::HEARTBEAT)?,
        })
    }

    /// Reads the words from the file at `path` (`None` while it is missing or short).
    fn read(path: &Path) -> Option<Self> {
        let mut bytes = [0u8; HEADER_PREFIX_BYTES];
        fs::File::open(path).ok()?.read_exact(&mut bytes).ok()?;
        Self::parse(&bytes)
    }

    /// Returns whether the header is version 1's and says *ready*.
    fn is_ready(&self) -> bool {
        self.magic == MAGIC && self.version == VERSION && self.status == DeviceStatus::Ready.code()
    }
}

impl std::fmt::Display for HeaderWords {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "magic {:#010x}, version {}, status {}, heartbeat {}",
            self.magic, self.version, self.status, self.heartbeat
        )
    }
}

/// Decides, from successive header reads, when a starting backend serves.
#[derive(Clone, Copy, Debug)]
struct ReadyWatch {
    /// Heartbeat changes still to see (0 for a fresh file).
    changes_needed: u32,
    /// The heartbeat last seen (the dead instance's for a restart).
    last_heartbeat: Option<u32>,
}

impl ReadyWatch {
    /// Returns a watch for a backend on a new file: the ready header is enough.
    fn fresh() -> Self {
        Self {
            changes_needed: 0,
            last_heartbeat: None,
        }
    }

    /// Returns a watch for a backend restarted on a file whose header read `before`
    /// (the status may still say ready from the dead instance).
    fn restart(before: Option<HeaderWords>) -> Self {
        match before {
            Some(before) => Self {
                changes_needed: RESTART_HEARTBEAT_CHANGES,
                last_heartbeat: Some(before.heartbeat),
            },
            None => Self::fresh(),
        }
    }

    /// Takes one read of the header; returns whether the backend now serves.
    fn observe(&mut self, header: &HeaderWords) -> bool {
        if self
            .last_heartbeat
            .is_some_and(|last| last != header.heartbeat)
        {
            self.changes_needed = self.changes_needed.saturating_sub(1);
        }
        self.last_heartbeat = Some(header.heartbeat);
        self.changes_needed == 0 && header.is_ready()
    }
}

/// What a test kernel asks of the runner through a `HARNESS` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HarnessCommand {
    /// `HARNESS tensor-backend kill N`: SIGKILL backend N (a crash).
    Kill(usize),
    /// `HARNESS tensor-backend restart N`: start backend N again on its file.
    Restart(usize),
}

/// Returns the harness command of a serial line: `None` when the line does not start
/// with the word `HARNESS`, an error when it does but is not exactly
/// `HARNESS tensor-backend kill N` or `HARNESS tensor-backend restart N` (`N` decimal,
/// single spaces; a trailing `\r` is ignored).
pub fn parse_harness_line(line: &str) -> Option<Result<HarnessCommand, String>> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let rest = line.strip_prefix(HARNESS_WORD)?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        // `HARNESSED ...` is ordinary output.
        return None;
    }
    let unknown = || format!("unknown harness line {line:?}: the runner knows {HARNESS_SYNTAX}");
    let words: Vec<&str> = rest.split(' ').skip(1).collect();
    let [HARNESS_DEVICE, verb, index] = words.as_slice() else {
        return Some(Err(unknown()));
    };
    if index.is_empty() || !index.bytes().all(|byte| byte.is_ascii_digit()) {
        return Some(Err(unknown()));
    }
    let Ok(index) = index.parse::<usize>() else {
        return Some(Err(format!("harness line {line:?}: index too large")));
    };
    match *verb {
        "kill" => Some(Ok(HarnessCommand::Kill(index))),
        "restart" => Some(Ok(HarnessCommand::Restart(index))),
        _ => Some(Err(unknown())),
    }
}

/// A backend that did not come up: what happened, and everything it printed.
#[derive(Clone, Debug)]
pub struct NotReady {
    /// One line: which backend, on which file, and what went wrong.
    pub summary: String,
    /// The backend's output and xtask's notes about it.
    pub output: String,
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}; its output:\n{}", self.summary, self.output)
    }
}

impl std::error::Error for NotReady {}

/// The shared files and backend processes alive in this xtask, for the signal thread.
struct Live {
    files: BTreeSet<PathBuf>,
    pids: BTreeSet<u32>,
}

/// Every shared file not yet removed and every backend not yet reaped.
static LIVE: Mutex<Live> = Mutex::new(Live {
    files: BTreeSet::new(),
    pids: BTreeSet::new(),
});

/// Whether the signal thread runs (or why it could not be started).
static SIGNAL_THREAD: OnceLock<Result<(), String>> = OnceLock::new();

/// Returns the registry, even if a thread panicked while holding it (the sets stay
/// consistent: every update is a single insert or remove).
fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts, once per process, the thread that cleans up when xtask gets SIGINT,
/// SIGTERM or SIGHUP. Registering replaces the default action (death), so the thread
/// ends the process itself after cleaning up, with the shell's status `128 + signal`.
fn ensure_signal_thread() -> Result<()> {
    SIGNAL_THREAD
        .get_or_init(|| {
            let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
                .map_err(|error| format!("cannot handle signals: {error}"))?;
            thread::Builder::new()
                .name("tensor-backend-signals".to_owned())
                .spawn(move || {
                    if let Some(signal) = signals.forever().next() {
                        clean_up_after_signal(signal);
                        process::exit(128 + signal);
                    }
                })
                .map(drop)
                .map_err(|error| format!("cannot start the signal thread: {error}"))
        })
        .clone()
        .map_err(Into::into)
}

/// Sends SIGTERM to every live backend and removes every live shared file. Holds the
/// registry until the process exits, so no backend is reaped (and its pid reused)
/// meanwhile.
fn clean_up_after_signal(signal: i32) {
    let live = live();
    for pid in &live.pids {
        let _ = terminate(*pid);
    }
    for file in &live.files {
        let _ = fs::remove_file(file);
    }
    eprintln!(
        "xtask: signal {signal}: stopped {} tensor backend and doorbell server process(es) and removed their files",
        live.pids.len()
    );
}

/// Sends SIGTERM to `pid` with the `kill` utility (xtask has no `unsafe` for
/// `libc::kill`); returns whether it was delivered.
fn terminate(pid: u32) -> bool {
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Returns the child's exit status if it has exited, taking it off the registry in
/// the same critical section as the reaping (see [`clean_up_after_signal`]).
fn reap(child: &mut Child) -> io::Result<Option<ExitStatus>> {
    let mut live = live();
    let status = child.try_wait()?;
    if status.is_some() {
        live.pids.remove(&child.id());
    }
    Ok(status)
}

/// Waits until `child` has exited and returns its status.
fn wait_reaped(child: &mut Child) -> io::Result<ExitStatus> {
    loop {
        if let Some(status) = reap(child)? {
            return Ok(status);
        }
        thread::sleep(STOP_POLL);
    }
}

/// One backend: its file, its current process and everything it printed.
struct Instance {
    /// The shared file.
    path: PathBuf,
    /// The running process (`None` once killed, stopped or reaped).
    child: Option<Child>,
    /// Stdout and stderr of every process on this file, and xtask's notes.
    log: Arc<Mutex<Vec<u8>>>,
    /// Tells when the current process's output readers are done, and how many there are.
    readers: Option<(mpsc::Receiver<()>, usize)>,
    /// With doorbells, the `tensor-doorbell` server holding them: it runs from the
    /// start to [`Backends::stop_all`], through kills and restarts of the backend.
    server: Option<Child>,
    /// The server's output readers, as `readers`.
    server_readers: Option<(mpsc::Receiver<()>, usize)>,
}

impl Instance {
    /// Appends one line of xtask's own to the log.
    fn note(&self, text: &str) {
        if let Ok(mut log) = self.log.lock() {
            log.extend_from_slice(format!("[xtask] {text}\n").as_bytes());
        }
    }

    /// Returns the log as text.
    fn log_text(&self) -> String {
        let bytes = self.log.lock().map(|log| log.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits (briefly) until the output of the exited backend is all in the log.
    fn collect_output(&mut self) {
        collect(self.readers.take());
    }
}

/// Waits (briefly) until the output readers of an exited process are done.
fn collect(readers: Option<(mpsc::Receiver<()>, usize)>) {
    if let Some((done, count)) = readers {
        let deadline = Instant::now() + READER_GRACE;
        for _ in 0..count {
            let left = deadline.saturating_duration_since(Instant::now());
            if done.recv_timeout(left).is_err() {
                break;
            }
        }
    }
}

/// The tensor backends of one QEMU run, stopped and their files removed on drop.
pub struct Backends {
    binary: PathBuf,
    bytes: u64,
    threads: usize,
    /// Whether the backends serve doorbells (`ivshmem-doorbell`).
    doorbells: bool,
    instances: Vec<Instance>,
    /// Backends found dead that nobody killed, for [`Backends::stop_all`].
    problems: Vec<String>,
}

impl Backends {
    /// Starts `count` backends of `binary`, each with a `bytes`-long file of its own and
    /// `threads` threads (with `doorbells`, each also an ivshmem server on a socket of
    /// its own), and waits until each is ready. `label` names the run in the
    /// file names (`aikernel-<label>-<pid>-<n>`); runs alive at the same time in one
    /// xtask need different labels.
    ///
    /// Returns an error, with the backend's output, when one cannot be started or is
    /// not ready within 10 s; the ones already started are stopped then.
    pub fn start(
        binary: &Path,
        count: usize,
        bytes: u64,
        threads: usize,
        doorbells: bool,
        label: &str,
    ) -> Result<Self> {
        ensure_signal_thread()?;
        let directory = shm_directory();
        let mut backends = Self {
            binary: binary.to_path_buf(),
            bytes,
            threads: threads.max(1),
            doorbells,
            instances: Vec::with_capacity(count),
            problems: Vec::new(),
        };
        for index in 0..count {
            let path = shm_path(&directory, label, process::id(), index);
            // Same label, same pid: a leftover of a dead xtask, not a live file.
            let _ = fs::remove_file(&path);
            live().files.insert(path.clone());
            if doorbells {
                for socket in [socket_path(&path), backend_socket_path(&path)] {
                    let _ = fs::remove_file(&socket);
                    live().files.insert(socket);
                }
            }
            backends.instances.push(Instance {
                path,
                child: None,
                log: Arc::new(Mutex::new(Vec::new())),
                readers: None,
                server: None,
                server_readers: None,
            });
            if doorbells {
                backends.launch_server(index)?;
            }
            backends.launch(index, ReadyWatch::fresh())?;
        }
        Ok(backends)
    }

    /// Returns the QEMU arguments attaching every backend, in order: accelerator `n` is
    /// `-object memory-backend-file,id=tensor<n>,...` and `-device ivshmem-plain,memdev=tensor<n>`,
    /// or with doorbells `-chardev socket,id=tensor<n>,...` and `-device ivshmem-doorbell,...`.
    pub fn qemu_args(&self) -> Vec<String> {
        self.instances
            .iter()
            .enumerate()
            .flat_map(|(index, instance)| {
                let socket = self.doorbells.then(|| socket_path(&instance.path));
                device_args(index, &instance.path, self.bytes, socket.as_deref())
            })
            .collect()
    }

    /// Returns one line per backend: its file, size and threads.
    pub fn describe(&self) -> Vec<String> {
        self.instances
            .iter()
            .enumerate()
            .map(|(index, instance)| {
                format!(
                    "tensor accelerator {index}: {}, {}, {} thread{}, {}",
                    instance.path.display(),
                    describe_size(self.bytes),
                    self.threads,
                    if self.threads == 1 { "" } else { "s" },
                    if self.doorbells {
                        "ivshmem-doorbell (completion interrupts; tensor-doorbell holds them)"
                    } else {
                        "ivshmem-plain (polled)"
                    }
                )
            })
            .collect()
    }

    /// Returns what every backend printed (with xtask's notes), one section each.
    pub fn output(&self) -> String {
        let mut text = String::new();
        for (index, instance) in self.instances.iter().enumerate() {
            let _ = writeln!(
                text,
                "---- tensor-backend {index} ({}) ----",
                instance.path.display()
            );
            text.push_str(&instance.log_text());
        }
        text
    }

    /// Does what a harness command asks; returns an error for an index out of range.
    pub fn apply(&mut self, command: HarnessCommand) -> Result<()> {
        match command {
            HarnessCommand::Kill(index) => self.kill(index),
            HarnessCommand::Restart(index) => self.restart(index),
        }
    }

    /// Kills backend `index` with SIGKILL, like a crash: the header keeps what it said
    /// (status *ready*, a frozen heartbeat). Killing a dead backend does nothing.
    pub fn kill(&mut self, index: usize) -> Result<()> {
        self.instance(index)?;
        match self.kill_instance(index)? {
            Some(status) => self.instances[index].note(&format!("killed (SIGKILL): {status}")),
            None => self.instances[index].note("kill: not running"),
        }
        Ok(())
    }

    /// Starts backend `index` again on its file (killing it first if it still runs)
    /// and waits until it serves: status *ready* and a heartbeat that moved twice,
    /// since the dead process left *ready* behind.
    pub fn restart(&mut self, index: usize) -> Result<()> {
        self.instance(index)?;
        if let Some(status) = self.kill_instance(index)? {
            self.instances[index].note(&format!(
                "still running at the restart: killed (SIGKILL): {status}"
            ));
        }
        let before = HeaderWords::read(&self.instances[index].path);
        self.instances[index].note("restarting");
        let started = Instant::now();
        self.launch(index, ReadyWatch::restart(before))?;
        self.instances[index].note(&format!(
            "restarted: serving after {:.2} s",
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// Stops every backend: SIGTERM, up to 2 s to finish (then SIGKILL), then removes
    /// the files. Returns one line per backend that had exited on its own (a crash:
    /// nothing but [`Backends::kill`] should end one early) or failed while stopping.
    pub fn stop_all(&mut self) -> Vec<String> {
        let mut problems = std::mem::take(&mut self.problems);
        for index in 0..self.instances.len() {
            self.check_alive(index);
        }
        problems.append(&mut self.problems);
        for instance in &mut self.instances {
            if let Some(child) = &mut instance.child
                && !terminate(child.id())
            {
                // No `kill` utility: better a hard stop than none.
                let _ = child.kill();
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        for (index, instance) in self.instances.iter_mut().enumerate() {
            problems.extend(finish_stop(index, instance, deadline));
        }
        // The servers last: a backend stopping still holds their eventfds.
        for instance in &mut self.instances {
            if let Some(server) = &mut instance.server
                && !terminate(server.id())
            {
                let _ = server.kill();
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        for (index, instance) in self.instances.iter_mut().enumerate() {
            problems.extend(finish_server(index, instance, deadline));
        }
        let mut live = live();
        for instance in &self.instances {
            let _ = fs::remove_file(&instance.path);
            live.files.remove(&instance.path);
            if self.doorbells {
                for socket in [
                    socket_path(&instance.path),
                    backend_socket_path(&instance.path),
                ] {
                    let _ = fs::remove_file(&socket);
                    live.files.remove(&socket);
                }
            }
        }
        problems
    }

    /// Returns backend `index`, or an error naming how many there are.
    fn instance(&self, index: usize) -> Result<&Instance> {
        self.instances.get(index).ok_or_else(|| {
            format!(
                "no tensor backend {index}: this run has {} (0 to {})",
                self.instances.len(),
                self.instances.len().saturating_sub(1)
            )
            .into()
        })
    }

    /// Records backend `index` (or its doorbell server) as crashed when its process
    /// has exited on its own.
    fn check_alive(&mut self, index: usize) {
        let instance = &mut self.instances[index];
        if let Some(server) = &mut instance.server {
            let status = match reap(server) {
                Ok(None) => None,
                Ok(Some(status)) => Some(status.to_string()),
                Err(error) => Some(format!("cannot tell ({error})")),
            };
            if let Some(status) = status {
                instance.server = None;
                collect(instance.server_readers.take());
                let problem = format!("tensor-doorbell {index} exited on its own: {status}");
                instance.note(&problem);
                self.problems.push(problem);
            }
        }
        let Some(child) = &mut instance.child else {
            return;
        };
        let status = match reap(child) {
            Ok(None) => return,
            Ok(Some(status)) => status.to_string(),
            Err(error) => format!("cannot tell ({error})"),
        };
        instance.child = None;
        instance.collect_output();
        let problem = format!("tensor-backend {index} exited on its own: {status}");
        instance.note(&problem);
        self.problems.push(problem);
    }

    /// SIGKILLs backend `index` if it runs; returns its exit status then, `None` when
    /// it was not running (a crash found on the way is recorded as a problem).
    fn kill_instance(&mut self, index: usize) -> Result<Option<ExitStatus>> {
        self.check_alive(index);
        let instance = &mut self.instances[index];
        let Some(mut child) = instance.child.take() else {
            return Ok(None);
        };
        // It may have exited since the check; it is gone either way.
        let _ = child.kill();
        let status = wait_reaped(&mut child)?;
        instance.collect_output();
        Ok(Some(status))
    }

    /// Spawns backend `index` on its file and waits until `watch` says it serves.
    fn launch(&mut self, index: usize, mut watch: ReadyWatch) -> Result<()> {
        let instance = &mut self.instances[index];
        let mut command = Command::new(&self.binary);
        command
            .arg("--shm")
            .arg(&instance.path)
            .arg("--size")
            .arg(self.bytes.to_string())
            .arg("--threads")
            .arg(self.threads.to_string());
        if self.doorbells {
            command
                .arg("--doorbell-peer")
                .arg(backend_socket_path(&instance.path));
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = {
            // Registered before the signal thread can see the process unregistered.
            let mut live = live();
            let child = command.spawn().map_err(|error| {
                format!(
                    "cannot start {} (build it with `{}`): {error}",
                    self.binary.display(),
                    cargo::display_command(&build_command(Path::new(".")))
                )
            })?;
            live.pids.insert(child.id());
            child
        };
        let (finished, done) = mpsc::channel();
        let readers = crate::qemu::spawn_readers(&mut child, &instance.log, &finished);
        instance.readers = Some((done, readers));
        instance.child = Some(child);
        self.wait_ready(index, &mut watch)
    }

    /// Spawns the doorbell server of backend `index` and waits until it listens on
    /// both sockets.
    fn launch_server(&mut self, index: usize) -> Result<()> {
        let instance = &mut self.instances[index];
        let binary = self.binary.with_file_name(DOORBELL_BINARY);
        let mut command = Command::new(&binary);
        command
            .arg("--shm")
            .arg(&instance.path)
            .arg("--size")
            .arg(self.bytes.to_string())
            .arg("--socket")
            .arg(socket_path(&instance.path))
            .arg("--backend-socket")
            .arg(backend_socket_path(&instance.path))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = {
            let mut live = live();
            let child = command.spawn().map_err(|error| {
                format!(
                    "cannot start {} (build it with `{}`): {error}",
                    binary.display(),
                    cargo::display_command(&build_command(Path::new(".")))
                )
            })?;
            live.pids.insert(child.id());
            child
        };
        let (finished, done) = mpsc::channel();
        let readers = crate::qemu::spawn_readers(&mut child, &instance.log, &finished);
        instance.server_readers = Some((done, readers));
        instance.server = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.check_alive(index);
            let instance = &self.instances[index];
            let summary = if instance.log_text().contains(DOORBELL_LISTENING) {
                return Ok(());
            } else if instance.server.is_none() {
                format!("tensor-doorbell {index} exited before it listened")
            } else if Instant::now() >= deadline {
                format!(
                    "tensor-doorbell {index} not listening after {} s",
                    READY_TIMEOUT.as_secs()
                )
            } else {
                thread::sleep(READY_POLL);
                continue;
            };
            return Err(NotReady {
                summary,
                output: instance.log_text(),
            }
            .into());
        }
    }

    /// Waits until backend `index` serves, it exits, or [`READY_TIMEOUT`] passes.
    fn wait_ready(&mut self, index: usize, watch: &mut ReadyWatch) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let instance = &self.instances[index];
            let header = HeaderWords::read(&instance.path);
            if header.is_some_and(|header| watch.observe(&header)) {
                return Ok(());
            }
            self.check_alive(index);
            let instance = &self.instances[index];
            let summary = if instance.child.is_none() {
                format!(
                    "tensor-backend {index} ({}) exited before it was ready",
                    instance.path.display()
                )
            } else if Instant::now() >= deadline {
                let header = header.map_or_else(|| "no header".to_owned(), |h| h.to_string());
                format!(
                    "tensor-backend {index} ({}) not ready after {} s ({header})",
                    instance.path.display(),
                    READY_TIMEOUT.as_secs()
                )
            } else {
                thread::sleep(READY_POLL);
                continue;
            };
            return Err(NotReady {
                summary,
                output: instance.log_text(),
            }
            .into());
        }
    }
}

/// Waits until backend `index`, sent SIGTERM, has exited, SIGKILLing it at `deadline`;
/// returns a problem when it exited with a failure. Needing the SIGKILL is only noted:
/// a long job in hand can outlast the grace.
fn finish_stop(index: usize, instance: &mut Instance, deadline: Instant) -> Option<String> {
    let mut child = instance.child.take()?;
    let problem = loop {
        match reap(&mut child) {
            Ok(Some(status)) if status.success() => {
                instance.note(&format!("stopped ({status})"));
                break None;
            }
            Ok(Some(status)) => {
                break Some(format!(
                    "tensor-backend {index} failed while stopping: {status}"
                ));
            }
            Ok(None) if Instant::now() < deadline => thread::sleep(STOP_POLL),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let status = wait_reaped(&mut child)
                    .map_or_else(|error| error.to_string(), |status| status.to_string());
                instance.note(&format!(
                    "still running {} s after SIGTERM: killed (SIGKILL): {status}",
                    STOP_GRACE.as_secs()
                ));
                break None;
            }
        }
    };
    if let Some(problem) = &problem {
        instance.note(problem);
    }
    instance.collect_output();
    problem
}

/// Waits until the doorbell server of backend `index`, sent SIGTERM, has exited, as
/// [`finish_stop`] does for the backend.
fn finish_server(index: usize, instance: &mut Instance, deadline: Instant) -> Option<String> {
    let mut server = instance.server.take()?;
    let problem = loop {
        match reap(&mut server) {
            Ok(Some(status)) if status.success() => break None,
            Ok(Some(status)) => {
                break Some(format!(
                    "tensor-doorbell {index} failed while stopping: {status}"
                ));
            }
            Ok(None) if Instant::now() < deadline => thread::sleep(STOP_POLL),
            Ok(None) | Err(_) => {
                let _ = server.kill();
                let _ = wait_reaped(&mut server);
                break Some(format!(
                    "tensor-doorbell {index} still running {} s after SIGTERM",
                    STOP_GRACE.as_secs()
                ));
            }
        }
    };
    if let Some(problem) = &problem {
        instance.note(problem);
    }
    collect(instance.server_readers.take());
    problem
}

impl Drop for Backends {
    fn drop(&mut self) {
        self.stop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns whether `path` names one of the shared files of this module.
    fn is_shared_file(path: &Path) -> bool {
        path.file_name()
            .and_then(std::ffi::OsStr::to_str)
            .is_some_and(|name| name.starts_with(FILE_PREFIX))
    }

    fn header(magic: u32, version: u32, status: u32, heartbeat: u32) -> HeaderWords {
        HeaderWords {
            magic,
            version,
            status,
            heartbeat,
        }
    }

    #[test]
    fn sizes_follow_the_backends_rules() {
        for text in [
            "16M",
            "16MiB",
            "1g",
            "64KB",
            "65536",
            "4k",
            " 2M ",
            "12M",
            "0",
            "",
            "M",
            "-1M",
            "1.5M",
            "16T",
            "16 M",
            "0x10",
            "99999999999999999999",
            "17179869184G",
            "1G",
            "8589934592G",
        ] {
            assert_eq!(
                parse_size(text).ok(),
                tensor_backend::size::parse_size(text).ok(),
                "{text:?}"
            );
        }
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert!(parse_size("12M").unwrap_err().contains("power of two"));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
    }

    #[test]
    fn sizes_are_described_in_binary_units() {
        assert_eq!(describe_size(64 << 20), "64 MiB");
        assert_eq!(describe_size(2 << 30), "2 GiB");
        assert_eq!(describe_size(4096), "4 KiB");
        assert_eq!(describe_size(100), "100 bytes");
        assert_eq!(describe_size(0), "0 bytes");
    }

    #[test]
    fn file_names_are_unique_per_label_pid_and_index() {
        let path = shm_path(Path::new("/dev/shm"), "tensor_ring-bios", 42, 1);
        assert_eq!(path, Path::new("/dev/shm/aikernel-tensor_ring-bios-42-1"));
        assert!(is_shared_file(&path));
        assert_eq!(
            shm_path(Path::new("/tmp"), "qemu::a b,c/d", 7, 0),
            Path::new("/tmp/aikernel-qemu--a-b-c-d-7-0")
        );
        assert_ne!(
            shm_path(Path::new("/d"), "x", 1, 0),
            shm_path(Path::new("/d"), "x", 1, 1)
        );
    }

    #[test]
    fn qemu_args_attach_each_file_in_order() {
        assert_eq!(
            device_args(1, Path::new("/dev/shm/f"), 16 << 20, None),
            [
                "-object",
                "memory-backend-file,id=tensor1,share=on,mem-path=/dev/shm/f,size=16777216",
                "-device",
                "ivshmem-plain,memdev=tensor1",
            ]
        );
        assert!(
            device_args(0, Path::new("/tmp/a,b"), 4096, None)[1].contains("mem-path=/tmp/a,,b,")
        );
        assert_eq!(
            device_args(
                0,
                Path::new("/dev/shm/f"),
                4096,
                Some(&socket_path(Path::new("/dev/shm/f")))
            ),
            [
                "-chardev",
                "socket,id=tensor0,path=/dev/shm/f.sock",
                "-device",
                "ivshmem-doorbell,chardev=tensor0,vectors=1",
            ]
        );
    }

    #[test]
    fn header_words_are_little_endian_at_the_protocol_offsets() {
        let mut bytes = vec![0u8; HEADER_PREFIX_BYTES];
        bytes[0..4].copy_from_slice(b"TRNG");
        bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
        bytes[0x40..0x44].copy_from_slice(&1u32.to_le_bytes());
        bytes[0x44..0x48].copy_from_slice(&0x0102_0304u32.to_le_bytes());
        let words = HeaderWords::parse(&bytes).unwrap();
        assert_eq!(words, header(0x474E_5254, 1, 1, 0x0102_0304));
        assert!(words.is_ready());
        assert_eq!(HeaderWords::parse(&bytes[..HEADER_PREFIX_BYTES - 1]), None);
        assert!(!header(MAGIC, 2, 1, 0).is_ready());
        assert!(!header(MAGIC, 1, 0, 0).is_ready());
        assert!(!header(MAGIC, 1, 2, 0).is_ready());
        assert!(!header(0, 1, 1, 0).is_ready());
    }

    #[test]
    fn a_fresh_file_is_ready_when_the_header_says_so() {
        let mut watch = ReadyWatch::fresh();
        assert!(!watch.observe(&header(0, 0, 0, 0)));
        assert!(!watch.observe(&header(MAGIC, 1, 0, 0)));
        assert!(watch.observe(&header(MAGIC, 1, 1, 0)));
    }

    #[test]
    fn a_restart_needs_a_moving_heartbeat_not_the_dead_ready() {
        let dead = header(MAGIC, 1, 1, 500);
        let mut watch = ReadyWatch::restart(Some(dead));
        assert!(!watch.observe(&dead));
        assert!(!watch.observe(&dead));
        // The new instance zeroes the header (status 0), then serves.
        assert!(!watch.observe(&header(MAGIC, 1, 0, 0)));
        assert!(watch.observe(&header(MAGIC, 1, 1, 1)));
        // Without the zeroing seen: two beats.
        let mut watch = ReadyWatch::restart(Some(dead));
        assert!(!watch.observe(&header(MAGIC, 1, 1, 1)));
        assert!(watch.observe(&header(MAGIC, 1, 1, 2)));
        // Beats moving but status not ready (yet).
        let mut watch = ReadyWatch::restart(Some(dead));
        assert!(!watch.observe(&header(MAGIC, 1, 0, 1)));
        assert!(!watch.observe(&header(MAGIC, 1, 0, 2)));
        assert!(watch.observe(&header(MAGIC, 1, 1, 3)));
    }

    #[test]
    fn harness_lines_are_parsed_exactly() {
        assert_eq!(
            parse_harness_line("HARNESS tensor-backend kill 0"),
            Some(Ok(HarnessCommand::Kill(0)))
        );
        assert_eq!(
            parse_harness_line("HARNESS tensor-backend restart 12\r"),
            Some(Ok(HarnessCommand::Restart(12)))
        );
        for other in [
            "",
            "hello",
            "HARNESSED tensor-backend kill 0",
            "[agent 3 t] HARNESS tensor-backend kill 0",
            " HARNESS tensor-backend kill 0",
        ] {
            assert_eq!(parse_harness_line(other), None, "{other:?}");
        }
        for bad in [
            "HARNESS",
            "HARNESS ",
            "HARNESS tensor-backend",
            "HARNESS tensor-backend kill",
            "HARNESS tensor-backend kill x",
            "HARNESS tensor-backend kill -1",
            "HARNESS tensor-backend kill +1",
            "HARNESS tensor-backend kill 0 now",
            "HARNESS tensor-backend  kill 0",
            "HARNESS tensor-backend stop 0",
            "HARNESS edu kill 0",
            "HARNESS tensor-backend kill 99999999999999999999999",
        ] {
            let error = parse_harness_line(bad).unwrap().unwrap_err();
            assert!(error.contains("harness line"), "{bad:?}: {error}");
        }
        assert!(
            parse_harness_line("HARNESS reboot")
                .unwrap()
                .unwrap_err()
                .contains(HARNESS_SYNTAX)
        );
    }

    #[test]
    fn default_threads_leave_a_core() {
        let cores = thread::available_parallelism().map_or(1, |cores| cores.get());
        assert_eq!(default_threads(), cores.saturating_sub(1).max(1));
    }

    /// Returns the backend binary if a release build of it exists where
    /// [`binary_path`] says (`cargo metadata` honours `CARGO_TARGET_DIR`).
    fn built_backend() -> Option<PathBuf> {
        let metadata = Metadata::load(&cargo::repository_root()).ok()?;
        Some(binary_path(&metadata)).filter(|path| path.is_file())
    }

    #[test]
    fn real_backends_start_die_restart_and_leave_no_file() {
        let Some(binary) = built_backend() else {
            println!(
                "note: skipped: no release tensor-backend in the target directory (build it with \
                 `cargo build --release -p tensor-backend`)"
            );
            return;
        };
        let mut backends = Backends::start(&binary, 2, 64 << 10, 1, false, "unit-test").unwrap();
        let paths: Vec<PathBuf> = backends.instances.iter().map(|i| i.path.clone()).collect();
        assert_eq!(backends.instances.len(), 2);
        for path in &paths {
            assert!(is_shared_file(path));
            assert_eq!(fs::metadata(path).unwrap().len(), 64 << 10);
            assert!(HeaderWords::read(path).unwrap().is_ready());
        }
        let args = backends.qemu_args();
        assert_eq!(args.len(), 8);
        assert!(args[1].contains("id=tensor0") && args[5].contains("id=tensor1"));

        backends.apply(HarnessCommand::Kill(1)).unwrap();
        let frozen = HeaderWords::read(&paths[1]).unwrap();
        thread::sleep(Duration::from_millis(50));
        assert_eq!(HeaderWords::read(&paths[1]), Some(frozen), "still beating");
        assert!(frozen.is_ready(), "a SIGKILL leaves the header as it was");
        backends.apply(HarnessCommand::Restart(1)).unwrap();
        let beating = HeaderWords::read(&paths[1]).unwrap();
        assert!(beating.is_ready() && beating.heartbeat != frozen.heartbeat);
        assert!(backends.apply(HarnessCommand::Kill(2)).is_err());

        let problems = backends.stop_all();
        assert!(problems.is_empty(), "{problems:?}");
        let output = backends.output();
        assert!(output.contains("tensor-backend: serving"), "{output}");
        assert!(output.contains("restarted: serving"), "{output}");
        assert!(output.contains("tensor-backend: stopped after"), "{output}");
        for path in &paths {
            assert!(!path.exists(), "{} left behind", path.display());
        }
        drop(backends);
        assert!(live().files.iter().all(|file| !paths.contains(file)));
    }

    #[test]
    fn a_real_backend_that_cannot_start_is_reported_with_its_output() {
        let Some(binary) = built_backend() else {
            println!("note: skipped: no release tensor-backend in the target directory");
            return;
        };
        // One page cannot hold the header, the rings and a data page.
        let error = match Backends::start(&binary, 1, 4096, 1, false, "unit-test-small") {
            Ok(_) => panic!("a 4 KiB region was accepted"),
            Err(error) => error,
        };
        let not_ready = error.downcast_ref::<NotReady>().unwrap();
        assert!(
            not_ready.summary.contains("exited before it was ready"),
            "{}",
            not_ready.summary
        );
        assert!(
            not_ready.output.contains("tensor-backend: cannot lay out"),
            "{}",
            not_ready.output
        );
        let path = shm_path(&shm_directory(), "unit-test-small", process::id(), 0);
        assert!(!path.exists(), "{} left behind", path.display());
    }
}
