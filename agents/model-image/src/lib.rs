//! The AIMG model image and DSET dataset image formats.
//!
//! A model image holds a small quantised network (a chain of dense `i8` layers
//! with `i32` biases and requantisation constants); a dataset image holds
//! labelled `u8` samples. Both are parsed zero-copy and strictly from a byte
//! slice, so a kernel or agent can take one from a ramdisk or a message and use
//! it in place:
//!
//! - [`parse`] checks an AIMG image and returns a [`ModelImage`], whose
//!   [`Layer`]s borrow their weights and biases from the input;
//! - [`parse_dataset`] checks a DSET image and returns a [`Dataset`].
//!
//! Every malformed input — truncated anywhere, a wrong field, a flipped bit, a
//! trailing byte — is refused with an [`ImageError`] naming the cause; no input
//! makes the parsers panic, and all their arithmetic is overflow-checked.
//!
//! With the `alloc` feature the crate also writes both formats (`write`,
//! `LayerSpec`, `write_dataset`).
//!
//! The crate is `no_std`, has no `unsafe`, and needs no allocator without
//! `alloc`.
//!
//! ```
//! # #[cfg(feature = "alloc")] {
//! use model_image::{LayerKind, LayerSpec, parse, write};
//!
//! let layer = LayerSpec {
//!     kind: LayerKind::Dense,
//!     relu: true,
//!     in_dim: 2,
//!     out_dim: 1,
//!     w_scale: 0.01,
//!     in_scale: 0.1,
//!     out_scale: 0.05,
//!     requant_multiplier: 1 << 30,
//!     requant_shift: 3,
//!     weights: vec![-3, 7],
//!     bias: vec![100],
//! };
//! let image = write(0.1, &[layer]);
//! let model = parse(&image)?;
//! let l = model.layer(0).unwrap();
//! assert_eq!((model.input_dim(), model.output_dim()), (2, 1));
//! assert_eq!(l.weights().collect::<Vec<i8>>(), [-3, 7]);
//! assert_eq!(l.bias(0), 100);
//! # }
//! # Ok::<(), model_image::ImageError>(())
//! ```
//!
//! The rest of this page is the format's specification (also in `FORMAT.md`).
//!
#![doc = include_str!("../FORMAT.md")]
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod dataset;
mod error;
mod model;

pub use dataset::{
    DATASET_DIGEST_OFFSET, DATASET_HEADER_LEN, DATASET_MAGIC, DATASET_VERSION, Dataset,
    FEATURE_KIND_U8, MAX_CLASSES, MAX_FEATURE_DIM, parse_dataset,
};
pub use error::{ImageError, ImageFormat, ScaleField};
pub use model::{
    DESCRIPTOR_LEN, DIGEST_OFFSET, FLAG_RELU, HEADER_LEN, Layer, LayerKind, MAGIC, MAX_DIM,
    MAX_LAYERS, MAX_SHIFT, MAX_WEIGHTS, ModelImage, VERSION, parse,
};

#[cfg(feature = "alloc")]
pub use dataset::write_dataset;
#[cfg(feature = "alloc")]
pub use model::{LayerSpec, write};

use sha2::{Digest as _, Sha256};

/// The SHA-256 of `image` with the 32 bytes at `digest_offset` left out: the
/// digest both formats carry. `None` if the image is shorter than the field.
fn image_digest(image: &[u8], digest_offset: usize) -> Option<[u8; 32]> {
    let after = digest_offset.checked_add(32)?;
    let before = image.get(..digest_offset)?;
    let rest = image.get(after..)?;
    let mut hasher = Sha256::new();
    hasher.update(before);
    hasher.update(rest);
    Some(hasher.finalize().into())
}

/// Checks the start both formats share: the magic (also a prefix of it, so
/// a truncated image of the right kind says "truncated", not "bad magic"),
/// an `N`-byte header, and the version in the two bytes after the magic.
/// Returns the header and what follows it.
fn split_header<'a, const N: usize>(
    bytes: &'a [u8],
    format: ImageFormat,
    magic: &[u8; 4],
    version: u16,
) -> Result<(&'a [u8; N], &'a [u8]), ImageError> {
    let magic_len = bytes.len().min(magic.len());
    if bytes.get(..magic_len) != magic.get(..magic_len) {
        return Err(ImageError::BadMagic { format });
    }
    let Some((header, rest)) = bytes.split_first_chunk::<N>() else {
        return Err(ImageError::TruncatedHeader {
            format,
            len: bytes.len(),
            need: N,
        });
    };
    let found = u16_at(header, 4);
    if found != version {
        return Err(ImageError::UnsupportedVersion {
            format,
            version: found,
        });
    }
    Ok((header, rest))
}

/// Little-endian field readers over a slice. A read past the end yields 0; the
/// parsers check lengths before reading, so this never happens there, but it
/// keeps every read panic-free by construction.
fn bytes_at<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    b.get(off..)
        .and_then(|s| s.first_chunk::<N>())
        .copied()
        .unwrap_or([0; N])
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(bytes_at(b, off))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(bytes_at(b, off))
}

fn i32_at(b: &[u8], off: usize) -> i32 {
    i32::from_le_bytes(bytes_at(b, off))
}

fn f32_at(b: &[u8], off: usize) -> f32 {
    f32::from_le_bytes(bytes_at(b, off))
}

/// Whether `len` bytes at `offset` lie within `total` bytes, overflow-safe.
fn in_bounds(offset: u32, len: u64, total: usize) -> bool {
    u64::from(offset)
        .checked_add(len)
        .is_some_and(|end| end <= total as u64)
}
