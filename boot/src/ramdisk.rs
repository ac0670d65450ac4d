//! The boot ramdisk: a ustar archive with the kernel command line and other files.
//!
//! The bootloader loads the ramdisk next to the kernel; the kernel reads it with
//! `tar-no-std` (see `kernel/src/boot_args.rs`). The file [`CMDLINE_FILE`] holds
//! whitespace-separated `key=value` words such as `sched=q-learning log=debug`; later
//! steps add agent programs beside it. Only plain files with names up to 100 bytes are
//! written, which every tar reader understands.

use std::{fs, io, path::Path};

/// Name of the command line file inside the ramdisk (matches the kernel's constant).
pub const CMDLINE_FILE: &str = "cmdline";

/// Size of a tar block: headers and data are padded to it.
const BLOCK_SIZE: usize = 512;

/// Longest file name that fits the ustar `name` field.
const MAX_NAME_BYTES: usize = 100;

/// Largest file size the 11 octal digits of the `size` field can hold.
const MAX_FILE_BYTES: u64 = 0o77_777_777_777;

/// Permissions recorded for every file (`rw-r--r--`).
const FILE_MODE: u32 = 0o644;

/// Offsets and lengths of the ustar header fields that are written.
mod field {
    /// `name`: file name, NUL-padded.
    pub const NAME: (usize, usize) = (0, 100);
    /// `mode`: octal permissions.
    pub const MODE: (usize, usize) = (100, 8);
    /// `uid`: octal owner id.
    pub const UID: (usize, usize) = (108, 8);
    /// `gid`: octal group id.
    pub const GID: (usize, usize) = (116, 8);
    /// `size`: octal size in bytes.
    pub const SIZE: (usize, usize) = (124, 12);
    /// `mtime`: octal modification time.
    pub const MTIME: (usize, usize) = (136, 12);
    /// `chksum`: octal sum of the header bytes, this field counted as spaces.
    pub const CHECKSUM: (usize, usize) = (148, 8);
    /// `typeflag`: `'0'` for a regular file.
    pub const TYPE: usize = 156;
    /// `magic` and `version`: `"ustar\0"` then `"00"`.
    pub const MAGIC: (usize, usize) = (257, 8);
}

/// Magic and version of a POSIX ustar header.
const USTAR_MAGIC: &[u8; 8] = b"ustar\x0000";

/// Type flag of a regular file.
const TYPE_REGULAR: u8 = b'0';

/// An invalid ramdisk entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RamdiskError {
    /// The name is empty, longer than 100 bytes, or contains a NUL byte.
    BadName(String),
    /// The same name was added twice.
    Duplicate(String),
    /// The file is larger than a ustar header can describe (8 GiB).
    TooLarge(String),
}

impl std::fmt::Display for RamdiskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RamdiskError::BadName(name) => write!(
                f,
                "ramdisk file name {name:?} must be 1 to {MAX_NAME_BYTES} bytes without NUL"
            ),
            RamdiskError::Duplicate(name) => write!(f, "ramdisk file {name:?} added twice"),
            RamdiskError::TooLarge(name) => write!(f, "ramdisk file {name:?} is too large"),
        }
    }
}

impl std::error::Error for RamdiskError {}

/// Files for the boot ramdisk, in the order they were added.
#[derive(Clone, Debug, Default)]
pub struct Ramdisk {
    files: Vec<(String, Vec<u8>)>,
}

impl Ramdisk {
    /// Returns an empty ramdisk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the command line file holding `words` (e.g. `["sched=fifo", "log=debug"]`).
    pub fn cmdline<S: AsRef<str>>(
        &mut self,
        words: impl IntoIterator<Item = S>,
    ) -> Result<&mut Self, RamdiskError> {
        let mut text = words
            .into_iter()
            .map(|word| word.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join(" ");
        text.push('\n');
        self.file(CMDLINE_FILE, text.into_bytes())
    }

    /// Adds the file `name` with `contents`.
    pub fn file(
        &mut self,
        name: &str,
        contents: impl Into<Vec<u8>>,
    ) -> Result<&mut Self, RamdiskError> {
        if name.is_empty() || name.len() > MAX_NAME_BYTES || name.contains('\0') {
            return Err(RamdiskError::BadName(name.to_owned()));
        }
        if self.files.iter().any(|(existing, _)| existing == name) {
            return Err(RamdiskError::Duplicate(name.to_owned()));
        }
        let contents = contents.into();
        if contents.len() as u64 > MAX_FILE_BYTES {
            return Err(RamdiskError::TooLarge(name.to_owned()));
        }
        self.files.push((name.to_owned(), contents));
        Ok(self)
    }

    /// Returns true when no file was added.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Returns the archive: one header and padded data per file, then two zero blocks.
    pub fn to_tar(&self) -> Vec<u8> {
        let mut archive = Vec::new();
        for (name, contents) in &self.files {
            archive.extend_from_slice(&header(name, contents.len() as u64));
            archive.extend_from_slice(contents);
            archive.resize(archive.len().next_multiple_of(BLOCK_SIZE), 0);
        }
        archive.resize(archive.len() + 2 * BLOCK_SIZE, 0);
        archive
    }

    /// Writes the archive to `path`.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        fs::write(path, self.to_tar())
    }
}

