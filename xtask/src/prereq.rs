//! Prerequisite checks: QEMU, OVMF and the pinned toolchain's components.
//!
//! Each missing piece produces one line saying what is missing and the exact command that
//! installs it. When xtask runs as root on Debian or Ubuntu (CI), it installs QEMU and
//! OVMF itself with `apt-get` and says so.

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::{Result, qemu::Ovmf, qemu::QEMU_BINARY};

/// The apt packages providing QEMU and OVMF.
const APT_PACKAGES: [&str; 2] = ["qemu-system-x86", "ovmf"];

/// The command a user runs to install QEMU and OVMF.
const APT_INSTALL_HINT: &str = "sudo apt-get install qemu-system-x86 ovmf";

/// Environment variable naming an OVMF file, overriding the search.
pub const OVMF_ENV: &str = "OVMF_PATH";

/// Places Debian/Ubuntu (and most other distributions) put OVMF, best first. Combined
/// images are preferred: one file, loaded with `-bios`.
const OVMF_COMBINED: [&str; 3] = [
    "/usr/share/ovmf/OVMF.fd",
    "/usr/share/qemu/OVMF.fd",
    "/usr/share/OVMF/OVMF.fd",
];

/// Split code/variables pairs, used when no combined image exists.
const OVMF_SPLIT: [(&str, &str); 2] = [
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
];

/// Returns the path of `qemu-system-x86_64`, installing it first when allowed.
pub fn require_qemu() -> Result<PathBuf> {
    if let Some(path) = find_in_path(QEMU_BINARY) {
        return Ok(path);
    }
    if can_install_with_apt() {
        apt_install(&format!("{QEMU_BINARY} is missing"))?;
        if let Some(path) = find_in_path(QEMU_BINARY) {
            return Ok(path);
        }
    }
    Err(format!("{QEMU_BINARY} not found in PATH; install it with: {APT_INSTALL_HINT}").into())
}

/// Returns the OVMF firmware for UEFI boots, installing it first when allowed.
pub fn require_ovmf() -> Result<Ovmf> {
    if let Some(path) = env::var_os(OVMF_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(Ovmf::Combined(path))
        } else {
            Err(format!("{OVMF_ENV}={} is not a file", path.display()).into())
        };
    }
    if let Some(ovmf) = find_ovmf() {
        return Ok(ovmf);
    }
    if can_install_with_apt() {
        apt_install("OVMF (UEFI firmware for QEMU) is missing")?;
        if let Some(ovmf) = find_ovmf() {
            return Ok(ovmf);
        }
    }
    Err(format!(
        "OVMF (UEFI firmware for QEMU) not found in /usr/share/ovmf, /usr/share/qemu or \
         /usr/share/OVMF; install it with: {APT_INSTALL_HINT} (or set {OVMF_ENV}=/path/to/OVMF.fd)"
    )
    .into())
}

/// Checks that the pinned toolchain has the components the kernel build needs:
/// `rust-src` and `llvm-tools` (the bootloader's build) and the kernel target.
pub fn require_toolchain(root: &Path) -> Result<()> {
    let sysroot = rustc_output(root, &["--print", "sysroot"])?;
    let sysroot = Path::new(sysroot.trim());
    let host = rustc_output(root, &["-vV"])?
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .ok_or("cannot read the host triple from `rustc -vV`")?;
    let rustlib = sysroot.join("lib").join("rustlib");
    let checks = [
        (
            "rust-src",
            rustlib.join("src").join("rust").join("library"),
            "rustup component add rust-src",
        ),
        (
            "llvm-tools",
            rustlib.join(&host).join("bin").join("llvm-objcopy"),
            "rustup component add llvm-tools-preview",
        ),
        (
            "the x86_64-unknown-none target",
            rustlib.join(crate::cargo::KERNEL_TARGET).join("lib"),
            "rustup target add x86_64-unknown-none",
        ),
    ];
    let missing: Vec<String> = checks
        .iter()
        .filter(|(_, path, _)| !path.exists())
        .map(|(what, _, command)| {
            format!(
                "the pinned toolchain lacks {what}; install it with: rustup toolchain install \
                 (in the repository: it reads rust-toolchain.toml), or: {command}"
            )
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join("\n").into())
    }
}

/// Returns the standard output of `rustc ARGS`, run in `root` (so the pin applies).
fn rustc_output(root: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("rustc")
        .args(args)
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| {
            format!(
                "cannot run rustc ({error}); install rustup (https://rustup.rs), then run: \
                 rustup toolchain install"
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "`rustc {}` failed; install the pinned toolchain with: rustup toolchain install",
            args.join(" ")
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Returns the first OVMF found in the standard places.
fn find_ovmf() -> Option<Ovmf> {
    OVMF_COMBINED
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .map(Ovmf::Combined)
        .or_else(|| {
            OVMF_SPLIT
                .iter()
                .map(|(code, vars)| (PathBuf::from(code), PathBuf::from(vars)))
                .find(|(code, vars)| code.is_file() && vars.is_file())
                .map(|(code, vars)| Ovmf::Split { code, vars })
        })
}

/// Returns the first executable file called `name` in `PATH`.
fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| {
            path.metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Returns true when xtask may install packages itself: root on Debian/Ubuntu.
fn can_install_with_apt() -> bool {
    Path::new("/etc/debian_version").exists()
        && find_in_path("apt-get").is_some()
        && Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// Installs QEMU and OVMF with apt-get, explaining why first.
fn apt_install(reason: &str) -> Result<()> {
    eprintln!(
        "xtask: {reason}; running as root on Debian/Ubuntu, so installing it: \
         apt-get update && apt-get install -y {}",
        APT_PACKAGES.join(" ")
    );
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
    };
    // Without a fresh package list `install` fails on a freshly built container.
    let update = apt(&["update"])?;
    if !update.success() {
        eprintln!("xtask: apt-get update failed ({update}); trying the install anyway");
    }
    let mut install = vec!["install", "-y"];
    install.extend(APT_PACKAGES);
    let status = apt(&install)?;
    if status.success() {
        Ok(())
    } else {
        Err(
            format!("apt-get install failed ({status}); install by hand: {APT_INSTALL_HINT}")
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_in_path() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("surely-no-such-binary-here").is_none());
    }

    #[test]
    fn pinned_toolchain_is_complete() {
        // The development container and CI install the pinned toolchain with all
        // components, so this must hold wherever the tests run.
        require_toolchain(&crate::cargo::repository_root()).unwrap();
    }
}
