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
//! tensor_backends = 2            # optional: tensor accelerators (0 to 4, default 0)
//! tensor_backend_size = "16M"    # optional: each one's shared memory (default 16M)
//! tensor_doorbells = true        # optional: ivshmem-doorbell instead of -plain (default false)
//! ```
//!
//! `tensor_backends = N` starts N `tensor-backend` processes for the run, each on a
//! shared file of its own, and attaches them as `ivshmem-plain` (or, with
//! `tensor_doorbells`, `ivshmem-doorbell`) devices 0 to N-1
//! (see `tensor_backend.rs`); `tensor_backend_size` follows the backend's `--size`
//! rules (a power of two, optional K, M or G suffix). With `tensor_doorbells = true`
//! the devices are `ivshmem-doorbell`, each backend their ivshmem server.
//!
//! A missing file means every test kernel runs with the defaults. Unknown keys, an empty
//! firmware list, a zero timeout, more than 4 tensor backends, a bad size or a size
//! without backends, and an entry without a matching binary are errors.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs, io,
    path::Path,
    time::Duration,
};

use boot::Firmware;
use serde::Deserialize;

use crate::{Result, tensor_backend};

/// Path of the manifest, relative to the repository root.
pub const MANIFEST_PATH: &str = "tests/scenarios.toml";

/// Each tensor accelerator's shared memory when `tensor_backend_size` is not given.
pub const DEFAULT_TENSOR_BACKEND_BYTES: u64 = 16 << 20;

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
    tensor_backends: Option<u64>,
    tensor_backend_size: Option<String>,
    tensor_doorbells: Option<bool>,
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
    /// Tensor accelerators to attach, each with a `tensor-backend` of its own.
    pub tensor_backends: usize,
    /// Bytes of each accelerator's shared memory (a power of two).
    pub tensor_backend_bytes: u64,
    /// Whether the accelerators are `ivshmem-doorbell` (else `ivshmem-plain`).
    pub tensor_doorbells: bool,
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
            tensor_backends: 0,
            tensor_backend_bytes: DEFAULT_TENSOR_BACKEND_BYTES,
            tensor_doorbells: false,
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
        let (tensor_backends, tensor_backend_bytes) = tensor_backends(
            name,
            raw.tensor_backends,
            raw.tensor_backend_size.as_deref(),
        )?;
        if raw.tensor_doorbells.is_some() && tensor_backends == 0 {
            return Err(format!(
                "[{name}]: tensor_doorbells without tensor_backends would do nothing"
            )
            .into());
        }
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
            tensor_backends,
            tensor_backend_bytes,
            tensor_doorbells: raw.tensor_doorbells.unwrap_or(false),
        })
    }
}

/// Returns the validated `tensor_backends` count and `tensor_backend_size` bytes of the
/// table named `name`. A size without backends is an error: it would do nothing.
fn tensor_backends(name: &str, count: Option<u64>, size: Option<&str>) -> Result<(usize, u64)> {
    let count = match count.map(usize::try_from) {
        None => 0,
        Some(Ok(count)) if count <= tensor_backend::MAX_BACKENDS => count,
        Some(_) => {
            return Err(format!(
                "[{name}]: tensor_backends must be 0 to {}",
                tensor_backend::MAX_BACKENDS
            )
            .into());
        }
    };
    let bytes = match size {
        None => DEFAULT_TENSOR_BACKEND_BYTES,
        Some(_) if count == 0 => {
            return Err(format!(
                "[{name}]: tensor_backend_size without tensor_backends would do nothing"
            )
            .into());
        }
        Some(text) => tensor_backend::parse_size(text)
            .map_err(|error| format!("[{name}]: tensor_backend_size: {error}"))?,
    };
    Ok((count, bytes))
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
    fn tensor_backends_are_read() {
        let manifest = Manifest::parse(
            r#"
            [two]
            tensor_backends = 2

            [four_big]
            tensor_backends = 4
            tensor_backend_size = "64M"
            tensor_doorbells = true

            [none]
            tensor_backends = 0
            "#,
        )
        .unwrap();
        let two = manifest.scenario("two");
        assert_eq!(two.tensor_backends, 2);
        assert_eq!(two.tensor_backend_bytes, 16 << 20);
        let four = manifest.scenario("four_big");
        assert_eq!(
            (four.tensor_backends, four.tensor_backend_bytes),
            (4, 64 << 20)
        );
        assert!(four.tensor_doorbells && !two.tensor_doorbells);
        assert_eq!(manifest.scenario("none"), Scenario::default());
        assert_eq!(Scenario::default().tensor_backends, 0);
    }

    #[test]
    fn bad_tensor_backends_are_rejected_with_the_reason() {
        for (text, reason) in [
            ("[t]\ntensor_backends = 5\n", "0 to 4"),
            (
                "[t]\ntensor_backends = 1\ntensor_backend_size = \"12M\"\n",
                "power of two",
            ),
            (
                "[t]\ntensor_backends = 1\ntensor_backend_size = \"big\"\n",
                "not a size",
            ),
            ("[t]\ntensor_backend_size = \"16M\"\n", "would do nothing"),
            ("[t]\ntensor_doorbells = true\n", "would do nothing"),
        ] {
            let error = Manifest::parse(text).unwrap_err().to_string();
            assert!(error.contains(reason), "{text:?}: {error}");
        }
        for text in [
            "[t]\ntensor_backends = -1\n",
            "[t]\ntensor_backends = \"2\"\n",
            "[t]\ntensor_backends = 1\ntensor_backend_size = 16777216\n",
            "[t]\ntensor_backend = 1\n",
        ] {
            assert!(Manifest::parse(text).is_err(), "accepted: {text}");
        }
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
