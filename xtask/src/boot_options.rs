//! Boot options (`--sched`, `--log`) and the ramdisk that carries them to the kernel.
//!
//! The kernel has no command line of its own: xtask writes the words into the file
//! `cmdline` of a tar ramdisk (see `boot::ramdisk`), the bootloader loads it, and
//! `kernel/src/boot_args.rs` reads it. Values are checked here first, so a typo fails
//! before QEMU starts instead of being ignored by the kernel.

use std::path::Path;

use sched_rl::PolicyKind;

use crate::{
    Result,
    cargo::{AgentProgram, RAMDISK_AGENT_DIRECTORY},
    models,
};

/// Log levels the kernel's `log=` key accepts.
const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// Options passed to the kernel at boot.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct BootOptions {
    /// Scheduling policy the kernel uses: fifo, round-robin, mlfq, fair or q-learning
    /// [default: the kernel's choice].
    #[arg(long, value_name = "NAME", value_parser = parse_policy)]
    pub sched: Option<String>,
    /// Most verbose kernel log level [default: the kernel's choice].
    #[arg(long, value_name = "LEVEL", value_parser = LOG_LEVELS)]
    pub log: Option<String>,
    /// What the kernel runs at boot: `ai` (ring-3 inference server, request generator and
    /// training agent on the digits model) or `synthetic` (the spinning kernel agents of the
    /// scheduler tests) [default: ai].
    #[arg(long, value_name = "NAME", value_parser = DEMOS)]
    pub demo: Option<String>,
}

/// Demos the kernel's `demo=` key accepts.
const DEMOS: [&str; 2] = ["ai", "synthetic"];

impl BootOptions {
    /// Returns the command line words, e.g. `["sched=fifo", "log=debug"]`.
    pub fn cmdline_words(&self) -> Vec<String> {
        let mut words = Vec::new();
        if let Some(sched) = &self.sched {
            words.push(format!("sched={sched}"));
        }
        if let Some(log) = &self.log {
            words.push(format!("log={log}"));
        }
        if let Some(demo) = &self.demo {
            words.push(format!("demo={demo}"));
        }
        words
    }
}

/// Returns `name` when it names a scheduling policy.
fn parse_policy(name: &str) -> Result<String, String> {
    match PolicyKind::from_name(name) {
        Some(kind) => Ok(kind.name().to_owned()),
        None => Err(format!(
            "unknown policy `{name}`; choose one of: {}",
            PolicyKind::ALL.map(PolicyKind::name).join(", ")
        )),
    }
}

/// Returns the model files ([`models::build`]), built once per xtask run.
pub fn model_files() -> Result<&'static models::ModelFiles> {
    static FILES: std::sync::OnceLock<Result<models::ModelFiles, String>> =
        std::sync::OnceLock::new();
    FILES
        .get_or_init(|| {
            let files = models::build()?;
            println!(
                "digits model: int8, {}.{}% right on the held-out split (host run)",
                files.accuracy_per_mille / 10,
                files.accuracy_per_mille % 10
            );
            Ok(files)
        })
        .as_ref()
        .map_err(|error| error.clone().into())
}

/// Returns the image builder for `kernel`, with a ramdisk (written to
/// `ramdisk_path`) holding `words` as the command line and the `agents` as
/// `agents/<name>`, unless both are empty.
pub fn image_builder(
    kernel: &Path,
    words: &[String],
    agents: &[AgentProgram],
    ramdisk_path: &Path,
) -> Result<boot::ImageBuilder> {
    let builder = boot::ImageBuilder::new(kernel);
    if words.is_empty() && agents.is_empty() {
        return Ok(builder);
    }
    let mut ramdisk = boot::Ramdisk::new();
    if !words.is_empty() {
        ramdisk.cmdline(words)?;
    }
    for (name, path) in agents {
        let contents = std::fs::read(path)
            .map_err(|error| format!("cannot read agent program {}: {error}", path.display()))?;
        ramdisk.file(&format!("{RAMDISK_AGENT_DIRECTORY}{name}"), contents)?;
    }
    // Agents that run models find them, their data and the host's
    // reference results beside the programs.
    if !agents.is_empty() {
        for (name, contents) in model_files()?.files.iter() {
            ramdisk.file(name, contents.clone())?;
        }
    }
    if let Some(parent) = ramdisk_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    ramdisk
        .write(ramdisk_path)
        .map_err(|error| format!("cannot write {}: {error}", ramdisk_path.display()))?;
    Ok(builder.ramdisk(ramdisk_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_checked_against_sched_rl() {
        assert_eq!(parse_policy("q-learning").unwrap(), "q-learning");
        assert_eq!(parse_policy("round-robin").unwrap(), "round-robin");
        let error = parse_policy("lottery").unwrap_err();
        assert!(
            error.contains("fifo") && error.contains("q-learning"),
            "{error}"
        );
    }

    #[test]
    fn cmdline_words() {
        assert!(BootOptions::default().cmdline_words().is_empty());
        let options = BootOptions {
            sched: Some("fair".into()),
            log: Some("debug".into()),
            demo: None,
        };
        assert_eq!(options.cmdline_words(), ["sched=fair", "log=debug"]);
    }
}
