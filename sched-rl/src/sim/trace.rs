//! The workload-file parser: text in, a validated [`Workload`] or an error naming the line.
//!
//! The format is specified in `WORKLOAD_FORMAT.md` (also in the crate docs).
//! Every error carries the 1-based line number it was found on; errors about
//! the file as a whole (a missing `duration`) carry line 0.

use super::workload::{AfterBurst, AgentSpec, Behaviour, Phase, TimeRange, Workload};
use crate::agent::{BlockKind, ClassHint, MAX_AGENTS, Microseconds};
use crate::objective::{MAX_LATENCY_TARGET_US, Objective};
use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Warm-up used when a file gives none: this fraction (1/10) of the duration.
const DEFAULT_WARMUP_DIVISOR: u64 = 10;

/// A workload file that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the fault; 0 for the file as a whole.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(formatter, "workload file: {}", self.message)
        } else {
            write!(formatter, "line {}: {}", self.line, self.message)
        }
    }
}

type Result<T> = core::result::Result<T, String>;

/// Returns the workload described by `text`, or the first error found.
pub fn parse_workload(text: &str) -> core::result::Result<Workload, ParseError> {
    let mut parser = Parser::default();
    for (index, raw_line) in text.lines().enumerate() {
        let line = raw_line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        parser.line(line).map_err(|message| ParseError {
            line: index + 1,
            message,
        })?;
    }
    parser
        .finish()
        .map_err(|message| ParseError { line: 0, message })
}

#[derive(Default)]
struct Parser {
    name: Option<String>,
    duration_us: Option<Microseconds>,
    warmup_us: Option<Microseconds>,
    agents: Vec<AgentSpec>,
    /// Base name of each `agent` line and the indices of its agents.
    groups: Vec<(String, core::ops::Range<usize>)>,
}

impl Parser {
    fn line(&mut self, line: &str) -> Result<()> {
        let mut words = line.split_whitespace();
        let directive = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        match directive {
            "workload" => set_once(
                &mut self.name,
                "workload",
                single(&rest, "workload")?.to_owned(),
            ),
            "duration" => set_once(
                &mut self.duration_us,
                "duration",
                parse_time(single(&rest, "duration")?)?,
            ),
            "warmup" => set_once(
                &mut self.warmup_us,
                "warmup",
                parse_time(single(&rest, "warmup")?)?,
            ),
            "agent" => self.agent(&rest),
            "phase" => self.phase(&rest),
            other => Err(format!(
                "unknown directive `{other}` (expected workload, duration, warmup, agent or phase)"
            )),
        }
    }

    fn agent(&mut self, words: &[&str]) -> Result<()> {
        let (name, mut fields) = named_fields(words, "agent")?;
        if self.groups.iter().any(|(existing, _)| *existing == name) {
            return Err(format!("agent `{name}` is defined twice"));
        }
        let count = fields.take_number("count")?.unwrap_or(1);
        if count == 0 {
            return Err("count must be at least 1".to_string());
        }
        let arrival = fields
            .take("arrive")
            .map(parse_range)
            .transpose()?
            .unwrap_or(TimeRange::exactly(0));
        let hint = fields
            .take("hint")
            .map(parse_hint)
            .transpose()?
            .unwrap_or(ClassHint::Unknown);
        let bursts = match fields.take_number("bursts")? {
            Some(0) => return Err("bursts must be at least 1".to_string()),
            Some(bursts) => {
                Some(u32::try_from(bursts).map_err(|_| "bursts is too large".to_string())?)
            }
            None => None,
        };
        let objective = fields.take("objective").map(parse_objective).transpose()?;
        let claims_behind = fields.take_flag("claims-behind");
        if objective.is_some() && claims_behind {
            return Err(
                "an agent declares one objective: give objective=latency:TIME or claims-behind, not both"
                    .to_string(),
            );
        }
        let first = parse_phase(&mut fields)?;
        fields.finish()?;
        let total = self.agents.len() as u64 + count;
        if total > MAX_AGENTS as u64 {
            return Err(format!("too many agents: {total} (at most {MAX_AGENTS})"));
        }
        let start = self.agents.len();
        for index in 0..count {
            let agent_name = if count == 1 {
                name.clone()
            } else {
                format!("{name}.{index}")
            };
            self.agents.push(AgentSpec {
                name: agent_name,
                arrival,
                hint,
                bursts,
                objective,
                claims_behind,
                first,
                change: None,
            });
        }
        self.groups.push((name, start..self.agents.len()));
        Ok(())
    }

