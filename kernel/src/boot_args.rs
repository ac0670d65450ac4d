//! The boot command line and files from the boot ramdisk.
//!
//! The ramdisk is a tar archive (`xtask` writes it; see README): the file
//! `cmdline` holds whitespace-separated `key=value` words, and later steps
//! keep agent programs beside it. Known keys:
//! - `sched=NAME`: scheduling policy (`q-learning`, `round-robin`, `mlfq`, `fair`, `fifo`);
//! - `log=LEVEL`: most verbose log level (`error`, `warn`, `info`, `debug`, `trace`);
//! - `bench=NAME`, `quick=1`: what the benchmark kernel (`src/bin/bench/`) measures;
//! - `fuzz_calls=N`, `fuzz_seed=S`, `fuzz_agents=K`: the swarm fuzzer's test kernel
//!   (`tests/src/bin/user_fuzz_swarm.rs`, run by `cargo xtask fuzz`).
//!
//! Everything read from the ramdisk is untrusted input: a malformed archive
//! or word is reported and ignored, never fatal.

use alloc::{string::String, vec::Vec};

use spin::Once;
use tar_no_std::TarArchiveRef;

/// Name of the command line file inside the ramdisk.
pub const CMDLINE_FILE: &str = "cmdline";
/// Longest command line kept, in bytes.
const MAX_CMDLINE_BYTES: usize = 1024;
/// Keys the kernel understands.
const KNOWN_KEYS: [&str; 7] = [
    "sched",
    "log",
    "bench",
    "quick",
    "fuzz_calls",
    "fuzz_seed",
    "fuzz_agents",
];

static CMDLINE: Once<&'static str> = Once::new();

/// Returns the content of the ramdisk file `name`, if the ramdisk is a valid
/// tar archive that holds it. Scans the archive (usable before the heap).
pub fn ramdisk_file(name: &str) -> Option<&'static [u8]> {
    let archive = TarArchiveRef::new(crate::memory::ramdisk()).ok()?;
    archive
        .entries()
        .find(|entry| entry.filename().as_str().is_ok_and(|file| file == name))
        .map(|entry| entry.data())
}

/// Every file of the ramdisk (name, content), read on first use: a tar scan
/// checks every header's checksum, which cost each spawn ~2 ms of guest
/// time when it was repeated per lookup (a spawn bomb's retries saturated
/// the CPU).
static FILES: Once<Vec<(String, &'static [u8])>> = Once::new();

fn files() -> &'static [(String, &'static [u8])] {
    FILES.call_once(|| {
        let Ok(archive) = TarArchiveRef::new(crate::memory::ramdisk()) else {
            return Vec::new();
        };
        archive
            .entries()
            .filter_map(|entry| {
                let name = entry.filename();
                let name = name.as_str().ok()?;
                Some((String::from(name), entry.data()))
            })
            .collect()
    })
}

/// Returns the content of the ramdisk file `name` like [`ramdisk_file`],
/// from the index made on first use (needs the heap): what spawns use.
pub fn indexed_file(name: &str) -> Option<&'static [u8]> {
    files()
        .iter()
        .find(|(file, _)| file == name)
        .map(|(_, data)| *data)
}

/// Returns the names of all files in the ramdisk.
pub fn ramdisk_names() -> Vec<String> {
    files().iter().map(|(name, _)| name.clone()).collect()
}

/// Reads the command line from the ramdisk and reports what it found.
pub fn init() {
    let ramdisk = crate::memory::ramdisk();
    let text = if ramdisk.is_empty() {
        ""
    } else if TarArchiveRef::new(ramdisk).is_err() {
        log::warn!(
            "boot ramdisk ({} bytes) is not a tar archive; ignored",
            ramdisk.len()
        );
        ""
    } else {
        match ramdisk_file(CMDLINE_FILE).map(core::str::from_utf8) {
            Some(Ok(text)) if text.len() <= MAX_CMDLINE_BYTES => text,
            Some(Ok(_)) => {
                log::warn!("boot command line longer than {MAX_CMDLINE_BYTES} bytes; ignored");
                ""
            }
            Some(Err(_)) => {
                log::warn!("boot command line is not UTF-8; ignored");
                ""
            }
            None => "",
        }
    };
    let text = CMDLINE.call_once(|| text.trim_matches(char::from(0)).trim());
    for word in text.split_whitespace() {
        match word.split_once('=') {
            Some((key, _)) if KNOWN_KEYS.contains(&key) => {}
            _ => log::warn!("boot command line: ignoring unknown word {word:?}"),
        }
    }
    if !text.is_empty() {
        log::info!("boot command line: {text}");
    }
}

/// Returns the value of `key` on the command line (the last one wins).
pub fn value(key: &str) -> Option<&'static str> {
    CMDLINE
        .get()?
        .split_whitespace()
        .filter_map(|word| word.split_once('='))
        .rfind(|(name, _)| *name == key)
        .map(|(_, value)| value)
}

/// Returns the log level named on the command line, if valid.
pub fn log_level() -> Option<log::LevelFilter> {
    value("log")?.parse().ok()
}
