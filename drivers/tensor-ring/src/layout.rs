//! The shared region's layout: the header's fields, where the rings and the data area lie.
//!
//! ```text
//! 0                 HEADER_BYTES        + slots * 64           + slots * 32   (page up)   region end
//! | header (1 page) | submission ring    | completion ring     | pad | data area ...      |
//! ```
//!
//! The backend computes a [`Layout`] with [`Layout::new`] and writes it into the header
//! with [`write_header`]; the guest reads it back with [`read_header`], which checks
//! every field (the guest does not take the device's word either). Field offsets are
//! in [`field`].

use crate::{
    descriptor::{COMPLETION_BYTES, DESCRIPTOR_BYTES},
    region::{Region, RegionError, WORD_BYTES},
    validate::Limits,
};

/// The header's magic word: the bytes `TRNG` as a little-endian `u32`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"TRNG");

/// The protocol version this crate speaks.
pub const VERSION: u32 = 1;

/// Bytes of the header, which is one 4 KiB page.
pub const HEADER_BYTES: usize = 4096;

/// The data area starts on a multiple of this (a page), as does the region's length.
pub const PAGE_BYTES: usize = 4096;

/// The most slots a ring may have (a submission ring of 256 KiB).
pub const MAX_RING_SLOTS: u32 = 4096;

/// The smallest data area a layout accepts (one page).
pub const MIN_DATA_BYTES: u64 = PAGE_BYTES as u64;

/// The largest region a layout accepts (1 TiB; QEMU regions are far smaller).
pub const MAX_REGION_BYTES: u64 = 1 << 40;

/// Byte offsets of the header's fields. All are `u32` words unless marked `u64`
/// (two words, low first). Each field has one writer, named on it.
pub mod field {
    /// `u32`, backend: [`MAGIC`](super::MAGIC).
    pub const MAGIC: usize = 0x00;
    /// `u32`, backend: [`VERSION`](super::VERSION).
    pub const VERSION: usize = 0x04;
    /// `u64`, backend: the region's length in bytes.
    pub const REGION_BYTES: usize = 0x08;
    /// `u32`, backend: byte offset of the submission ring.
    pub const SUBMISSION_OFFSET: usize = 0x10;
    /// `u32`, backend: slots of the submission ring (a power of two).
    pub const SUBMISSION_SLOTS: usize = 0x14;
    /// `u32`, backend: byte offset of the completion ring.
    pub const COMPLETION_OFFSET: usize = 0x18;
    /// `u32`, backend: slots of the completion ring (a power of two).
    pub const COMPLETION_SLOTS: usize = 0x1C;
    /// `u32`, backend: byte offset of the data area (operand offsets count from here).
    pub const DATA_OFFSET: usize = 0x20;
    /// `u32`, backend: the largest matrix dimension the backend accepts.
    pub const MAX_DIMENSION: usize = 0x24;
    /// `u64`, backend: the largest operand, in bytes, the backend accepts.
    pub const MAX_OPERAND_BYTES: usize = 0x28;
    /// `u64`, backend: the most multiply-adds (`m * k * n`) one job may ask for.
    pub const MAX_MULTIPLY_ADDS: usize = 0x30;
    /// `u32`, backend: a [`DeviceStatus`](super::DeviceStatus) code.
    pub const DEVICE_STATUS: usize = 0x40;
    /// `u32`, backend: bumped on every pass of the backend's loop (liveness).
    pub const HEARTBEAT: usize = 0x44;
    /// `u32`, backend: the last guest epoch whose ring reset the backend performed.
    pub const BACKEND_EPOCH: usize = 0x48;
    /// `u32`, backend: polls that found a guest ring index out of range (wrapping).
    pub const RING_FAULTS: usize = 0x4C;
    /// `u32`, backend: 0 when no doorbells are served; else the backend's ivshmem
    /// peer ID plus 1. The guest rings that peer's vector 0 after a submission, and
    /// a descriptor with [`FLAG_NOTIFY`](crate::descriptor::FLAG_NOTIFY) gets the
    /// guest's vector 0 rung after its completion.
    pub const DOORBELL: usize = 0x50;
    /// `u32`, guest: bumped to ask for a ring reset (see the protocol's reset rules).
    pub const GUEST_EPOCH: usize = 0x80;
    /// `u32`, guest: submission ring tail (next slot the guest fills), free-running.
    pub const SUBMISSION_TAIL: usize = 0x100;
    /// `u32`, backend: submission ring head (next slot the backend takes), free-running.
    pub const SUBMISSION_HEAD: usize = 0x140;
    /// `u32`, backend: completion ring tail (next slot the backend fills), free-running.
    pub const COMPLETION_TAIL: usize = 0x180;
    /// `u32`, guest: completion ring head (next slot the guest takes), free-running.
    pub const COMPLETION_HEAD: usize = 0x1C0;
}

