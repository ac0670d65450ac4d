//! The QEMU test manifest `tests/scenarios.toml`: per-test-kernel options.
//!
//! Each table is named after a binary of the `kernel-tests` package:
//!
//! ```toml
//! [should_fail_panic]
//! expect = "fail"                # "pass" (default: needs exit 33) or "fail" (needs exit 35)
//! qemu_args = ["-device", "edu"] # optional, appended to the QEMU command line
//! timeout_secs = 60              # optional, overrides `--timeout`
//! firmware = ["bios"]            # optional, default both
//! cmdline = "sched=fifo"         # optional kernel command line (boot ramdisk)
//! known_failure = "why"          # optional: skipped (and listed) unless --filter names it
//! forbidden_lines = ["[kernel]"] # optional: an output line starting with one of these fails
//! ```
//!
//! A missing file means every test kernel runs with the defaults. Unknown keys, an empty
//! firmware list, a zero timeout and an entry without a matching binary are errors.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs, io,
    path::Path,
    time::Duration,
};

use boot::Firmware;
use serde::Deserialize;

use crate::Result;

/// Path of the manifest, relative to the repository root.
pub const MANIFEST_PATH: &str = "tests/scenarios.toml";

/// What a test kernel must do to pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Exit through `isa-debug-exit` with the success code (status 33).
    #[default]
    Pass,
    /// Exit through `isa-debug-exit` with the failure code (status 35) exactly. A timeout
    /// or any other status is not an expected failure.
    Fail,
}

/// Firmware names as written in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FirmwareName {
    Bios,
    Uefi,
}

impl From<FirmwareName> for Firmware {
    fn from(name: FirmwareName) -> Self {
        match name {
            FirmwareName::Bios => Firmware::Bios,
            FirmwareName::Uefi => Firmware::Uefi,
        }
    }
}

/// One table of the manifest, as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    expect: Expect,
    #[serde(default)]
    qemu_args: Vec<String>,
    timeout_secs: Option<u64>,
    firmware: Option<Vec<FirmwareName>>,
    cmdline: Option<String>,
    known_failure: Option<String>,
    #[serde(default)]
    forbidden_lines: Vec<String>,
}

/// The options of one test kernel, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// What the test kernel must do to pass.
    pub expect: Expect,
    /// Extra QEMU arguments.
    pub qemu_args: Vec<String>,
    /// Per-test timeout, if set.
    pub timeout: Option<Duration>,
    /// Firmware to boot under.
    pub firmware: BTreeSet<Firmware>,
    /// Kernel command line words (empty: no ramdisk).
    pub cmdline: Vec<String>,
    /// Why the test is known to fail: a full run skips it and says so; a
    /// `--filter` that matches its name runs it.
    pub known_failure: Option<String>,
    /// Starts of lines the test's output must not have (forged kernel
    /// output, say): one such line fails the test, whatever its exit.
    pub forbidden_lines: Vec<String>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            expect: Expect::Pass,
            qemu_args: Vec::new(),
            timeout: None,
            firmware: Firmware::ALL.into_iter().collect(),
            cmdline: Vec::new(),
            known_failure: None,
            forbidden_lines: Vec::new(),
        }
    }
}

impl Scenario {
    /// Returns the validated form of `raw`, the table named `name`.
    fn from_raw(name: &str, raw: RawScenario) -> Result<Self> {
        let firmware = match raw.firmware {
            None => Firmware::ALL.into_iter().collect(),
            Some(list) if list.is_empty() => {
                return Err(format!("[{name}]: firmware = [] would never run the test").into());
            }
            Some(list) => list.into_iter().map(Firmware::from).collect(),
        };
        let timeout = match raw.timeout_secs {
            Some(0) => return Err(format!("[{name}]: timeout_secs must be at least 1").into()),
            other => other.map(Duration::from_secs),
        };
        Ok(Self {
            expect: raw.expect,
            qemu_args: raw.qemu_args,
            timeout,
            firmware,
            cmdline: raw
                .cmdline
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            known_failure: raw.known_failure,
            forbidden_lines: raw.forbidden_lines,
        })
    }
}

