//! QEMU command lines, the exit protocol, and supervised runs with a timeout.
//!
//! The QEMU exit protocol is defined once, in `kernel_core::qemu_exit`, for the kernel and
//! for this runner: the kernel writes a `QemuExitCode` to the `isa-debug-exit` device at
//! [`DEBUG_EXIT_PORT`], and QEMU exits with `(code << 1) | 1`: [`EXIT_STATUS_SUCCESS`]
//! (33) or [`EXIT_STATUS_FAILURE`] (35). `run` maps those to 0 and 1; `test` compares
//! them with each test's expectation.

use std::{
    ffi::OsString,
    fs,
    io::{self, Read},
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use boot::Firmware;
use kernel_core::qemu_exit::{DEBUG_EXIT_PORT, DEBUG_EXIT_PORT_SIZE};
pub use kernel_core::qemu_exit::{EXIT_STATUS_FAILURE, EXIT_STATUS_SUCCESS};

/// The QEMU binary for x86_64 guests.
pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// The port used by `--gdb` (QEMU's `-s` shorthand listens here).
pub const GDB_PORT: u16 = 1234;

/// Guest memory of every test kernel.
pub const TEST_MEMORY: &str = "256M";

/// How often a supervised run checks whether QEMU has exited.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How long output is still collected after QEMU has exited.
const READER_GRACE: Duration = Duration::from_secs(2);

/// Returns the `-device` value of the exit device.
fn debug_exit_device() -> String {
    format!("isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize={DEBUG_EXIT_PORT_SIZE:#04x}")
}

/// A QEMU accelerator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    /// Tiny Code Generator: pure emulation, works everywhere; what tests use.
    Tcg,
    /// Linux KVM: hardware virtualisation through /dev/kvm.
    Kvm,
}

impl Accel {
    /// Returns the name QEMU's `-accel` option takes.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }
}

/// UEFI firmware for QEMU (OVMF), as packaged by Debian/Ubuntu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ovmf {
    /// One file with code and variables (`OVMF.fd`), loaded with `-bios`.
    Combined(PathBuf),
    /// Separate code and variable-store templates, loaded as two pflash drives. Each run
    /// gets its own writable copy of the variables.
    Split {
        /// `OVMF_CODE.fd` (read-only).
        code: PathBuf,
        /// `OVMF_VARS.fd` (template, copied before each run).
        vars: PathBuf,
    },
}

impl Ovmf {
    /// Returns the QEMU arguments loading this firmware. `scratch` is a per-run file
    /// path that may receive a copy of the variable store.
    fn args(&self, scratch: &Path) -> io::Result<Vec<OsString>> {
        match self {
            Ovmf::Combined(path) => Ok(vec!["-bios".into(), path.into()]),
            Ovmf::Split { code, vars } => {
                fs::copy(vars, scratch)?;
                let mut code_drive = OsString::from("if=pflash,format=raw,readonly=on,file=");
                code_drive.push(code);
                let mut vars_drive = OsString::from("if=pflash,format=raw,file=");
                vars_drive.push(scratch);
                Ok(vec![
                    "-drive".into(),
                    code_drive,
                    "-drive".into(),
                    vars_drive,
                ])
            }
        }
    }
}

/// Where the guest's screen goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// No window (the serial log on stdio is the only output).
    None,
    /// QEMU's default window, showing the framebuffer console.
    Window,
}

impl Display {
    /// Returns [`Display::Window`] when a graphical session is available.
    pub fn from_environment() -> Self {
        let has = |name| std::env::var_os(name).is_some_and(|value| !value.is_empty());
        if has("DISPLAY") || has("WAYLAND_DISPLAY") {
            Display::Window
        } else {
            Display::None
        }
    }
}

/// Everything needed to start QEMU on one disk image.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// The `qemu-system-x86_64` binary.
    pub qemu: PathBuf,
    /// The raw disk image to boot.
    pub image: PathBuf,
    /// The firmware the image was made for.
    pub firmware: Firmware,
    /// OVMF; required when `firmware` is UEFI.
    pub ovmf: Option<Ovmf>,
    /// Guest memory, in QEMU's `-m` syntax.
    pub memory: String,
    /// The accelerator.
    pub accel: Accel,
    /// Window or no window.
    pub display: Display,
    /// Start halted with a gdb server on [`GDB_PORT`].
    pub gdb: bool,
    /// Extra arguments appended unchanged.
    pub extra_args: Vec<String>,
}