/// The backend's state as the header's [`field::DEVICE_STATUS`] word says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    /// 0: the header is being written (or the region was never initialised).
    Initialising,
    /// 1: the backend serves the rings.
    Ready,
    /// 2: the backend has stopped (clean shutdown); nothing will be served.
    Stopped,
}

impl DeviceStatus {
    /// Returns the status's code.
    pub fn code(self) -> u32 {
        match self {
            Self::Initialising => 0,
            Self::Ready => 1,
            Self::Stopped => 2,
        }
    }

    /// Returns the status with `code`, or `None` for an unknown code.
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Self::Initialising),
            1 => Some(Self::Ready),
            2 => Some(Self::Stopped),
            _ => None,
        }
    }
}

/// Where one ring lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingGeometry {
    offset: usize,
    slots: u32,
    entry_bytes: usize,
}

impl RingGeometry {
    /// Returns the byte offset of the ring's first slot.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Returns the number of slots (a power of two).
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Returns the bytes of one entry.
    pub fn entry_bytes(&self) -> usize {
        self.entry_bytes
    }

    /// Returns the bytes the ring occupies.
    pub fn bytes(&self) -> usize {
        self.slots as usize * self.entry_bytes
    }

    /// Returns the byte offset of the slot a free-running `index` falls in.
    pub fn slot_offset(&self, index: u32) -> usize {
        let slot = (index & (self.slots - 1)) as usize;
        self.offset + slot * self.entry_bytes
    }
}

/// Why a layout cannot be built or a header cannot be accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// A ring's slot count is zero, not a power of two, or over [`MAX_RING_SLOTS`].
    BadSlotCount(u32),
    /// The region's length is not a multiple of [`PAGE_BYTES`].
    RegionNotPageMultiple(u64),
    /// The region is too small for the header, the rings and [`MIN_DATA_BYTES`].
    RegionTooSmall(u64),
    /// The region is over [`MAX_REGION_BYTES`] or does not fit this machine's `usize`.
    RegionTooLarge(u64),
    /// The header's magic word is not [`MAGIC`].
    BadMagic(u32),
    /// The header's version is not [`VERSION`].
    UnsupportedVersion(u32),
    /// The header says the region is longer than the region is.
    LongerThanRegion {
        /// What the header says.
        header: u64,
        /// What the region is.
        actual: usize,
    },
    /// A ring or data offset in the header differs from the layout its sizes imply.
    OffsetsDisagree,
    /// The header's limits are zero.
    BadLimits,
    /// The region itself refused an access.
    Region(RegionError),
}

impl From<RegionError> for LayoutError {
    fn from(error: RegionError) -> Self {
        Self::Region(error)
    }
}

/// Where everything lies in a region: checked, so every offset in it is in range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    region_bytes: u64,
    submission: RingGeometry,
    completion: RingGeometry,
    data_offset: usize,
}

/// Returns `value` rounded up to a multiple of `to` (a power of two), if it fits.
fn round_up(value: usize, to: usize) -> Option<usize> {
    value.checked_add(to - 1).map(|sum| sum & !(to - 1))
}

