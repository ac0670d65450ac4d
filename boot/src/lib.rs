//! Turns a kernel ELF into bootable BIOS (MBR) and UEFI (GPT) disk images.
//!
//! This host library wraps the `bootloader` crate's [`DiskImageBuilder`]. It owns the
//! border between "a path somebody handed us" and "a disk image": the kernel file is
//! checked to be an ELF executable, the optional boot configuration is parsed before it
//! is written into the image, and every failure comes back as an [`Error`] that names
//! the file involved. `xtask run`, `xtask image` and `xtask test` all go through
//! [`ImageBuilder`]; [`ramdisk`] writes the tar archive that carries the kernel
//! command line.
//!
//! ```no_run
//! use std::path::Path;
//!
//! // Both images at once:
//! let images = boot::build_images(Path::new("kernel.elf"), Path::new("out"))?;
//! println!("{} {}", images.bios.display(), images.uefi.display());
//!
//! // Only what a test run needs, with a ramdisk:
//! let uefi = boot::ImageBuilder::new("kernel.elf")
//!     .ramdisk("agents.tar")
//!     .build(boot::Firmware::Uefi, Path::new("out/uefi.img"))?;
//! # Ok::<(), boot::Error>(())
//! ```
#![forbid(unsafe_code)]

use std::{
    fmt, fs,
    io::{self, Read},
    path::{Path, PathBuf},
    str::FromStr,
};

pub use bootloader::BootConfig;
use bootloader::DiskImageBuilder;

pub mod ramdisk;
pub use ramdisk::Ramdisk;

/// The four bytes every ELF file starts with.
const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];

/// File name of the BIOS image written by [`ImageBuilder::build_all`].
pub const BIOS_IMAGE_NAME: &str = "bios.img";

/// File name of the UEFI image written by [`ImageBuilder::build_all`].
pub const UEFI_IMAGE_NAME: &str = "uefi.img";

/// The firmware a disk image is made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Firmware {
    /// Legacy BIOS (SeaBIOS under QEMU): an MBR-partitioned image.
    Bios,
    /// UEFI (OVMF under QEMU): a GPT-partitioned image with an EFI system partition.
    Uefi,
}

impl Firmware {
    /// Every firmware, in the order images are built and tests are run.
    pub const ALL: [Firmware; 2] = [Firmware::Bios, Firmware::Uefi];

    /// Returns the lower-case name used on the command line and in test names.
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }

    /// Returns the file name [`ImageBuilder::build_all`] gives this firmware's image.
    pub fn image_name(self) -> &'static str {
        match self {
            Firmware::Bios => BIOS_IMAGE_NAME,
            Firmware::Uefi => UEFI_IMAGE_NAME,
        }
    }
}

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Firmware {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "bios" => Ok(Firmware::Bios),
            "uefi" => Ok(Firmware::Uefi),
            _ => Err(Error::UnknownFirmware(text.to_owned())),
        }
    }
}

/// Paths of the two images written by [`build_images`] / [`ImageBuilder::build_all`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// The MBR image for legacy BIOS machines.
    pub bios: PathBuf,
    /// The GPT image for UEFI machines.
    pub uefi: PathBuf,
}

impl Images {
    /// Returns the image made for `firmware`.
    pub fn get(&self, firmware: Firmware) -> &Path {
        match firmware {
            Firmware::Bios => &self.bios,
            Firmware::Uefi => &self.uefi,
        }
    }
}

/// Everything that can go wrong while making an image.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An input file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The kernel file is not an ELF executable.
    NotElf(PathBuf),
    /// The boot configuration file is not a valid `bootloader` `BootConfig` in JSON.
    BadBootConfig {
        /// The file.
        path: PathBuf,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
    /// The output directory could not be created.
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The `bootloader` crate failed to write the image.
    Write {
        /// The image being written.
        path: PathBuf,
        /// Which kind of image.
        firmware: Firmware,
        /// The `bootloader` crate's error chain.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A firmware name other than `bios` or `uefi`.
    UnknownFirmware(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Error::NotElf(path) => write!(
                f,
                "{} is not an ELF file (expected the kernel built for x86_64-unknown-none)",
                path.display()
            ),
            Error::BadBootConfig { path, source } => {
                write!(f, "invalid boot config {}: {source}", path.display())
            }
            Error::CreateDir { path, source } => {
                write!(f, "cannot create directory {}: {source}", path.display())
            }
            Error::Write {
                path,
                firmware,
                source,
            } => write!(
                f,
                "cannot write {firmware} image {}: {source:#}",
                path.display()
            ),
            Error::UnknownFirmware(name) => {
                write!(f, "unknown firmware `{name}` (expected `bios` or `uefi`)")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. } | Error::CreateDir { source, .. } => Some(source),
            Error::BadBootConfig { source, .. } => Some(source),
            Error::Write { source, .. } => Some(source.as_ref()),
            Error::NotElf(_) | Error::UnknownFirmware(_) => None,
        }
    }
}