    fn phase(&mut self, words: &[&str]) -> Result<()> {
        let (name, mut fields) = named_fields(words, "phase")?;
        if let Some((key, _)) = fields
            .entries
            .iter()
            .find(|(key, _)| matches!(*key, "objective" | "claims-behind"))
        {
            return Err(format!(
                "`{key}` belongs on the `agent` line: an agent declares its objective at arrival and keeps it through its phases"
            ));
        }
        let at = parse_time(fields.take("at").ok_or("phase needs at=TIME")?)?;
        let phase = parse_phase(&mut fields)?;
        fields.finish()?;
        let (_, range) = self
            .groups
            .iter()
            .find(|(existing, _)| *existing == name)
            .ok_or_else(|| {
                format!("phase for unknown agent `{name}` (define it with `agent` first)")
            })?;
        for agent in &mut self.agents[range.clone()] {
            if agent.change.is_some() {
                return Err(format!("agent `{name}` already has a phase"));
            }
            agent.change = Some((at, phase));
        }
        Ok(())
    }

    fn finish(self) -> Result<Workload> {
        let name = self.name.ok_or("missing `workload NAME` line")?;
        let duration_us = self.duration_us.ok_or("missing `duration TIME` line")?;
        if duration_us == 0 {
            return Err("duration must be positive".to_string());
        }
        let warmup_us = self
            .warmup_us
            .unwrap_or(duration_us / DEFAULT_WARMUP_DIVISOR);
        if warmup_us >= duration_us {
            return Err("warmup must be shorter than duration".to_string());
        }
        if self.agents.is_empty() {
            return Err("no `agent` lines".to_string());
        }
        Ok(Workload {
            name,
            duration_us,
            warmup_us,
            agents: self.agents,
        })
    }
}

/// The `key=value` words (and bare flags) of one line.
struct Fields<'a> {
    entries: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> Fields<'a> {
    fn take(&mut self, key: &str) -> Option<&'a str> {
        let position = self
            .entries
            .iter()
            .position(|(name, value)| *name == key && value.is_some())?;
        self.entries.remove(position).1
    }

    fn take_flag(&mut self, key: &str) -> bool {
        match self
            .entries
            .iter()
            .position(|(name, value)| *name == key && value.is_none())
        {
            Some(position) => {
                self.entries.remove(position);
                true
            }
            None => false,
        }
    }

    fn take_number(&mut self, key: &str) -> Result<Option<u64>> {
        self.take(key)
            .map(|text| parse_number(key, text))
            .transpose()
    }

    fn finish(self) -> Result<()> {
        match self.entries.first() {
            None => Ok(()),
            Some((key, Some(_))) => Err(format!("unknown or repeated key `{key}`")),
            Some((key, None)) => Err(format!("unknown word `{key}`")),
        }
    }
}

fn named_fields<'a>(words: &[&'a str], directive: &str) -> Result<(String, Fields<'a>)> {
    let (&name, rest) = words
        .split_first()
        .ok_or_else(|| format!("`{directive}` needs a name"))?;
    if name.contains('=') {
        return Err(format!("`{directive}` needs a name before `{name}`"));
    }
    let mut entries = Vec::new();
    for word in rest {
        let entry = match word.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (*word, None),
        };
        if entries.iter().any(|(key, _)| *key == entry.0) {
            return Err(format!("`{}` is given twice", entry.0));
        }
        entries.push(entry);
    }
    Ok((name.to_owned(), Fields { entries }))
}

