//! Invoking cargo: the repository root, the target directory and the kernel builds.
//!
//! Every cargo child process runs with the repository root as its working directory, so
//! `rust-toolchain.toml` and `.cargo/config.toml` apply no matter where the user stands.
//! The kernel-side crates are built for [`KERNEL_TARGET`]; their ELF files are found
//! through `cargo metadata` (which honours `CARGO_TARGET_DIR`).

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde_json::Value;

use crate::Result;

/// The target triple of the kernel and the test kernels.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// The target of the ring-3 agent programs: a JSON spec (x86_64, hard-float
/// SSE2, otherwise like [`KERNEL_TARGET`]), relative to the repository root.
/// Agents use the vector registers the kernel saves for them; the kernel
/// itself stays soft-float.
pub const AGENT_TARGET_SPEC: &str = "agents/x86_64-agent.json";

/// The directory below the target directory where cargo puts the agent
/// programs (the spec's file stem).
pub const AGENT_TARGET_NAME: &str = "x86_64-agent";

/// The package holding the kernel binary.
pub const KERNEL_PACKAGE: &str = "kernel";

/// The binary of [`KERNEL_PACKAGE`] that `run` and `image` boot.
pub const KERNEL_BIN: &str = "kernel";

/// The package whose binaries are the QEMU integration test kernels.
pub const TEST_KERNELS_PACKAGE: &str = "kernel-tests";

/// The package whose binaries are the agent programs packed into the boot ramdisk.
pub const AGENTS_PACKAGE: &str = "agent-programs";

/// Directory of the agent programs inside the boot ramdisk (matches the kernel's).
pub const RAMDISK_AGENT_DIRECTORY: &str = "agents/";

/// The host crates: unit-tested with `cargo test` and linted with `--all-targets`.
/// `model-image` and `tensor-ring` are `no_std` and kernel-side too, so they are
/// also in [`KERNEL_PACKAGES`].
pub const HOST_PACKAGES: [&str; 9] = [
    "kernel-core",
    "boot",
    "sched-rl",
    "xtask",
    "agent-abi",
    "agent-tensor",
    "model-image",
    "tensor-ring",
    "tensor-backend",
];

/// The kernel-side crates: linted for [`KERNEL_TARGET`].
pub const KERNEL_PACKAGES: [&str; 7] = [
    "foundation",
    "kernel",
    "drivers",
    TEST_KERNELS_PACKAGE,
    "agent-tensor",
    "model-image",
    "tensor-ring",
];

/// The ring-3 crates: linted for [`AGENT_TARGET_SPEC`] (the tensor runtime
/// and the image formats also for [`KERNEL_TARGET`], where a kernel-side
/// user may build them soft-float).
pub const AGENT_PACKAGES: [&str; 4] = ["agent-lib", AGENTS_PACKAGE, "agent-tensor", "model-image"];

/// The cargo arguments that build `core` and `alloc` for
/// [`AGENT_TARGET_SPEC`] (no precompiled standard library exists for a
/// custom target).
pub const AGENT_BUILD_STD_ARGS: [&str; 3] = [
    "-Zjson-target-spec",
    "-Zbuild-std=core,compiler_builtins,alloc",
    "-Zbuild-std-features=compiler-builtins-mem",
];

/// A cargo build profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `dev`: unoptimised, output in `debug/`.
    Debug,
    /// `release`: optimised (with debug info, see the workspace manifest).
    Release,
}

impl Profile {
    /// Returns the profile for a `--release` flag.
    pub fn from_release_flag(release: bool) -> Self {
        if release {
            Profile::Release
        } else {
            Profile::Debug
        }
    }

    /// Returns the name of the output directory below `target/<triple>/`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }

    /// Returns the extra cargo arguments selecting this profile.
    fn cargo_args(self) -> &'static [&'static str] {
        match self {
            Profile::Debug => &[],
            Profile::Release => &["--release"],
        }
    }
}