/// The parsed manifest: options by test kernel name.
#[derive(Clone, Debug, Default)]
pub struct Manifest {
    scenarios: BTreeMap<String, Scenario>,
}

impl Manifest {
    /// Reads `tests/scenarios.toml` below `root`; a missing file is an empty manifest.
    pub fn load(root: &Path) -> Result<Self> {
        let path = root.join(MANIFEST_PATH);
        match fs::read_to_string(&path) {
            Ok(text) => {
                Self::parse(&text).map_err(|error| format!("{MANIFEST_PATH}: {error}").into())
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(format!("cannot read {}: {error}", path.display()).into()),
        }
    }

    /// Returns the manifest parsed from TOML text.
    pub fn parse(text: &str) -> Result<Self> {
        let raw: BTreeMap<String, RawScenario> = toml::from_str(text)?;
        let scenarios = raw
            .into_iter()
            .map(|(name, raw)| Scenario::from_raw(&name, raw).map(|scenario| (name, scenario)))
            .collect::<Result<_>>()?;
        Ok(Self { scenarios })
    }

    /// Returns an error naming every entry that has no test kernel binary in `bins`.
    pub fn check_against(&self, bins: &[String]) -> Result<()> {
        let orphans: Vec<&str> = self
            .scenarios
            .keys()
            .filter(|name| !bins.contains(name))
            .map(String::as_str)
            .collect();
        if orphans.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{MANIFEST_PATH} has entries without a test kernel (tests/src/bin/<name>.rs): {}",
                orphans.join(", ")
            )
            .into())
        }
    }

    /// Returns the options of test kernel `name` (the defaults when it has no entry).
    pub fn scenario(&self, name: &str) -> Scenario {
        self.scenarios.get(name).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_manifest_gives_defaults() {
        let manifest = Manifest::parse("").unwrap();
        let scenario = manifest.scenario("heap");
        assert_eq!(scenario, Scenario::default());
        assert_eq!(scenario.firmware.len(), 2);
        manifest.check_against(&[]).unwrap();
    }

    #[test]
    fn full_entry_is_read() {
        let manifest = Manifest::parse(
            r#"
            [should_fail_panic]
            expect = "fail"
            qemu_args = ["-device", "edu"]
            timeout_secs = 60
            firmware = ["bios"]
            cmdline = " sched=fifo  log=debug "

            [heap]
            "#,
        )
        .unwrap();
        let scenario = manifest.scenario("should_fail_panic");
        assert_eq!(scenario.expect, Expect::Fail);
        assert_eq!(scenario.qemu_args, ["-device", "edu"]);
        assert_eq!(scenario.timeout, Some(Duration::from_secs(60)));
        assert_eq!(scenario.firmware, [Firmware::Bios].into_iter().collect());
        assert_eq!(scenario.cmdline, ["sched=fifo", "log=debug"]);
        assert_eq!(manifest.scenario("heap"), Scenario::default());
        manifest
            .check_against(&["heap".into(), "should_fail_panic".into()])
            .unwrap();
    }

    #[test]
    fn entry_without_binary_is_an_error() {
        let manifest = Manifest::parse("[gone]\n[heap]\n").unwrap();
        let error = manifest.check_against(&["heap".into()]).unwrap_err();
        assert!(error.to_string().contains("gone"), "{error}");
        assert!(!error.to_string().contains("heap"), "{error}");
    }

    #[test]
    fn invalid_entries_are_rejected() {
        for text in [
            "[t]\nexpect = \"maybe\"\n",
            "[t]\nexpected = \"fail\"\n",
            "[t]\nfirmware = [\"coreboot\"]\n",
            "[t]\nfirmware = []\n",
            "[t]\ntimeout_secs = 0\n",
            "[t]\ntimeout_secs = -5\n",
            "[t]\nqemu_args = \"-device edu\"\n",
            "not toml at all",
        ] {
            assert!(Manifest::parse(text).is_err(), "accepted: {text}");
        }
    }
}