/// Collects what goes into a disk image, then writes one image per firmware.
///
/// The kernel is required; the ramdisk and the boot configuration are optional. The
/// `bootloader` crate loads the kernel and the ramdisk into memory at boot and hands
/// their location to the kernel in `BootInfo`.
#[derive(Clone, Debug)]
pub struct ImageBuilder {
    kernel: PathBuf,
    ramdisk: Option<PathBuf>,
    boot_config: Option<PathBuf>,
}

impl ImageBuilder {
    /// Returns a builder for an image that boots the kernel ELF at `kernel`.
    pub fn new(kernel: impl Into<PathBuf>) -> Self {
        Self {
            kernel: kernel.into(),
            ramdisk: None,
            boot_config: None,
        }
    }

    /// Adds a ramdisk: any file, loaded into memory next to the kernel at boot.
    pub fn ramdisk(mut self, path: impl Into<PathBuf>) -> Self {
        self.ramdisk = Some(path.into());
        self
    }

    /// Adds a boot configuration: a JSON file holding a `bootloader` [`BootConfig`]
    /// (framebuffer size, log level, serial logging). It is parsed before it is used.
    pub fn boot_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.boot_config = Some(path.into());
        self
    }

    /// Returns the kernel ELF path this builder was made with.
    pub fn kernel(&self) -> &Path {
        &self.kernel
    }

    /// Writes the image for `firmware` to `image_path`, creating its parent directory.
    ///
    /// Returns `image_path` on success.
    pub fn build(&self, firmware: Firmware, image_path: &Path) -> Result<PathBuf, Error> {
        let disk = self.disk_builder()?;
        write_image(&disk, firmware, image_path)?;
        Ok(image_path.to_path_buf())
    }

    /// Writes `bios.img` and `uefi.img` into `out_dir`, creating it if needed.
    pub fn build_all(&self, out_dir: &Path) -> Result<Images, Error> {
        let disk = self.disk_builder()?;
        let images = Images {
            bios: out_dir.join(BIOS_IMAGE_NAME),
            uefi: out_dir.join(UEFI_IMAGE_NAME),
        };
        for firmware in Firmware::ALL {
            write_image(&disk, firmware, images.get(firmware))?;
        }
        Ok(images)
    }

    /// Validates the inputs and returns the `bootloader` crate's builder for them.
    fn disk_builder(&self) -> Result<DiskImageBuilder, Error> {
        check_elf(&self.kernel)?;
        let mut disk = DiskImageBuilder::new(self.kernel.clone());
        if let Some(ramdisk) = &self.ramdisk {
            // Open it now so a typo fails here, with the path, not deep inside `bootloader`.
            fs::File::open(ramdisk).map_err(|source| Error::Read {
                path: ramdisk.clone(),
                source,
            })?;
            disk.set_ramdisk(ramdisk.clone());
        }
        if let Some(path) = &self.boot_config {
            disk.set_boot_config(&read_boot_config(path)?);
        }
        Ok(disk)
    }
}

/// Writes both images for the kernel at `kernel_elf` into `out_dir`.
///
/// Shorthand for `ImageBuilder::new(kernel_elf).build_all(out_dir)`.
pub fn build_images(kernel_elf: &Path, out_dir: &Path) -> Result<Images, Error> {
    ImageBuilder::new(kernel_elf).build_all(out_dir)
}

/// Writes the BIOS (MBR) image for the kernel at `kernel_elf` to `image_path`.
pub fn build_bios_image(kernel_elf: &Path, image_path: &Path) -> Result<PathBuf, Error> {
    ImageBuilder::new(kernel_elf).build(Firmware::Bios, image_path)
}

/// Writes the UEFI (GPT) image for the kernel at `kernel_elf` to `image_path`.
pub fn build_uefi_image(kernel_elf: &Path, image_path: &Path) -> Result<PathBuf, Error> {
    ImageBuilder::new(kernel_elf).build(Firmware::Uefi, image_path)
}

/// Returns an error unless `path` can be read and starts with the ELF magic number.
fn check_elf(path: &Path) -> Result<(), Error> {
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut magic = [0u8; ELF_MAGIC.len()];
    let mut file = fs::File::open(path).map_err(read_error)?;
    match file.read_exact(&mut magic) {
        Ok(()) if magic == ELF_MAGIC => Ok(()),
        Ok(()) => Err(Error::NotElf(path.to_path_buf())),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
            Err(Error::NotElf(path.to_path_buf()))
        }
        Err(error) => Err(read_error(error)),
    }
}