/// Returns `Ok` if `slots` is a valid slot count.
fn check_slots(slots: u32) -> Result<(), LayoutError> {
    if slots == 0 || !slots.is_power_of_two() || slots > MAX_RING_SLOTS {
        return Err(LayoutError::BadSlotCount(slots));
    }
    Ok(())
}

impl Layout {
    /// Returns the layout of a region of `region_bytes` with rings of the given slot
    /// counts: the header, the submission ring, the completion ring, then the data
    /// area from the next page to the end.
    pub fn new(
        region_bytes: u64,
        submission_slots: u32,
        completion_slots: u32,
    ) -> Result<Self, LayoutError> {
        check_slots(submission_slots)?;
        check_slots(completion_slots)?;
        if region_bytes > MAX_REGION_BYTES || usize::try_from(region_bytes).is_err() {
            return Err(LayoutError::RegionTooLarge(region_bytes));
        }
        if !region_bytes.is_multiple_of(PAGE_BYTES as u64) {
            return Err(LayoutError::RegionNotPageMultiple(region_bytes));
        }
        let submission = RingGeometry {
            offset: HEADER_BYTES,
            slots: submission_slots,
            entry_bytes: DESCRIPTOR_BYTES,
        };
        let completion = RingGeometry {
            offset: submission.offset + submission.bytes(),
            slots: completion_slots,
            entry_bytes: COMPLETION_BYTES,
        };
        // Slot counts are at most MAX_RING_SLOTS, so these sums are far from overflow.
        let data_offset = round_up(completion.offset + completion.bytes(), PAGE_BYTES)
            .ok_or(LayoutError::RegionTooSmall(region_bytes))?;
        let data_start = data_offset as u64;
        if region_bytes < data_start + MIN_DATA_BYTES {
            return Err(LayoutError::RegionTooSmall(region_bytes));
        }
        Ok(Self {
            region_bytes,
            submission,
            completion,
            data_offset,
        })
    }

    /// Returns the region's length in bytes.
    pub fn region_bytes(&self) -> u64 {
        self.region_bytes
    }

    /// Returns the submission ring's geometry.
    pub fn submission(&self) -> RingGeometry {
        self.submission
    }

    /// Returns the completion ring's geometry.
    pub fn completion(&self) -> RingGeometry {
        self.completion
    }

    /// Returns the byte offset of the data area in the region.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// Returns the data area's length in bytes.
    pub fn data_bytes(&self) -> u64 {
        self.region_bytes - self.data_offset as u64
    }

    /// Returns the region offset of byte `offset` of the data area, if it lies there.
    pub fn data_to_region(&self, offset: u64) -> Option<usize> {
        if offset >= self.data_bytes() {
            return None;
        }
        // In range: offset < data_bytes, and region_bytes fits usize (checked in new).
        Some(self.data_offset + offset as usize)
    }
}

/// Writes `layout` and `limits` into the header of `region`, zeroes the rest of the
/// header and both rings, and leaves the status [`DeviceStatus::Initialising`]. The
/// backend sets [`DeviceStatus::Ready`] afterwards (a release store), so a guest that
/// sees `Ready` sees the whole header.
pub fn write_header<R: Region + ?Sized>(
    region: &mut R,
    layout: &Layout,
    limits: &Limits,
) -> Result<(), LayoutError> {
    if (region.len() as u64) < layout.region_bytes {
        return Err(LayoutError::LongerThanRegion {
            header: layout.region_bytes,
            actual: region.len(),
        });
    }
    region.write_u32(field::DEVICE_STATUS, DeviceStatus::Initialising.code())?;
    let zeros = [0u8; 256];
    let zeroed_end = layout.data_offset;
    let mut offset = 0;
    while offset < zeroed_end {
        let chunk = (zeroed_end - offset).min(zeros.len());
        region.write_bytes(offset, &zeros[..chunk])?;
        offset += chunk;
    }
    region.write_u32(field::VERSION, VERSION)?;
    region.write_u64(field::REGION_BYTES, layout.region_bytes)?;
    write_offset(region, field::SUBMISSION_OFFSET, layout.submission.offset)?;
    region.write_u32(field::SUBMISSION_SLOTS, layout.submission.slots)?;
    write_offset(region, field::COMPLETION_OFFSET, layout.completion.offset)?;
    region.write_u32(field::COMPLETION_SLOTS, layout.completion.slots)?;
    write_offset(region, field::DATA_OFFSET, layout.data_offset)?;
    region.write_u32(field::MAX_DIMENSION, limits.max_dimension)?;
    region.write_u64(field::MAX_OPERAND_BYTES, limits.max_operand_bytes)?;
    region.write_u64(field::MAX_MULTIPLY_ADDS, limits.max_multiply_adds)?;
    region.write_u32(field::MAGIC, MAGIC)?;
    Ok(())
}

