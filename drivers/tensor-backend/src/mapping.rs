//! The shared file mapped into this process, seen as atomic words: the crate's one mapping `unsafe`.
//!
//! [`SharedFile::create`] opens (or creates) the file QEMU's `memory-backend-file`
//! uses, sizes it and maps it shared; [`SharedFile::map`] maps a file already open
//! (the descriptor an ivshmem server hands its clients, say). [`SharedFile::words`]
//! lends the mapping as `&[AtomicU32]`, over which [`tensor_ring::SharedWords`]
//! implements the protocol's region. Nothing else in the crate touches the mapping's
//! memory; the file itself is lent as a descriptor ([`AsFd`]) for the doorbell server
//! to pass on.

#![allow(unsafe_code)]

use std::{
    fs::{File, OpenOptions},
    io,
    os::fd::{AsFd, BorrowedFd},
    path::Path,
    slice,
    sync::atomic::AtomicU32,
};

use memmap2::{MmapOptions, MmapRaw};
use tensor_ring::{SharedWords, region::WORD_BYTES};

/// A file mapped shared, read-write, for the life of the value.
#[derive(Debug)]
pub struct SharedFile {
    map: MmapRaw,
    /// Kept open with the mapping: what is mapped, and what [`AsFd`] lends.
    file: File,
}

impl SharedFile {
    /// Opens `path` read-write (creating it if missing), sets its length to `bytes`
    /// if it differs, and maps it shared.
    ///
    /// Returns an error if `bytes` is zero or not a multiple of [`WORD_BYTES`], or if
    /// the file cannot be opened, resized or mapped.
    pub fn create(path: &Path, bytes: u64) -> io::Result<Self> {
        check_length(bytes)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if file.metadata()?.len() != bytes {
            file.set_len(bytes)?;
        }
        Self::map(file)
    }

    /// Maps all of `file` (open read-write) shared, at its current length.
    ///
    /// Returns an error if the length is zero or not a multiple of [`WORD_BYTES`],
    /// or if the file cannot be mapped.
    pub fn map(file: File) -> io::Result<Self> {
        let length = check_length(file.metadata()?.len())?;
        let map = MmapOptions::new().len(length).map_raw(&file)?;
        Ok(Self { map, file })
    }

    /// Returns the mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Returns whether the mapping is empty (never: `create` refuses zero bytes).
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// Returns the mapping as atomic words.
    pub fn words(&self) -> &[AtomicU32] {
        let pointer = self.map.as_ptr().cast::<AtomicU32>();
        // SAFETY:
        // 1. `pointer` is where `mmap` placed the mapping: non-null and page-aligned,
        //    so aligned for `AtomicU32` (4 bytes).
        // 2. The mapping is readable and writable for `self.map.len()` bytes (a
        //    multiple of 4, checked in `create`), so for `len() / 4` words, and stays
        //    mapped while `self` lives; the returned slice borrows `self`.
        // 3. `AtomicU32` has the size and bit validity of `u32`: whatever bytes the
        //    guest or QEMU wrote are a valid value.
        // 4. Other threads and processes modify this memory concurrently. That is
        //    allowed because every access through the slice is atomic, and nothing in
        //    this process makes a non-atomic reference to the mapping (`MmapRaw` hands
        //    out raw pointers only, and this is the one place that uses them).
        // A peer truncating the file would make accesses fault (SIGBUS), not corrupt
        // memory; QEMU does not truncate its memory backend.
        unsafe { slice::from_raw_parts(pointer, self.map.len() / WORD_BYTES) }
    }

    /// Returns the protocol region over the mapping.
    pub fn region(&self) -> SharedWords<'_> {
        SharedWords::new(self.words())
    }
}

impl AsFd for SharedFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Returns `bytes` as a mapping length, or an error if it is zero, not a whole
/// number of words or beyond the address space.
fn check_length(bytes: u64) -> io::Result<usize> {
    if bytes == 0 || !bytes.is_multiple_of(WORD_BYTES as u64) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a shared region of {bytes} bytes is not a whole number of words"),
        ));
    }
    usize::try_from(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "region too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensor_ring::Region;

    #[test]
    fn two_mappings_of_one_file_share_their_words() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("tensor0");
        let first = SharedFile::create(&path, 8192).unwrap();
        let second = SharedFile::create(&path, 8192).unwrap();
        assert_eq!(first.len(), 8192);
        first.region().write_u32(4096, 0xDEAD_BEEF).unwrap();
        assert_eq!(second.region().read_u32(4096), Ok(0xDEAD_BEEF));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8192);
    }

    #[test]
    fn bad_sizes_are_refused() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("tensor0");
        assert!(SharedFile::create(&path, 0).is_err());
        assert!(SharedFile::create(&path, 4098).is_err());
        assert!(SharedFile::create(&directory.path().join("no/such/dir"), 4096).is_err());
        let odd = tempfile::tempfile().unwrap();
        odd.set_len(4098).unwrap();
        assert!(SharedFile::map(odd).is_err());
        assert!(
            SharedFile::map(tempfile::tempfile().unwrap()).is_err(),
            "empty"
        );
    }

    #[test]
    fn a_file_lent_as_a_descriptor_maps_the_same_words() {
        let directory = tempfile::tempdir().unwrap();
        let first = SharedFile::create(&directory.path().join("tensor0"), 8192).unwrap();
        let descriptor = first.as_fd().try_clone_to_owned().unwrap();
        let second = SharedFile::map(File::from(descriptor)).unwrap();
        assert_eq!(second.len(), 8192);
        second.region().write_u32(64, 7).unwrap();
        assert_eq!(first.region().read_u32(64), Ok(7));
    }
}