fn parse_phase(fields: &mut Fields<'_>) -> Result<Phase> {
    let latency_sensitive = fields.take_flag("sensitive");
    if let Some(margin) = fields.take("yield-before-tick") {
        if fields
            .entries
            .iter()
            .any(|(key, _)| matches!(*key, "burst" | "block" | "yield" | "period" | "deadline"))
        {
            return Err(
                "yield-before-tick takes no burst, block, yield, period or deadline".to_string(),
            );
        }
        let margin_us = parse_time(margin)?;
        return Ok(Phase {
            behaviour: Behaviour::YieldBeforeTick { margin_us },
            latency_sensitive,
        });
    }
    let burst = parse_range(fields.take("burst").ok_or("missing burst=TIME[..TIME]")?)?;
    if burst.minimum == 0 {
        return Err("burst must be at least 1us".to_string());
    }
    let block = fields.take("block");
    let yields = fields.take_flag("yield");
    let period = fields.take("period");
    let after = match (block, yields, period) {
        (Some(block), false, None) => {
            let (kind, duration) = block
                .split_once(':')
                .ok_or("block needs KIND:TIME[..TIME]")?;
            AfterBurst::Block {
                kind: parse_block_kind(kind)?,
                duration: parse_range(duration)?,
            }
        }
        (None, true, None) => AfterBurst::Yield,
        (None, false, Some(period)) => {
            let period_us = parse_time(period)?;
            if period_us == 0 {
                return Err("period must be positive".to_string());
            }
            let deadline_us = parse_time(
                fields
                    .take("deadline")
                    .ok_or("period needs deadline=TIME")?,
            )?;
            AfterBurst::Periodic {
                period_us,
                deadline_us,
            }
        }
        _ => return Err("give exactly one of block=KIND:TIME, yield, period=TIME".to_string()),
    };
    Ok(Phase {
        behaviour: Behaviour::Bursts { burst, after },
        latency_sensitive,
    })
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(format!("`{name}` is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

fn single<'a>(rest: &[&'a str], directive: &str) -> Result<&'a str> {
    match rest {
        [value] => Ok(value),
        _ => Err(format!("`{directive}` takes exactly one value")),
    }
}

fn parse_number(what: &str, text: &str) -> Result<u64> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a whole number (in {what})"))
}

/// Parses `12`, `12us`, `12ms` or `12s` into microseconds.
fn parse_time(text: &str) -> Result<Microseconds> {
    let (digits, scale) = if let Some(digits) = text.strip_suffix("us") {
        (digits, 1)
    } else if let Some(digits) = text.strip_suffix("ms") {
        (digits, 1_000)
    } else if let Some(digits) = text.strip_suffix('s') {
        (digits, 1_000_000)
    } else {
        (text, 1)
    };
    digits
        .parse::<u64>()
        .map_err(|_| {
            format!("`{text}` is not a time (a whole number, optionally followed by us, ms or s)")
        })?
        .checked_mul(scale)
        .ok_or_else(|| format!("time `{text}` is too large"))
}

fn parse_range(text: &str) -> Result<TimeRange> {
    let range = match text.split_once("..") {
        Some((minimum, maximum)) => TimeRange {
            minimum: parse_time(minimum)?,
            maximum: parse_time(maximum)?,
        },
        None => TimeRange::exactly(parse_time(text)?),
    };
    if range.minimum > range.maximum {
        return Err(format!("range `{text}` has its minimum above its maximum"));
    }
    Ok(range)
}

/// Parses `latency:TIME` into a latency objective.
fn parse_objective(text: &str) -> Result<Objective> {
    let (kind, value) = text
        .split_once(':')
        .ok_or_else(|| format!("objective `{text}` needs KIND:VALUE (latency:TIME)"))?;
    match kind {
        "latency" => {
            let target_us = parse_time(value)?;
            Objective::latency(target_us).map_err(|_| {
                if target_us == 0 {
                    "latency target must be at least 1us".to_string()
                } else {
                    format!(
                        "latency target `{value}` is above the maximum, {MAX_LATENCY_TARGET_US}us"
                    )
                }
            })
        }
        _ => Err(format!(
            "unknown objective kind `{kind}` (latency:TIME; a training loss is the agent's own report: use claims-behind)"
        )),
    }
}

fn parse_hint(text: &str) -> Result<ClassHint> {
    match text {
        "interactive" => Ok(ClassHint::Interactive),
        "batch" => Ok(ClassHint::Batch),
        "unknown" => Ok(ClassHint::Unknown),
        _ => match text.strip_prefix("periodic:") {
            Some(deadline) => Ok(ClassHint::Periodic {
                deadline_us: parse_time(deadline)?,
            }),
            None => Err(format!(
                "unknown hint `{text}` (interactive, batch, unknown, periodic:TIME)"
            )),
        },
    }
}

fn parse_block_kind(text: &str) -> Result<BlockKind> {
    match text {
        "sleep" => Ok(BlockKind::Sleep),
        "io" => Ok(BlockKind::Io),
        "accelerator" => Ok(BlockKind::Accelerator),
        _ => Err(format!(
            "unknown block kind `{text}` (sleep, io, accelerator)"
        )),
    }
}