/// Writes a layout offset (below 1 MiB by construction) as a `u32` field.
fn write_offset<R: Region + ?Sized>(
    region: &mut R,
    at: usize,
    offset: usize,
) -> Result<(), LayoutError> {
    let value = u32::try_from(offset).map_err(|_| LayoutError::OffsetsDisagree)?;
    Ok(region.write_u32(at, value)?)
}

/// Returns the layout and limits a header describes, after checking every field:
/// magic, version, region length (not beyond `region`), slot counts, and that the
/// ring and data offsets are the ones [`Layout::new`] computes from them.
pub fn read_header<R: Region + ?Sized>(region: &R) -> Result<(Layout, Limits), LayoutError> {
    let magic = region.read_u32(field::MAGIC)?;
    if magic != MAGIC {
        return Err(LayoutError::BadMagic(magic));
    }
    let version = region.read_u32(field::VERSION)?;
    if version != VERSION {
        return Err(LayoutError::UnsupportedVersion(version));
    }
    let region_bytes = region.read_u64(field::REGION_BYTES)?;
    if region_bytes > region.len() as u64 {
        return Err(LayoutError::LongerThanRegion {
            header: region_bytes,
            actual: region.len(),
        });
    }
    let layout = Layout::new(
        region_bytes,
        region.read_u32(field::SUBMISSION_SLOTS)?,
        region.read_u32(field::COMPLETION_SLOTS)?,
    )?;
    let offsets_agree = region.read_u32(field::SUBMISSION_OFFSET)? as usize
        == layout.submission.offset
        && region.read_u32(field::COMPLETION_OFFSET)? as usize == layout.completion.offset
        && region.read_u32(field::DATA_OFFSET)? as usize == layout.data_offset;
    if !offsets_agree {
        return Err(LayoutError::OffsetsDisagree);
    }
    let limits = Limits {
        max_dimension: region.read_u32(field::MAX_DIMENSION)?,
        max_operand_bytes: region.read_u64(field::MAX_OPERAND_BYTES)?,
        max_multiply_adds: region.read_u64(field::MAX_MULTIPLY_ADDS)?,
    };
    if limits.max_dimension == 0 || limits.max_operand_bytes == 0 || limits.max_multiply_adds == 0 {
        return Err(LayoutError::BadLimits);
    }
    Ok((layout, limits))
}