/// Returns the boot configuration parsed from the JSON file at `path`.
fn read_boot_config(path: &Path) -> Result<BootConfig, Error> {
    let text = fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| Error::BadBootConfig {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes one image, creating the parent directory first.
fn write_image(
    disk: &DiskImageBuilder,
    firmware: Firmware,
    image_path: &Path,
) -> Result<(), Error> {
    if let Some(parent) = image_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| Error::CreateDir {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let result = match firmware {
        Firmware::Bios => disk.create_bios_image(image_path),
        Firmware::Uefi => disk.create_uefi_image(image_path),
    };
    result.map_err(|error| Error::Write {
        path: image_path.to_path_buf(),
        firmware,
        source: error.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns a fresh, empty scratch directory under the system temporary directory.
    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("boot-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Returns a file that passes the ELF check. The bootloader parses the kernel only
    /// at boot time, so a header-only stand-in is enough to exercise image creation.
    fn fake_elf(dir: &Path) -> PathBuf {
        let path = dir.join("kernel");
        let mut bytes = ELF_MAGIC.to_vec();
        bytes.resize(4096, 0);
        fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn firmware_names_round_trip() {
        for firmware in Firmware::ALL {
            assert_eq!(firmware.name().parse::<Firmware>().unwrap(), firmware);
            assert_eq!(firmware.to_string(), firmware.name());
        }
        assert_eq!("UEFI".parse::<Firmware>().unwrap(), Firmware::Uefi);
        assert!(matches!(
            "coreboot".parse::<Firmware>(),
            Err(Error::UnknownFirmware(_))
        ));
    }

    #[test]
    fn missing_kernel_is_a_read_error() {
        let dir = scratch_dir("missing");
        let error = build_images(&dir.join("nope"), &dir).unwrap_err();
        assert!(matches!(error, Error::Read { .. }), "{error}");
    }

    #[test]
    fn non_elf_kernel_is_rejected() {
        let dir = scratch_dir("not-elf");
        let kernel = dir.join("kernel");
        fs::write(&kernel, b"#!/bin/sh\necho hi\n").unwrap();
        assert!(matches!(build_images(&kernel, &dir), Err(Error::NotElf(_))));
        fs::write(&kernel, b"\x7fE").unwrap();
        assert!(matches!(build_images(&kernel, &dir), Err(Error::NotElf(_))));
    }

    #[test]
    fn missing_ramdisk_is_reported_with_its_path() {
        let dir = scratch_dir("ramdisk");
        let kernel = fake_elf(&dir);
        let error = ImageBuilder::new(kernel)
            .ramdisk(dir.join("no-such-ramdisk"))
            .build(Firmware::Bios, &dir.join("bios.img"))
            .unwrap_err();
        assert!(error.to_string().contains("no-such-ramdisk"), "{error}");
    }

    #[test]
    fn bad_boot_config_is_rejected() {
        let dir = scratch_dir("config");
        let kernel = fake_elf(&dir);
        let config = dir.join("boot.json");
        fs::write(&config, b"{ not json").unwrap();
        let error = ImageBuilder::new(kernel)
            .boot_config(&config)
            .build(Firmware::Uefi, &dir.join("uefi.img"))
            .unwrap_err();
        assert!(matches!(error, Error::BadBootConfig { .. }), "{error}");
    }

    #[test]
    fn builds_both_images() {
        let dir = scratch_dir("both");
        let kernel = fake_elf(&dir);
        let ramdisk = dir.join("ramdisk");
        fs::write(&ramdisk, b"agent programs").unwrap();
        let config = dir.join("boot.json");
        fs::write(&config, serde_json::to_vec(&BootConfig::default()).unwrap()).unwrap();

        let out = dir.join("out/nested");
        let images = ImageBuilder::new(&kernel)
            .ramdisk(&ramdisk)
            .boot_config(&config)
            .build_all(&out)
            .unwrap();
        assert_eq!(images.bios, out.join(BIOS_IMAGE_NAME));
        assert_eq!(images.uefi, out.join(UEFI_IMAGE_NAME));
        for firmware in Firmware::ALL {
            let bytes = fs::read(images.get(firmware)).unwrap();
            // Both layouts end the first sector with the MBR boot signature
            // (a protective MBR for GPT).
            assert_eq!(&bytes[510..512], &[0x55, 0xaa], "{firmware}");
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
