//! `cargo xtask fuzz`: the swarm fuzzer for as long as you like.
//!
//! Boots the `user_fuzz_swarm` test kernel (tests/src/bin/user_fuzz_swarm.rs)
//! with `fuzz_calls`, `fuzz_seed` and `fuzz_agents` on its boot command line,
//! under one firmware with the QEMU arguments of its scenario in
//! tests/scenarios.toml (one edu device, the instruction-count clock, so the
//! sleeper's lateness measures the kernel, not host load), then prints what the swarm's
//! agents logged: their answers summed by error code, their calls per
//! second, and the kernel heap and frame counts before and after. Exits
//! non-zero when the kernel did not pass (it died, hung, a check failed) or
//! when the counts did not return.

use std::{collections::BTreeMap, path::Path, process::ExitCode, time::Duration};

use boot::Firmware;

use crate::{
    Result, boot_options,
    cargo::{self, Metadata, Profile},
    manifest::Manifest,
    prereq,
    qemu::{self, EXIT_STATUS_SUCCESS, Outcome, QemuConfig},
};

/// The test kernel that runs the swarm.
const FUZZ_KERNEL: &str = "user_fuzz_swarm";

/// Firmware to boot under.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FuzzFirmware {
    /// Legacy BIOS (SeaBIOS).
    Bios,
    /// UEFI (OVMF).
    Uefi,
}

/// Arguments of `cargo xtask fuzz`.
#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// Syscalls the swarm issues in all (split over the agents).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    calls: u64,
    /// Seed of the random streams (decimal or 0x hexadecimal).
    #[arg(long, value_name = "S", default_value = "0xF0225EED", value_parser = parse_number)]
    seed: u64,
    /// Cooperating agents (1 to 14).
    #[arg(long, value_name = "K", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=14))]
    agents: u64,
    /// Firmware to boot under.
    #[arg(long, value_enum, default_value_t = FuzzFirmware::Bios)]
    firmware: FuzzFirmware,
    /// Seconds before QEMU is killed [default: 60 plus 1 per 2000 calls].
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Build with optimisations.
    #[arg(long)]
    release: bool,
}

/// Parses a decimal or `0x` hexadecimal number.
fn parse_number(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|error| format!("`{text}` is not a number: {error}"))
}

/// What the kernel's output says about one run.
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    /// Answers by error code (and `ok`), summed over the agents.
    codes: BTreeMap<String, u64>,
    /// Calls each agent issued and its calls per second.
    agents: Vec<String>,
    /// Heap bytes and frames at the start.
    start: Option<(u64, u64)>,
    /// Heap bytes and frames at the end.
    end: Option<(u64, u64)>,
    /// The kernel's own count of syscalls served during the run.
    served: Option<String>,
    /// The kernel's syscall table at the end: calls, errors, mean cycles.
    table: Vec<String>,
    /// Lines that say a check failed, and agents still alive at the end.
    failures: Vec<String>,
}

/// Returns `(heap, frames)` from `... heap 1234 B, frames 56`.
fn counts(text: &str) -> Option<(u64, u64)> {
    let (_, rest) = text.split_once("heap ")?;
    let (heap, rest) = rest.split_once(" B, frames ")?;
    let frames = rest.split_whitespace().next()?;
    Some((heap.parse().ok()?, frames.parse().ok()?))
}

/// Reads the swarm's and the harness's lines from the kernel's output.
fn summarize(output: &str) -> Summary {
    let mut summary = Summary::default();
    for line in output.lines() {
        if let Some((_, codes)) = line.split_once(": codes ")
            && line.contains("swarm ")
        {
            for word in codes.split_whitespace() {
                if let Some((name, count)) = word.split_once('=')
                    && let Ok(count) = count.parse::<u64>()
                {
                    *summary.codes.entry(name.to_owned()).or_default() += count;
                }
            }
        } else if line.contains("swarm ") && line.contains(" calls, seed ") {
            if let Some((_, rest)) = line.split_once(", ok ")
                && let Some(Ok(ok)) = rest.split(',').next().map(str::parse::<u64>)
            {
                *summary.codes.entry("ok".to_owned()).or_default() += ok;
            }
        } else if line.contains("swarm ") && line.contains(" calls/s)") {
            if let Some((_, agent)) = line.split_once("] ") {
                summary.agents.push(agent.to_owned());
            }
        } else if line.contains("[hostile] fuzz_swarm: start heap") {
            summary.start = counts(line);
        } else if line.contains("[hostile] fuzz_swarm: end heap") {
            summary.end = counts(line);
        } else if line.contains("[fuzz] syscalls served") {
            summary.served = line.split_once("] ").map(|(_, rest)| rest.to_owned());
        } else if line.contains("FAILED")
            || line.contains("[test failed]")
            || line.contains("[fuzz] still alive")
        {
            summary.failures.push(line.to_owned());
        } else if let Some((_, row)) = line.split_once("[fuzz] ") {
            summary.table.push(row.to_owned());
        }
    }
    summary
}