/// Returns the repository root: the parent of this crate's manifest directory.
pub fn repository_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Returns the repository root if the current directory lies inside it, and an
/// explanation otherwise.
pub fn check_working_directory() -> Result<PathBuf> {
    let root = repository_root();
    let root = root.canonicalize().map_err(|error| {
        format!(
            "the repository this xtask was built from ({}) is gone: {error}",
            root.display()
        )
    })?;
    let cwd = env::current_dir()?.canonicalize()?;
    if cwd.starts_with(&root) {
        Ok(root)
    } else {
        Err(format!(
            "refusing to run outside the repository.\n  \
             This xtask belongs to {root}, but the current directory is {cwd}.\n  \
             Run it from the repository instead: cd {root} && cargo xtask --help",
            root = root.display(),
            cwd = cwd.display()
        )
        .into())
    }
}

/// Returns a `cargo` command running in `root`, using the same cargo that runs xtask.
pub fn cargo(root: &Path) -> Command {
    let program = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(program);
    command.current_dir(root);
    command
}

/// Returns `command` rendered for a log line (program name and arguments).
pub fn display_command(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_string_lossy()
        .into_owned();
    std::iter::once(program)
        .chain(
            command
                .get_args()
                .map(|arg| arg.to_string_lossy().into_owned()),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` with inherited stdio; returns an error naming it unless it succeeds.
pub fn run_inherited(mut command: Command) -> Result<()> {
    let status = command
        .status()
        .map_err(|error| format!("cannot start `{}`: {error}", display_command(&command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", display_command(&command)).into())
    }
}

/// Workspace facts from `cargo metadata`.
#[derive(Clone, Debug)]
pub struct Metadata {
    /// Where cargo puts build output (`target/` unless overridden).
    pub target_dir: PathBuf,
    /// Names of the binaries of [`TEST_KERNELS_PACKAGE`], sorted.
    pub test_kernels: Vec<String>,
    /// Names of the binaries of [`AGENTS_PACKAGE`], sorted.
    pub agent_programs: Vec<String>,
}

impl Metadata {
    /// Runs `cargo metadata` for the workspace at `root`.
    pub fn load(root: &Path) -> Result<Self> {
        let mut command = cargo(root);
        command
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        let output = command
            .output()
            .map_err(|error| format!("cannot run cargo metadata: {error}"))?;
        if !output.status.success() {
            return Err(
                format!("`{}` failed ({})", display_command(&command), output.status).into(),
            );
        }
        Self::parse(&output.stdout)
    }

    /// Returns the metadata read from `cargo metadata --format-version 1` JSON output.
    fn parse(json: &[u8]) -> Result<Self> {
        let value: Value = serde_json::from_slice(json)?;
        let target_dir = value["target_directory"]
            .as_str()
            .ok_or("cargo metadata: no target_directory")?
            .into();
        let packages = value["packages"]
            .as_array()
            .ok_or("cargo metadata: no packages")?;
        let binaries_of = |wanted: &str| {
            let mut names: Vec<String> = packages
                .iter()
                .filter(|package| package["name"] == wanted)
                .flat_map(|package| package["targets"].as_array().into_iter().flatten())
                .filter(|target| {
                    target["kind"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bin"))
                })
                .filter_map(|target| target["name"].as_str().map(str::to_owned))
                .collect();
            names.sort();
            names
        };
        Ok(Self {
            target_dir,
            test_kernels: binaries_of(TEST_KERNELS_PACKAGE),
            agent_programs: binaries_of(AGENTS_PACKAGE),
        })
    }

    /// Returns the path of kernel-target binary `bin` built with `profile`.
    pub fn kernel_target_binary(&self, profile: Profile, bin: &str) -> PathBuf {
        self.target_dir
            .join(KERNEL_TARGET)
            .join(profile.dir_name())
            .join(bin)
    }
}

/// Returns a `cargo build` command for the kernel target with `profile`.
fn kernel_build_command(root: &Path, profile: Profile) -> Command {
    let mut command = cargo(root);
    command
        .arg("build")
        .args(["--target", KERNEL_TARGET])
        .args(profile.cargo_args());
    command
}

/// Builds the main kernel binary and returns the path of its ELF file.
pub fn build_kernel(root: &Path, metadata: &Metadata, profile: Profile) -> Result<PathBuf> {
    let mut command = kernel_build_command(root, profile);
    command.args(["-p", KERNEL_PACKAGE, "--bin", KERNEL_BIN]);
    run_inherited(command)?;
    Ok(metadata.kernel_target_binary(profile, KERNEL_BIN))
}

/// An agent program to pack into the ramdisk: its name and ELF file.
pub type AgentProgram = (String, PathBuf);

/// Returns the command that builds every agent program: for
/// [`AGENT_TARGET_SPEC`], with `core` and `alloc` built for it (no
/// precompiled standard library exists for a custom target).
pub fn agents_build_command(root: &Path, profile: Profile) -> Command {
    let mut command = cargo(root);
    command
        .arg("build")
        .arg("--target")
        .arg(root.join(AGENT_TARGET_SPEC))
        .args(AGENT_BUILD_STD_ARGS)
        .args(profile.cargo_args())
        .args(["-p", AGENTS_PACKAGE, "--bins"]);
    command
}

/// Returns the agent programs built with `profile` (build them first).
pub fn agent_programs(metadata: &Metadata, profile: Profile) -> Vec<AgentProgram> {
    metadata
        .agent_programs
        .iter()
        .map(|name| {
            let path = metadata
                .target_dir
                .join(AGENT_TARGET_NAME)
                .join(profile.dir_name())
                .join(name);
            (name.clone(), path)
        })
        .collect()
}

/// Builds the agent programs and returns them.
pub fn build_agents(
    root: &Path,
    metadata: &Metadata,
    profile: Profile,
) -> Result<Vec<AgentProgram>> {
    run_inherited(agents_build_command(root, profile))?;
    Ok(agent_programs(metadata, profile))
}

/// Returns the command that builds every test kernel (run by `xtask test`).
pub fn test_kernels_build_command(root: &Path, profile: Profile) -> Command {
    let mut command = kernel_build_command(root, profile);
    command.args(["-p", TEST_KERNELS_PACKAGE, "--bins"]);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = r#"{
        "target_directory": "/repo/target",
        "packages": [
            { "name": "kernel", "targets": [
                { "name": "kernel", "kind": ["lib"] },
                { "name": "kernel", "kind": ["bin"] } ] },
            { "name": "kernel-tests", "targets": [
                { "name": "kernel_tests", "kind": ["lib"] },
                { "name": "stack_overflow", "kind": ["bin"] },
                { "name": "heap", "kind": ["bin"] } ] }
        ]
    }"#;

    #[test]
    fn metadata_lists_only_test_kernel_bins_sorted() {
        let metadata = Metadata::parse(METADATA.as_bytes()).unwrap();
        assert_eq!(metadata.target_dir, Path::new("/repo/target"));
        assert_eq!(metadata.test_kernels, ["heap", "stack_overflow"]);
        assert_eq!(
            metadata.kernel_target_binary(Profile::Release, "heap"),
            Path::new("/repo/target/x86_64-unknown-none/release/heap")
        );
    }

    #[test]
    fn repository_root_holds_the_workspace_manifest() {
        let root = repository_root();
        assert!(root.join("Cargo.toml").is_file());
        assert!(root.join("xtask").is_dir());
    }

    #[test]
    fn display_command_shows_program_and_arguments() {
        let mut command = Command::new("/usr/bin/cargo");
        command.args(["build", "--release"]);
        assert_eq!(display_command(&command), "cargo build --release");
    }
}