/// Returns the ustar header of a regular file.
fn header(name: &str, size: u64) -> [u8; BLOCK_SIZE] {
    let mut block = [0u8; BLOCK_SIZE];
    put(&mut block, field::NAME, name.as_bytes());
    put_octal(&mut block, field::MODE, u64::from(FILE_MODE));
    put_octal(&mut block, field::UID, 0);
    put_octal(&mut block, field::GID, 0);
    put_octal(&mut block, field::SIZE, size);
    put_octal(&mut block, field::MTIME, 0);
    block[field::TYPE] = TYPE_REGULAR;
    put(&mut block, field::MAGIC, USTAR_MAGIC);
    // The checksum is computed with its own field filled with spaces.
    put(&mut block, field::CHECKSUM, &[b' '; 8]);
    let checksum: u64 = block.iter().map(|&byte| u64::from(byte)).sum();
    // Six octal digits, NUL, space: the traditional layout.
    let digits = format!("{checksum:06o}\0 ");
    put(&mut block, field::CHECKSUM, digits.as_bytes());
    block
}

/// Copies `bytes` into the field at `(offset, length)` (they always fit: checked above).
fn put(block: &mut [u8; BLOCK_SIZE], (offset, length): (usize, usize), bytes: &[u8]) {
    let count = bytes.len().min(length);
    block[offset..offset + count].copy_from_slice(&bytes[..count]);
}

/// Writes `value` as zero-padded octal digits followed by a NUL.
fn put_octal(block: &mut [u8; BLOCK_SIZE], field: (usize, usize), value: u64) {
    let digits = format!("{value:0width$o}\0", width = field.1 - 1);
    put(block, field, digits.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar_no_std::TarArchiveRef;

    #[test]
    fn kernel_reader_sees_every_file() {
        let mut ramdisk = Ramdisk::new();
        ramdisk
            .cmdline(["sched=fifo", "log=debug"])
            .unwrap()
            .file("agents/hello.bin", vec![0xaa; 1000])
            .unwrap()
            .file("empty", Vec::new())
            .unwrap();
        let archive = ramdisk.to_tar();
        assert_eq!(archive.len() % BLOCK_SIZE, 0);

        let reader = TarArchiveRef::new(&archive).unwrap();
        let entries: Vec<(String, Vec<u8>)> = reader
            .entries()
            .map(|entry| {
                (
                    entry.filename().as_str().unwrap().to_owned(),
                    entry.data().to_vec(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("cmdline".to_owned(), b"sched=fifo log=debug\n".to_vec()),
                ("agents/hello.bin".to_owned(), vec![0xaa; 1000]),
                ("empty".to_owned(), Vec::new()),
            ]
        );
    }

    #[test]
    fn header_checksum_matches_the_tar_rule() {
        let block = header("cmdline", 5);
        let stored = std::str::from_utf8(&block[148..154]).unwrap();
        let mut copy = block;
        copy[148..156].fill(b' ');
        let sum: u64 = copy.iter().map(|&byte| u64::from(byte)).sum();
        assert_eq!(u64::from_str_radix(stored, 8).unwrap(), sum);
        assert_eq!(&block[124..136], b"00000000005\0");
    }

    #[test]
    fn bad_entries_are_refused() {
        let mut ramdisk = Ramdisk::new();
        assert!(ramdisk.is_empty());
        assert!(matches!(
            ramdisk.file("", b"x".to_vec()),
            Err(RamdiskError::BadName(_))
        ));
        assert!(matches!(
            ramdisk.file(&"n".repeat(101), b"x".to_vec()),
            Err(RamdiskError::BadName(_))
        ));
        ramdisk.file("a", b"x".to_vec()).unwrap();
        assert!(matches!(
            ramdisk.file("a", b"y".to_vec()),
            Err(RamdiskError::Duplicate(_))
        ));
        assert!(!ramdisk.is_empty());
    }
}
