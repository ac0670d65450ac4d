//! The interactive shell: one agent reading the serial port and the PS/2 keyboard.
//!
//! Both inputs feed one [`LineEditor`] (line editing, history; it lives in
//! `kernel-core`, tested on the host). Output goes to the console (serial,
//! and the screen console while it has the screen) and to the
//! [`transcript`] the dashboard's shell pane shows. Every
//! command answers with at least one line and the prompt comes back after
//! it; unknown commands and bad arguments get a one-line `error:`.

pub mod keyboard;
pub mod transcript;

use alloc::{format, string::String, vec::Vec};

use kernel_core::line_editor::{Key, LineEditor, SerialDecoder};

use crate::{devices::pci, memory, task};

/// The prompt printed before every command.
pub const PROMPT: &str = "kernel> ";
/// Microseconds the shell sleeps when no key is waiting.
const POLL_PERIOD_US: u64 = 10_000;
/// Microseconds between two frames of `top`.
const TOP_PERIOD_US: u64 = 1_000_000;

pub use transcript::{generation as transcript_generation, tail as transcript_tail};

/// Prints `text` as shell output (console and transcript).
fn say(text: &str) {
    crate::println!("{text}");
    transcript::push(text);
}

/// Where keys come from.
struct Inputs {
    serial: SerialDecoder,
    keyboard: keyboard::KeyboardDecoder,
}

impl Inputs {
    fn next_key(&mut self) -> Option<Key> {
        while let Some(byte) = crate::console::serial_try_read() {
            if let Some(key) = self.serial.feed(byte) {
                return Some(key);
            }
        }
        self.keyboard.next_key()
    }
}

/// Redraws the input line on the serial terminal and in the transcript.
fn show_input(editor: &LineEditor) {
    let line = editor.line();
    let behind = line.chars().count() - editor.cursor();
    crate::console::print_serial(format_args!("\r\x1b[K{PROMPT}{line}"));
    if behind > 0 {
        crate::console::print_serial(format_args!("\x1b[{behind}D"));
    }
    transcript::set_input(PROMPT, &line, editor.cursor());
}

/// The shell agent's body: reads keys and runs commands, forever.
pub fn run() -> ! {
    let keyboard_ready = keyboard::init();
    let mut inputs = Inputs {
        serial: SerialDecoder::default(),
        keyboard: keyboard::KeyboardDecoder::default(),
    };
    let mut editor = LineEditor::new();
    say(&format!(
        "shell ready on serial{}; type `help`",
        if keyboard_ready {
            " and the PS/2 keyboard"
        } else {
            ""
        }
    ));
    show_input(&editor);
    loop {
        let Some(key) = inputs.next_key() else {
            task::sleep_us(POLL_PERIOD_US);
            continue;
        };
        match editor.apply(key) {
            Some(line) => {
                // The serial driver turns the newline into CR-LF.
                crate::console::print_serial(format_args!("\n"));
                transcript::push(&format!("{PROMPT}{line}"));
                execute(line.trim(), &mut inputs);
                show_input(&editor);
            }
            None => show_input(&editor),
        }
    }
}

/// The commands, with their one-line help.
const COMMANDS: [(&str, &str); 14] = [
    ("help", "list the commands"),
    ("agents", "the agents' status table"),
    (
        "objectives",
        "learning objectives: status, progress, requests in target, loss, accuracy",
    ),
    (
        "top",
        "the status table, refreshed every second; any key stops it",
    ),
    (
        "sched [POLICY]",
        "show the policy, or switch to fifo|round-robin|mlfq|fair|q-learning",
    ),
    ("syscalls", "the adaptive syscall table"),
    ("accel", "the accelerators: edu devices and tensor devices"),
    ("lspci", "the PCI functions"),
    ("mem", "heap, physical frames and agents' memory budgets"),
    (
        "log LEVEL",
        "most verbose log level: off|error|warn|info|debug|trace",
    ),
    (
        "spawn NAME",
        "start a demo agent (inference|training|periodic) or a ramdisk program",
    ),
    ("kill [-t] ID", "end agent ID (-t: and all its descendants)"),
    ("shutdown", "stop the machine"),
    (
        "latency [reset]",
        "interrupts-off stretches: p50/p99/max and the longest's site",
    ),
];

