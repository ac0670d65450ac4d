//! The scripted shell session of `cargo xtask test`: commands over serial, answers checked.
//!
//! Every command must answer before the prompt comes back; `sched` must switch the
//! policy so that the next status table's header names it; garbage and bad arguments
//! must get an `error:` line with the shell still answering afterwards; `spawn` and
//! `kill` must add and remove an agent; `shutdown` must end QEMU with the success code.

use std::{path::Path, time::Duration};

use boot::Firmware;

use crate::{
    Result,
    guest::{Guest, Screen},
    qemu::{EXIT_STATUS_SUCCESS, Outcome},
};

/// How long the whole session may take, boot included.
pub const SHELL_TIMEOUT: Duration = Duration::from_secs(150);
/// The kernel shell's prompt.
const PROMPT: &str = "kernel> ";
/// The policy the session switches to (one the watchdog does not replace under the
/// demo workload, so the status line keeps showing it).
const SWITCHED_POLICY: &str = "fair";

/// What the shell prints before the prompt when it redraws the input line.
const REDRAW: &str = "\r\x1b[K";

/// Runs `line` and returns its answer (everything up to the next prompt).
fn run(guest: &mut Guest, line: &str) -> Result<String> {
    guest.send(&format!("{line}\r"))?;
    // The redraw showing the whole line (a log line may follow before Enter's
    // newline, so the newline is not part of the pattern).
    guest.wait_for(&format!("{PROMPT}{line}"))?;
    // Nothing is typed until the answer is complete, so the next redraw is the
    // prompt that follows the answer (log lines in between are part of the answer).
    guest.wait_for(&format!("{REDRAW}{PROMPT}"))
}

/// Runs `line` and checks that the answer contains `expected`.
fn expect(guest: &mut Guest, line: &str, expected: &str) -> Result<String> {
    let answer = run(guest, line)?;
    if answer.contains(expected) {
        Ok(answer)
    } else {
        Err(format!("`{line}` answered {answer:?}, expected it to contain {expected:?}").into())
    }
}

/// Returns the agent id in the status-table row naming `agent`.
fn agent_id(table: &str, agent: &str) -> Option<u64> {
    table
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(agent))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|id| id.parse().ok())
}

/// Boots `image` and runs the scripted session.
pub fn session(image: &Path, firmware: Firmware) -> Result<()> {
    let mut guest = Guest::start(image, firmware, Screen::FramebufferOnly, SHELL_TIMEOUT)?;
    let result = script(&mut guest);
    result.map_err(|error| format!("{error}\n{}", crate::qemu::tail(&guest.output(), 40)).into())
}

fn script(guest: &mut Guest) -> Result<()> {
    guest.wait_for("shell ready")?;
    guest.wait_for(PROMPT)?;
    expect(guest, "help", "shutdown")?;
    expect(guest, "agents", "digits_infer")?;
    expect(guest, "sched", "policy ")?;
    expect(
        guest,
        &format!("sched {SWITCHED_POLICY}"),
        "policy switched to",
    )?;
    expect(guest, "agents", &format!("policy {SWITCHED_POLICY} "))?;
    expect(guest, "syscalls", "syscall")?;
    expect(guest, "lspci", "Host bridge")?;
    expect(guest, "accel", "no accelerator")?;
    expect(guest, "mem", "heap")?;
    expect(guest, "log warn", "log level WARN")?;
    expect(guest, "spawn training", "spawned demo agent")?;
    let table = expect(guest, "agents", "training-x0")?;
    let id = agent_id(&table, "training-x0").ok_or("no id for training-x0")?;
    expect(guest, &format!("kill {id}"), &format!("killed agent {id}"))?;
    let table = run(guest, "agents")?;
    if table.contains("training-x0") {
        return Err(format!("training-x0 still listed after kill: {table:?}").into());
    }
    guest.send("top\r")?;
    guest.wait_for("top: refreshing")?;
    guest.send("q")?;
    guest.wait_for("top: stopped")?;
    guest.wait_for(PROMPT)?;
    // Seconds after boot: the digits server has loaded its model and
    // declared its latency objective by now.
    expect(guest, "objectives", "latency <= ")?;
    for garbage in [
        "frobnicate 42",
        "kill banana",
        "kill 999999",
        "sched nonsense",
        "log loud",
        "spawn nothing-like-this",
        "agents extra",
        "%%% ???",
    ] {
        expect(guest, garbage, "error:")?;
    }
    expect(guest, "help", "agents")?;
    guest.send("shutdown\r")?;
    match guest.wait_exit()? {
        Outcome::Exited(EXIT_STATUS_SUCCESS) => Ok(()),
        outcome => Err(format!("shutdown ended QEMU with {}", outcome.describe()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_come_from_the_status_table() {
        let table = "policy fair | ...\n id agent state\n  9 training-x0 ready 1.0\n";
        assert_eq!(agent_id(table, "training-x0"), Some(9));
        assert_eq!(agent_id(table, "inference-0"), None);
    }
}