/// Runs `cargo xtask fuzz`.
pub fn fuzz(root: &Path, args: &FuzzArgs) -> Result<ExitCode> {
    prereq::require_toolchain(root)?;
    let qemu_binary = prereq::require_qemu()?;
    let firmware = match args.firmware {
        FuzzFirmware::Bios => Firmware::Bios,
        FuzzFirmware::Uefi => Firmware::Uefi,
    };
    let ovmf = match firmware {
        Firmware::Uefi => Some(prereq::require_ovmf()?),
        Firmware::Bios => None,
    };
    let profile = Profile::from_release_flag(args.release);
    let metadata = Metadata::load(root)?;
    let mut build = cargo::test_kernels_build_command(root, profile);
    build.args(["--bin", FUZZ_KERNEL]);
    cargo::run_inherited(build)?;
    let agents = cargo::build_agents(root, &metadata, profile)?;

    let directory = metadata
        .target_dir
        .join("xtask-fuzz")
        .join(profile.dir_name());
    let image = directory.join(format!("{FUZZ_KERNEL}-{firmware}.img"));
    let words = vec![
        format!("fuzz_calls={}", args.calls),
        format!("fuzz_seed={:#x}", args.seed),
        format!("fuzz_agents={}", args.agents),
    ];
    let kernel = metadata.kernel_target_binary(profile, FUZZ_KERNEL);
    boot_options::image_builder(
        &kernel,
        &words,
        &agents,
        &image.with_extension("ramdisk.tar"),
    )?
    .build(firmware, &image)?;
    let mut config = QemuConfig::for_test(qemu_binary.clone(), image.clone(), firmware, ovmf);
    config.extra_args = Manifest::load(root)?.scenario(FUZZ_KERNEL).qemu_args;
    let command = config.command(&image.with_extension("vars.fd"))?;
    let timeout = Duration::from_secs(args.timeout.unwrap_or(60 + args.calls / 2_000));
    println!(
        "fuzz: {} calls, seed {:#x}, {} agents, {firmware}, timeout {} s",
        args.calls,
        args.seed,
        args.agents,
        timeout.as_secs()
    );
    let captured = qemu::run_with_timeout(command, timeout)
        .map_err(|error| format!("cannot run {}: {error}", qemu_binary.display()))?;

    let summary = summarize(&captured.output);
    for agent in &summary.agents {
        println!("fuzz: {agent}");
    }
    println!("fuzz: answers by code (summed over the agents):");
    for (code, count) in &summary.codes {
        println!("  {code:<20} {count}");
    }
    if let Some(served) = &summary.served {
        println!("fuzz: kernel: {served}");
    }
    for row in &summary.table {
        println!("  {row}");
    }
    let show = |counts: Option<(u64, u64)>| {
        counts.map_or("not reported".to_owned(), |(heap, frames)| {
            format!("heap {heap} B, frames {frames}")
        })
    };
    println!("fuzz: before: {}", show(summary.start));
    println!("fuzz: after:  {}", show(summary.end));
    for failure in &summary.failures {
        println!("fuzz: {failure}");
    }
    let passed = captured.outcome == Outcome::Exited(EXIT_STATUS_SUCCESS);
    let returned = summary.start.is_some() && summary.start == summary.end;
    println!(
        "fuzz: kernel {} after {:.1} s; memory {}",
        if passed {
            "passed".to_owned()
        } else {
            captured.outcome.describe()
        },
        captured.elapsed.as_secs_f64(),
        if returned {
            "returned"
        } else {
            "did NOT return"
        }
    );
    if !passed {
        println!("{}", qemu::tail(&captured.output, 40));
    }
    Ok(if passed && returned {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_in_both_bases() {
        assert_eq!(parse_number("0xF0225EED"), Ok(0xF022_5EED));
        assert_eq!(parse_number("42"), Ok(42));
        assert!(parse_number("0xZZ").is_err());
    }

    #[test]
    fn output_is_summarized() {
        let output = "\
[hostile] fuzz_swarm: start heap 90496 B, frames 4391
[agent 6 fuzzer_swarm] swarm 0: 10 calls in 5 ms (2000 calls/s)
[agent 6 fuzzer_swarm] swarm 0: 10 calls, seed 0x1, ok 4, exchanges 0, bad messages 0, children 0 spawned 0 waited
[agent 6 fuzzer_swarm] swarm 0: codes not-mapped=3 too-large=2
[agent 7 fuzzer_swarm] swarm 1: 10 calls, seed 0x2, ok 5, exchanges 0, bad messages 0, children 0 spawned 0 waited
[agent 7 fuzzer_swarm] swarm 1: codes not-mapped=1 code-42=4
[fuzz] syscalls served during the run: 20 (wanted 20)
[hostile] fuzz_swarm: end heap 90500 B, frames 4391
";
        let summary = summarize(output);
        assert_eq!(summary.codes["ok"], 9);
        assert_eq!(summary.codes["not-mapped"], 4);
        assert_eq!(summary.codes["too-large"], 2);
        assert_eq!(summary.codes["code-42"], 4);
        assert_eq!(summary.start, Some((90_496, 4391)));
        assert_eq!(summary.end, Some((90_500, 4391)));
        assert_eq!(summary.agents.len(), 1);
        assert!(summary.served.is_some());
        assert!(summary.failures.is_empty());
    }
}