/// Runs one command line.
fn execute(line: &str, inputs: &mut Inputs) {
    let mut words = line.split_whitespace();
    let Some(command) = words.next() else {
        return;
    };
    let arguments: Vec<&str> = words.collect();
    let result = match command {
        "help" => no_arguments(&arguments).map(|()| help()),
        "agents" => no_arguments(&arguments).map(|()| agents()),
        "objectives" => no_arguments(&arguments).map(|()| objectives()),
        "top" => no_arguments(&arguments).map(|()| top(inputs)),
        "sched" => sched(&arguments),
        "syscalls" => no_arguments(&arguments).map(|()| {
            for line in crate::syscall::table_lines() {
                say(&line);
            }
        }),
        "lspci" => no_arguments(&arguments).map(|()| lspci()),
        "accel" => no_arguments(&arguments).map(|()| accel()),
        "mem" => no_arguments(&arguments).map(|()| mem()),
        "log" => log_level(&arguments),
        "spawn" => spawn(&arguments),
        "kill" => kill(&arguments),
        "shutdown" => no_arguments(&arguments).map(|()| shutdown()),
        "latency" => latency(&arguments),
        other => Err(format!("unknown command `{other}`; try `help`")),
    };
    if let Err(message) = result {
        say(&format!("error: {message}"));
    }
}

fn no_arguments(arguments: &[&str]) -> Result<(), String> {
    match arguments.first() {
        None => Ok(()),
        Some(extra) => Err(format!("unexpected argument `{extra}`")),
    }
}

fn one_argument<'a>(arguments: &[&'a str], what: &str) -> Result<&'a str, String> {
    match arguments {
        [argument] => Ok(argument),
        [] => Err(format!("missing {what}")),
        [_, extra, ..] => Err(format!("unexpected argument `{extra}`")),
    }
}

fn help() {
    for (usage, text) in COMMANDS {
        say(&format!("  {usage:<16} {text}"));
    }
}

fn agents() {
    for line in task::status::lines() {
        say(&line);
    }
}

fn objectives() {
    for line in task::status::objective_lines() {
        say(&line);
    }
}

fn top(inputs: &mut Inputs) {
    loop {
        crate::console::print_serial(format_args!("\x1b[2J\x1b[H"));
        say("top: refreshing every second, any key stops");
        agents();
        let mut waited = 0;
        while waited < TOP_PERIOD_US {
            if inputs.next_key().is_some() {
                say("top: stopped");
                return;
            }
            task::sleep_us(POLL_PERIOD_US);
            waited += POLL_PERIOD_US;
        }
    }
}

fn sched(arguments: &[&str]) -> Result<(), String> {
    match arguments {
        [] => {
            let stats = task::policy_stats().ok_or("task manager not started")?;
            say(&format!(
                "policy {} | decisions {} | fallbacks {}",
                stats.policy, stats.decisions, stats.fallbacks
            ));
            Ok(())
        }
        [name] => {
            let policy = task::policy_by_name(name).ok_or_else(|| {
                format!("unknown policy `{name}`; fifo, round-robin, mlfq, fair or q-learning")
            })?;
            task::replace_policy(policy);
            say(&format!("policy switched to {name}"));
            Ok(())
        }
        [_, extra, ..] => Err(format!("unexpected argument `{extra}`")),
    }
}

fn accel() {
    let edu = crate::accel::devices();
    for device in &edu {
        say(&format!(
            "edu#{} {} {:?} jobs {} timeouts {} irqs {}",
            device.index,
            device.address,
            device.state,
            device.jobs,
            device.timeouts,
            device.interrupts
        ));
    }
    let tensor = crate::accel::tensor::status_lines();
    for line in &tensor {
        say(line);
    }
    if edu.is_empty() && tensor.is_empty() {
        say("no accelerator");
    }
}

fn lspci() {
    let mut any = false;
    for line in pci::lspci_lines() {
        say(&format!("{line}"));
        any = true;
    }
    if !any {
        say("no PCI functions");
    }
}