impl QemuConfig {
    /// Returns the configuration every test kernel runs with (TCG, no window, 256 MiB).
    pub fn for_test(qemu: PathBuf, image: PathBuf, firmware: Firmware, ovmf: Option<Ovmf>) -> Self {
        Self {
            qemu,
            image,
            firmware,
            ovmf,
            memory: TEST_MEMORY.to_owned(),
            accel: Accel::Tcg,
            display: Display::None,
            gdb: false,
            extra_args: Vec::new(),
        }
    }

    /// Returns the full argument list. For split OVMF, `vars_scratch` receives the
    /// per-run copy of the variable store.
    pub fn args(&self, vars_scratch: &Path) -> io::Result<Vec<OsString>> {
        let mut args: Vec<OsString> = Vec::new();
        if self.firmware == Firmware::Uefi {
            let ovmf = self
                .ovmf
                .as_ref()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "UEFI boot needs OVMF"))?;
            args.extend(ovmf.args(vars_scratch)?);
        }
        let mut drive = OsString::from("format=raw,file=");
        drive.push(&self.image);
        args.extend(["-drive".into(), drive]);
        for arg in [
            "-device",
            &debug_exit_device(),
            "-serial",
            "stdio",
            "-no-reboot",
            "-m",
            &self.memory,
            "-accel",
            self.accel.name(),
        ] {
            args.push(arg.into());
        }
        if self.display == Display::None {
            args.extend(["-display".into(), "none".into()]);
        }
        if self.gdb {
            args.extend(["-s".into(), "-S".into()]);
        }
        args.extend(self.extra_args.iter().map(OsString::from));
        Ok(args)
    }

    /// Returns the QEMU command (stdio not yet configured).
    pub fn command(&self, vars_scratch: &Path) -> io::Result<Command> {
        let mut command = Command::new(&self.qemu);
        command.args(self.args(vars_scratch)?);
        Ok(command)
    }
}

/// How a supervised QEMU run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// QEMU exited with this status.
    Exited(i32),
    /// QEMU was killed by this signal (not by us).
    Signalled(i32),
    /// QEMU ran past its timeout and was killed.
    TimedOut(Duration),
}

impl Outcome {
    /// Returns the outcome described by an exit status.
    pub fn from_status(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Outcome::Exited(code),
            (None, Some(signal)) => Outcome::Signalled(signal),
            // Neither code nor signal does not happen on Unix; treat it as a crash.
            (None, None) => Outcome::Signalled(0),
        }
    }

    /// Returns a short description: `exit 35`, `killed by signal 9`, `timed out after 120 s`.
    pub fn describe(self) -> String {
        match self {
            Outcome::Exited(code) => format!("exit {code}"),
            Outcome::Signalled(signal) => format!("killed by signal {signal}"),
            Outcome::TimedOut(limit) => format!("timed out after {} s", limit.as_secs()),
        }
    }
}

/// The result of [`run_with_timeout`].
#[derive(Clone, Debug)]
pub struct Captured {
    /// How QEMU ended.
    pub outcome: Outcome,
    /// Everything QEMU wrote to stdout (the guest's serial port) and stderr, interleaved.
    pub output: String,
    /// Wall-clock time from start to exit.
    pub elapsed: Duration,
}

/// Runs `command` with stdout and stderr captured; kills it after `timeout`.
pub fn run_with_timeout(command: Command, timeout: Duration) -> io::Result<Captured> {
    run_with_timeout_observed(command, timeout, |_| {})
}

