//! The status table: per-agent CPU share, runs, response times, deadlines,
//! and the policy's and the switch path's numbers.

use alloc::{format, string::String, vec, vec::Vec};

use sched_rl::Scheduler;

use super::{agent::AgentState, manager::Manager};
use crate::time;

/// One agent's row, copied out of the manager.
struct Row {
    /// The boot-unique agent id (what `kill` takes).
    id: u64,
    name: String,
    state: &'static str,
    cpu_time_us: u64,
    runs: u64,
    mean_response_us: u64,
    p99_response_us: u64,
    longest_wait_us: u64,
    deadline_misses: u64,
    deadlines: u64,
}

/// Formats the status table as lines (copied out under the lock, formatted
/// outside it, so the timer is held off only briefly).
pub fn lines() -> Vec<String> {
    let Some((rows, header)) = super::inspect(snapshot) else {
        return alloc::vec![String::from("task manager not started")];
    };
    let total_cpu: u64 = rows.iter().map(|row| row.cpu_time_us).sum::<u64>().max(1);
    let mut lines = Vec::with_capacity(rows.len() + 4);
    lines.push(header);
    lines.push(format!(
        "{:>3} {:<16} {:<5} {:>6} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "id", "agent", "state", "cpu%", "runs", "mean-rsp", "p99-rsp", "max-wait", "dl-miss"
    ));
    for row in rows {
        lines.push(format!(
            "{:>3} {:<16} {:<5} {:>5}.{} {:>7} {:>9} {:>9} {:>9} {:>4}/{:<4}",
            row.id,
            row.name,
            row.state,
            row.cpu_time_us * 100 / total_cpu,
            row.cpu_time_us * 1000 / total_cpu % 10,
            row.runs,
            format_us(row.mean_response_us),
            format_us(row.p99_response_us),
            format_us(row.longest_wait_us),
            row.deadline_misses,
            row.deadlines
        ));
    }
    lines
}

fn snapshot(manager: &Manager) -> (Vec<Row>, String) {
    let rows = manager
        .agents()
        .filter(|agent| !matches!(agent.state, AgentState::Exited { .. }))
        .map(|agent| Row {
            id: agent.pid,
            name: agent.name.clone(),
            state: agent.state.label(),
            cpu_time_us: agent.stats.cpu_time_us,
            runs: agent.stats.runs,
            mean_response_us: agent.stats.response_us.mean(),
            p99_response_us: agent.stats.response_us.percentile(99),
            longest_wait_us: agent.stats.longest_wait_us,
            deadline_misses: agent.stats.deadline_misses,
            deadlines: agent.stats.deadline_misses + agent.stats.deadlines_met,
        })
        .collect();
    let stats = manager.policy().stats();
    let cycles_per_us = (time::tsc_hz() / 1_000_000).max(1);
    let header = format!(
        "policy {} | explore {}.{:03} | decisions {} | reward {} | fallbacks {} | held back {} | \
         decision cycles p50 {} p99 {} | switch cycles p50 {} p99 {} (~{} cycles/us) | uptime {} s",
        stats.policy,
        stats.exploration_rate.raw() >> 16,
        ((stats.exploration_rate.raw() & 0xFFFF) * 1000) >> 16,
        stats.decisions,
        stats.total_reward.raw() >> 16,
        stats.fallbacks,
        manager.policy().held_back(),
        manager.decision_cycles.percentile(50),
        manager.decision_cycles.percentile(99),
        manager.switch_cycles.percentile(50),
        manager.switch_cycles.percentile(99),
        cycles_per_us,
        time::uptime_ms() / 1000
    );
    (rows, header)
}

fn format_us(microseconds: u64) -> String {
    if microseconds >= 10_000 {
        format!("{}ms", microseconds / 1000)
    } else {
        format!("{microseconds}us")
    }
}

/// Prints the status table to the console.
pub fn print() {
    for line in lines() {
        crate::println!("{line}");
    }
}

/// Returns the objectives table (dashboard panel, shell `objectives`): per agent that declared an objective or
/// reported a figure, the objective, where it stands, its progress, the
/// requests it served within target, and the loss and accuracy it reported
/// (the agent's own claims: the kernel cannot check them); then the agents
/// that ended with one, newest first, marked `(end)`.
pub fn objective_lines() -> Vec<String> {
    let (rows, finished) = (super::agents(), super::finished_progress());
    let mut lines = vec![format!(
        "{:<20} {:<29} {:<8} {:>6} {:>10} {:>9} {:>14}",
        "agent", "objective", "status", "done", "in target", "loss", "accuracy"
    )];
    let live = rows
        .iter()
        .filter(|row| !row.progress.is_empty())
        .map(|row| (row.name.clone(), &row.progress));
    let ended = finished
        .iter()
        .rev()
        .map(|agent| (format!("{} (end)", agent.name()), &agent.progress));
    for (name, progress) in live.chain(ended) {
        let objective = progress.objective.map_or_else(
            || String::from("-"),
            |(objective, declared_us)| format!("{}", super::ObjectiveText(objective, declared_us)),
        );
        let status = progress.status.map_or("-", |status| status.label());
        let done = if progress.objective.is_some() {
            format!(
                "{}.{}%",
                progress.progress_permille / 10,
                progress.progress_permille % 10
            )
        } else {
            String::from("-")
        };
        let (served, met) = progress.requests;
        let requests = if served > 0 {
            format!("{met}/{served}")
        } else {
            String::from("-")
        };
        let loss = progress.loss.map_or_else(
            || String::from("-"),
            |loss| {
                let one = sched_rl::objective::LOSS_ONE;
                format!("{}.{:04}", loss / one, loss % one / 100)
            },
        );
        let accuracy = progress.accuracy.map_or_else(
            || String::from("-"),
            |(correct, total)| {
                let permille = correct * 1000 / total.max(1);
                format!("{correct}/{total} {}.{}%", permille / 10, permille % 10)
            },
        );
        lines.push(format!(
            "{:<20} {:<29} {:<8} {:>6} {:>10} {:>9} {:>14}",
            name, objective, status, done, requests, loss, accuracy
        ));
    }
    if lines.len() == 1 {
        lines.push(String::from("no agent declared an objective yet"));
    }
    lines
}