fn mem() {
    let heap = memory::heap::stats();
    let frames = memory::frame::stats();
    say(&format!(
        "heap   {} KiB used of {} KiB, {} failed allocations",
        heap.used / 1024,
        heap.size / 1024,
        heap.failed_allocations
    ));
    say(&format!(
        "frames {} allocated, {} free, {} MiB usable in {} regions",
        frames.allocated_frames,
        frames.free_frames,
        frames.usable_bytes / (1024 * 1024),
        frames.regions
    ));
    let usable = frames.free_frames + frames.allocated_frames;
    say(&format!(
        "reserve {} frames kept from user memory; {} dead agents waiting to be freed",
        kernel_core::frame_reserve::reserve_frames(usable),
        task::dead_waiting()
    ));
    let budgets = crate::user::budget::stats();
    say(&format!(
        "budget {} KiB per agent tree; {} accounts hold {} KiB, {} charges refused",
        crate::user::budget::AGENT_BUDGET_BYTES / 1024,
        budgets.accounts,
        budgets.charged / 1024,
        budgets.refusals
    ));
}

fn log_level(arguments: &[&str]) -> Result<(), String> {
    let name = one_argument(arguments, "level (off|error|warn|info|debug|trace)")?;
    let level: log::LevelFilter = name
        .parse()
        .map_err(|_| format!("unknown level `{name}`; off, error, warn, info, debug or trace"))?;
    log::set_max_level(level);
    say(&format!("log level {level}"));
    Ok(())
}

fn spawn(arguments: &[&str]) -> Result<(), String> {
    let name = one_argument(arguments, "agent name")?;
    if let Some(result) = crate::demo::spawn_kind(name) {
        result.map_err(|error| format!("cannot spawn {name}: {error:?}"))?;
        say(&format!("spawned demo agent {name}"));
        return Ok(());
    }
    if crate::user::program_image(name).is_some() {
        let pid = crate::user::spawn(name, agent_abi::CapabilitySet::ALL, task::current_pid())
            .map_err(|error| format!("cannot spawn {name}: {error:?}"))?;
        say(&format!("spawned program {name} as agent {pid}"));
        return Ok(());
    }
    let programs = crate::user::program_names().join(", ");
    Err(format!(
        "no agent `{name}`; demo agents: {}; programs: {}",
        crate::demo::KINDS.join(", "),
        if programs.is_empty() {
            "none"
        } else {
            &programs
        }
    ))
}

fn kill(arguments: &[&str]) -> Result<(), String> {
    let (tree, arguments) = match arguments {
        ["-t", rest @ ..] => (true, rest),
        _ => (false, arguments),
    };
    let text = one_argument(arguments, "agent id")?;
    let pid: u64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not an agent id"))?;
    if pid == task::current_pid() {
        return Err(String::from("the shell does not kill itself"));
    }
    if tree {
        let ended =
            task::kill_tree(pid).map_err(|error| format!("cannot kill {pid}: {error:?}"))?;
        say(&format!("killed agent {pid} and its tree ({ended} agents)"));
        return Ok(());
    }
    task::kill(pid).map_err(|error| format!("cannot kill {pid}: {error:?}"))?;
    say(&format!("killed agent {pid}"));
    Ok(())
}

fn shutdown() {
    say("shutting down");
    drivers::qemu_exit::exit_qemu(drivers::qemu_exit::QemuExitCode::Success);
    // Not under QEMU (or no exit device): stop here.
    crate::arch::cpu::halt_forever()
}

/// Returns the interrupts-off measurements as one line (µs).
pub fn latency_summary() -> String {
    let stats = crate::arch::interrupts_off::interrupts_off_stats();
    let us = crate::time::cycles_to_us;
    let site = match stats.longest_site {
        Some((file, line)) => format!("{file}:{line}"),
        None => String::from("none"),
    };
    format!(
        "interrupts off: {} stretches, p50 {} us, p99 {} us, max {} us at {site}",
        stats.cycles.count(),
        us(stats.cycles.percentile(50)),
        us(stats.cycles.percentile(99)),
        us(stats.longest_cycles),
    )
}

fn latency(arguments: &[&str]) -> Result<(), String> {
    match arguments {
        [] => {
            say(&latency_summary());
            Ok(())
        }
        ["reset"] => {
            crate::arch::interrupts_off::reset_interrupts_off_stats();
            say("interrupts-off statistics reset");
            Ok(())
        }
        [other, ..] => Err(format!(
            "unexpected argument `{other}`; try `latency reset`"
        )),
    }
}
