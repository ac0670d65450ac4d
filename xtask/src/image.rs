//! `cargo xtask image`: bootable disk images for real machines (and for QEMU).
//!
//! Writes `bios.img` (MBR, legacy BIOS or UEFI CSM) and `uefi.img` (GPT with an EFI
//! system partition), then prints their sizes and the `dd` command that puts one on a
//! USB stick.

use std::{fs, path::Path, path::PathBuf};

use boot::Firmware;

use crate::{
    Result,
    boot_options::{self, BootOptions},
    cargo::{self, Metadata, Profile},
    prereq,
};

/// Bytes in a mebibyte, for printing image sizes.
const MIB: f64 = 1024.0 * 1024.0;

/// Arguments of `cargo xtask image`.
#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// Directory to write bios.img and uefi.img into [default: target/image].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Build the kernel with optimisations.
    #[arg(long)]
    release: bool,
    /// Options passed to the kernel (through the boot ramdisk).
    #[command(flatten)]
    boot: BootOptions,
}

/// Runs `cargo xtask image`.
pub fn image(root: &Path, args: &ImageArgs) -> Result<()> {
    prereq::require_toolchain(root)?;
    let metadata = Metadata::load(root)?;
    let profile = Profile::from_release_flag(args.release);
    let kernel = cargo::build_kernel(root, &metadata, profile)?;
    let agents = cargo::build_agents(root, &metadata, profile)?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| metadata.target_dir.join("image"));
    let words = args.boot.cmdline_words();
    let images =
        boot_options::image_builder(&kernel, &words, &agents, &out_dir.join("ramdisk.tar"))?
            .build_all(&out_dir)?;

    println!("kernel: {}", kernel.display());
    if !words.is_empty() {
        println!("kernel command line: {}", words.join(" "));
    }
    for firmware in Firmware::ALL {
        let path = images.get(firmware);
        let size = fs::metadata(path)?.len();
        println!(
            "{firmware} image: {} ({:.1} MiB)",
            path.display(),
            size as f64 / MIB
        );
    }
    println!(
        "\nTo boot a real machine, write ONE image to a USB stick. WARNING: dd overwrites the \
         whole device you name; find the stick with `lsblk` first (compare before and after \
         plugging it in) and never name your system disk.\n  \
         UEFI machine:        sudo dd if={uefi} of=/dev/sdX bs=4M conv=fsync status=progress\n  \
         legacy BIOS machine: sudo dd if={bios} of=/dev/sdX bs=4M conv=fsync status=progress",
        uefi = images.uefi.display(),
        bios = images.bios.display()
    );
    Ok(())
}