/// Runs `command` like [`run_with_timeout`], handing each complete line of its stdout
/// (without the `\n` or `\r\n`) to `on_line` as it arrives.
///
/// `on_line` runs on the calling thread, between checks of the child's exit and of the
/// timeout, so it may act on the caller's state without locks; while it runs (a backend
/// restart takes up to seconds) the timeout is not checked. Lines the child wrote before
/// it exited are handed over after its exit too, and a last line without a newline when
/// its stdout closes. The capture in [`Captured::output`] is unchanged: both streams,
/// interleaved as they arrived.
pub fn run_with_timeout_observed(
    mut command: Command,
    timeout: Duration,
    mut on_line: impl FnMut(&str),
) -> io::Result<Captured> {
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let output = Arc::new(Mutex::new(Vec::new()));
    let (finished, done) = mpsc::channel();
    let (line_sender, lines) = mpsc::channel();
    let readers = spawn_readers_observed(&mut child, &output, &finished, Some(line_sender));
    let outcome = loop {
        // Waiting for a line doubles as the poll interval.
        match lines.recv_timeout(POLL_INTERVAL) {
            Ok(line) => on_line(&line),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Stdout is closed (the child may live on): do not spin.
            Err(mpsc::RecvTimeoutError::Disconnected) => thread::sleep(POLL_INTERVAL),
        }
        if let Some(status) = child.try_wait()? {
            break Outcome::from_status(status);
        }
        if start.elapsed() >= timeout {
            // The child may exit between `try_wait` and `kill`; either way it is gone.
            let _ = child.kill();
            child.wait()?;
            break Outcome::TimedOut(timeout);
        }
    };
    let elapsed = start.elapsed();
    // A grandchild that inherited the pipes could keep them open forever; do not wait
    // for it beyond a grace period (the reader threads then finish on their own).
    let deadline = Instant::now() + READER_GRACE;
    for _ in 0..readers {
        let left = deadline.saturating_duration_since(Instant::now());
        if done.recv_timeout(left).is_err() {
            break;
        }
    }
    for line in lines.try_iter() {
        on_line(&line);
    }
    let bytes = output.lock().map(|bytes| bytes.clone()).unwrap_or_default();
    Ok(Captured {
        outcome,
        output: String::from_utf8_lossy(&bytes).into_owned(),
        elapsed,
    })
}

/// Starts one thread per captured pipe, appending to `output` as data arrives.
/// Returns how many threads were started; each sends on `finished` when its pipe closes.
pub(crate) fn spawn_readers(
    child: &mut Child,
    output: &Arc<Mutex<Vec<u8>>>,
    finished: &mpsc::Sender<()>,
) -> usize {
    spawn_readers_observed(child, output, finished, None)
}

/// A captured pipe and, for stdout when observed, where its lines go.
type ObservedPipe = (Box<dyn Read + Send>, Option<mpsc::Sender<String>>);

/// Does what [`spawn_readers`] does, and when `stdout_lines` is given also sends each
/// complete stdout line on it (see [`split_lines`]), the last one when the pipe closes.
fn spawn_readers_observed(
    child: &mut Child,
    output: &Arc<Mutex<Vec<u8>>>,
    finished: &mpsc::Sender<()>,
    stdout_lines: Option<mpsc::Sender<String>>,
) -> usize {
    let pipes: Vec<ObservedPipe> = [
        child
            .stdout
            .take()
            .map(|pipe| (Box::new(pipe) as Box<dyn Read + Send>, stdout_lines)),
        child
            .stderr
            .take()
            .map(|pipe| (Box::new(pipe) as Box<dyn Read + Send>, None)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let count = pipes.len();
    for (mut pipe, lines) in pipes {
        let output = Arc::clone(output);
        let finished = finished.clone();
        thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            let mut pending = Vec::new();
            while let Ok(read) = pipe.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                if let Ok(mut output) = output.lock() {
                    output.extend_from_slice(&buffer[..read]);
                }
                if let Some(lines) = &lines {
                    for line in split_lines(&mut pending, &buffer[..read]) {
                        // The receiver is gone once the run is over; nothing to tell.
                        let _ = lines.send(line);
                    }
                }
            }
            if let Some(lines) = &lines
                && !pending.is_empty()
            {
                let _ = lines.send(line_text(&pending));
            }
            let _ = finished.send(());
        });
    }
    count
}