/// The header fields are in range of the header, word-aligned, and every ring index
/// has its own 64-byte cache line.
const _: () = {
    assert!(field::COMPLETION_HEAD + WORD_BYTES <= HEADER_BYTES);
    assert!(field::SUBMISSION_HEAD - field::SUBMISSION_TAIL >= 64);
    assert!(field::COMPLETION_TAIL - field::SUBMISSION_HEAD >= 64);
    assert!(field::COMPLETION_HEAD - field::COMPLETION_TAIL >= 64);
    assert!(field::GUEST_EPOCH - field::DEVICE_STATUS >= 64);
    assert!(MAX_REGION_BYTES <= u64::MAX / 2);
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::{vec, vec::Vec};

    const REGION: u64 = 1 << 20;

    fn written(layout: &Layout) -> Vec<u8> {
        let mut region = vec![0xAAu8; layout.region_bytes() as usize];
        write_header(&mut region[..], layout, &Limits::DEFAULT).unwrap();
        region
    }

    #[test]
    fn layout_places_rings_after_the_header_and_data_on_a_page() {
        let layout = Layout::new(REGION, 64, 128).unwrap();
        assert_eq!(layout.submission().offset(), HEADER_BYTES);
        assert_eq!(layout.completion().offset(), HEADER_BYTES + 64 * 64);
        assert_eq!(layout.data_offset(), 3 * PAGE_BYTES);
        assert_eq!(layout.data_bytes(), REGION - 3 * PAGE_BYTES as u64);
        assert_eq!(layout.submission().slot_offset(65), HEADER_BYTES + 64);
        assert_eq!(layout.data_to_region(0), Some(3 * PAGE_BYTES));
        assert_eq!(layout.data_to_region(layout.data_bytes()), None);
    }

    #[test]
    fn bad_layouts_are_refused() {
        assert_eq!(Layout::new(REGION, 0, 8), Err(LayoutError::BadSlotCount(0)));
        assert_eq!(
            Layout::new(REGION, 8, 12),
            Err(LayoutError::BadSlotCount(12))
        );
        assert_eq!(
            Layout::new(REGION, 8192, 8),
            Err(LayoutError::BadSlotCount(8192))
        );
        assert_eq!(
            Layout::new(REGION + 1, 8, 8),
            Err(LayoutError::RegionNotPageMultiple(REGION + 1))
        );
        assert_eq!(
            Layout::new(8192, 8, 8),
            Err(LayoutError::RegionTooSmall(8192))
        );
        assert_eq!(
            Layout::new(1 << 41, 8, 8),
            Err(LayoutError::RegionTooLarge(1 << 41))
        );
        assert!(Layout::new(3 * 4096, 8, 8).is_ok());
    }

    #[test]
    fn a_written_header_reads_back() {
        let layout = Layout::new(REGION, 16, 32).unwrap();
        let region = written(&layout);
        assert_eq!(read_header(&region[..]), Ok((layout, Limits::DEFAULT)));
        assert_eq!(region.read_u32(field::DEVICE_STATUS), Ok(0));
        assert_eq!(region.read_u32(field::SUBMISSION_TAIL), Ok(0));
        // The data area is left alone.
        assert_eq!(region[layout.data_offset()], 0xAA);
    }

    #[test]
    fn every_bad_header_field_is_refused() {
        let layout = Layout::new(REGION, 16, 32).unwrap();
        let cases: [(usize, u32, LayoutError); 8] = [
            (field::MAGIC, 7, LayoutError::BadMagic(7)),
            (field::VERSION, 2, LayoutError::UnsupportedVersion(2)),
            (field::SUBMISSION_SLOTS, 3, LayoutError::BadSlotCount(3)),
            (field::COMPLETION_OFFSET, 0, LayoutError::OffsetsDisagree),
            (field::DATA_OFFSET, 4096, LayoutError::OffsetsDisagree),
            (
                field::REGION_BYTES,
                4097,
                LayoutError::RegionNotPageMultiple(4097),
            ),
            (
                field::REGION_BYTES + 4,
                1,
                LayoutError::LongerThanRegion {
                    header: REGION | 1 << 32,
                    actual: REGION as usize,
                },
            ),
            (field::MAX_DIMENSION, 0, LayoutError::BadLimits),
        ];
        for (at, value, expected) in cases {
            let mut region = written(&layout);
            region.write_u32(at, value).unwrap();
            assert_eq!(read_header(&region[..]), Err(expected), "field {at:#x}");
        }
        // A region too short for its own header.
        let region = written(&layout);
        assert!(read_header(&region[..64]).is_err());
    }

    #[test]
    fn device_status_codes_round_trip() {
        for status in [
            DeviceStatus::Initialising,
            DeviceStatus::Ready,
            DeviceStatus::Stopped,
        ] {
            assert_eq!(DeviceStatus::from_code(status.code()), Some(status));
        }
        assert_eq!(DeviceStatus::from_code(3), None);
    }
}