/// Appends `chunk` to `pending` and returns the lines it completed (without `\n` or
/// `\r\n`), leaving the start of an unfinished line in `pending`.
fn split_lines(pending: &mut Vec<u8>, chunk: &[u8]) -> Vec<String> {
    pending.extend_from_slice(chunk);
    let Some(last_newline) = pending.iter().rposition(|&byte| byte == b'\n') else {
        return Vec::new();
    };
    let rest = pending.split_off(last_newline + 1);
    let complete = std::mem::replace(pending, rest);
    complete[..last_newline]
        .split(|&byte| byte == b'\n')
        .map(line_text)
        .collect()
}

/// Returns one line's bytes as text (invalid UTF-8 replaced), without a trailing `\r`.
fn line_text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

/// Returns the last `count` lines of `text`.
pub fn tail(text: &str, count: usize) -> &str {
    let trimmed = text.trim_end_matches('\n');
    match trimmed.rmatch_indices('\n').nth(count.saturating_sub(1)) {
        Some((index, _)) if count > 0 => &trimmed[index + 1..],
        Some(_) => "",
        None => trimmed,
    }
}

/// Returns the exit code `cargo xtask run` reports for QEMU's exit status.
///
/// Success (33) and a normal QEMU exit (window closed: 0) map to 0, failure (35) to 1,
/// other codes pass through, and death by signal N to 128 + N like a shell.
pub fn run_exit_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Exited(0 | EXIT_STATUS_SUCCESS) => 0,
        Outcome::Exited(EXIT_STATUS_FAILURE) => 1,
        Outcome::Exited(code) => u8::try_from(code).unwrap_or(1).max(1),
        Outcome::Signalled(signal) => u8::try_from(128 + signal).unwrap_or(1),
        Outcome::TimedOut(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect()
    }

    fn window(args: &[String], flag: &str) -> Option<String> {
        args.windows(2)
            .find(|pair| pair[0] == flag)
            .map(|pair| pair[1].clone())
    }

    #[test]
    fn exit_statuses_follow_the_protocol() {
        assert_eq!(EXIT_STATUS_SUCCESS, 33);
        assert_eq!(EXIT_STATUS_FAILURE, 35);
        assert_eq!(
            debug_exit_device(),
            "isa-debug-exit,iobase=0xf4,iosize=0x04"
        );
    }

    #[test]
    fn bios_test_command_line() {
        let config = QemuConfig::for_test(
            "qemu".into(),
            "/t/heap-bios.img".into(),
            Firmware::Bios,
            None,
        );
        let args = strings(&config.args(Path::new("/unused")).unwrap());
        assert_eq!(
            window(&args, "-drive").unwrap(),
            "format=raw,file=/t/heap-bios.img"
        );
        assert_eq!(window(&args, "-serial").unwrap(), "stdio");
        assert_eq!(window(&args, "-display").unwrap(), "none");
        assert_eq!(window(&args, "-m").unwrap(), "256M");
        assert_eq!(window(&args, "-accel").unwrap(), "tcg");
        assert!(args.contains(&"-no-reboot".to_owned()));
        assert!(!args.contains(&"-bios".to_owned()));
        assert!(!args.contains(&"-S".to_owned()));
    }

    #[test]
    fn uefi_needs_ovmf() {
        let config = QemuConfig::for_test("qemu".into(), "u.img".into(), Firmware::Uefi, None);
        assert!(config.args(Path::new("/unused")).is_err());

        let ovmf = Ovmf::Combined("/usr/share/ovmf/OVMF.fd".into());
        let config =
            QemuConfig::for_test("qemu".into(), "u.img".into(), Firmware::Uefi, Some(ovmf));
        let args = strings(&config.args(Path::new("/unused")).unwrap());
        assert_eq!(window(&args, "-bios").unwrap(), "/usr/share/ovmf/OVMF.fd");
    }

    #[test]
    fn split_ovmf_gets_a_private_vars_copy() {
        let dir = std::env::temp_dir().join(format!("xtask-ovmf-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let vars = dir.join("VARS.fd");
        fs::write(&vars, b"vars").unwrap();
        let ovmf = Ovmf::Split {
            code: dir.join("CODE.fd"),
            vars,
        };
        let scratch = dir.join("copy.fd");
        let mut config =
            QemuConfig::for_test("q".into(), "u.img".into(), Firmware::Uefi, Some(ovmf));
        config.gdb = true;
        config.extra_args = vec!["-device".into(), "edu".into()];
        let args = strings(&config.args(&scratch).unwrap());
        assert_eq!(fs::read(&scratch).unwrap(), b"vars");
        assert!(args[1].ends_with("CODE.fd") && args[1].contains("readonly=on"));
        assert!(args[3].ends_with("copy.fd"));
        assert!(args.ends_with(&["-s".into(), "-S".into(), "-device".into(), "edu".into()]));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn run_exit_codes() {
        assert_eq!(run_exit_code(Outcome::Exited(33)), 0);
        assert_eq!(run_exit_code(Outcome::Exited(0)), 0);
        assert_eq!(run_exit_code(Outcome::Exited(35)), 1);
        assert_eq!(run_exit_code(Outcome::Exited(3)), 3);
        assert_eq!(run_exit_code(Outcome::Exited(-1)), 1);
        assert_eq!(run_exit_code(Outcome::Signalled(2)), 130);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a\nb\nc", 5), "a\nb\nc");
        assert_eq!(tail("a\nb", 0), "");
        assert_eq!(tail("", 3), "");
    }

    #[test]
    fn timeout_kills_and_reports() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo started; sleep 30"]);
        let start = Instant::now();
        let captured = run_with_timeout(command, Duration::from_millis(300)).unwrap();
        assert_eq!(
            captured.outcome,
            Outcome::TimedOut(Duration::from_millis(300))
        );
        assert_eq!(captured.output, "started\n");
        // The orphaned `sleep` keeps the pipe open; the run must not wait for it.
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn lines_are_split_across_chunks() {
        let mut pending = Vec::new();
        assert!(split_lines(&mut pending, b"HARN").is_empty());
        assert_eq!(
            split_lines(&mut pending, b"ESS a\r\nb\n\nc"),
            ["HARNESS a", "b", ""]
        );
        assert_eq!(pending, b"c");
        assert_eq!(split_lines(&mut pending, b"\xff\n"), ["c\u{fffd}"]);
        assert!(pending.is_empty());
    }

    #[test]
    fn the_observer_sees_stdout_lines_and_the_capture_stays_whole() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo a; echo err >&2; printf 'HARNESS tensor-backend kill 0\\r\\n'; printf last",
        ]);
        let mut seen = Vec::new();
        let captured = run_with_timeout_observed(command, Duration::from_secs(30), |line| {
            seen.push(line.to_owned());
        })
        .unwrap();
        assert_eq!(captured.outcome, Outcome::Exited(0));
        assert_eq!(seen, ["a", "HARNESS tensor-backend kill 0", "last"]);
        // The two streams interleave as their readers run: check each piece.
        for piece in ["a\n", "err\n", "HARNESS tensor-backend kill 0\r\n", "last"] {
            assert!(captured.output.contains(piece), "{}", captured.output);
        }
    }

    #[test]
    fn the_observer_runs_while_the_child_is_still_running() {
        // The child waits for a file the observer creates: if lines reached the
        // observer only after the exit, the run would time out.
        let flag = std::env::temp_dir().join(format!("xtask-observer-{}", std::process::id()));
        let _ = fs::remove_file(&flag);
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo go; while [ ! -e \"$0\" ]; do sleep 0.05; done; echo done",
            &flag.to_string_lossy(),
        ]);
        let captured = run_with_timeout_observed(command, Duration::from_secs(20), |line| {
            if line == "go" {
                let _ = fs::write(&flag, b"");
            }
        })
        .unwrap();
        let _ = fs::remove_file(&flag);
        assert_eq!(captured.outcome, Outcome::Exited(0));
        assert!(
            captured.output.ends_with("go\ndone\n"),
            "{}",
            captured.output
        );
    }

    #[test]
    fn exit_status_and_both_streams_are_captured() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 35"]);
        let captured = run_with_timeout(command, Duration::from_secs(30)).unwrap();
        assert_eq!(captured.outcome, Outcome::Exited(35));
        assert!(captured.output.contains("out\n") && captured.output.contains("err\n"));
    }
}
