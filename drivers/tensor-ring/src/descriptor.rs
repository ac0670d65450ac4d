//! Ring entries on the wire: the job [`Descriptor`] and the [`Completion`].
//!
//! Both are fixed-size, little-endian, and decoded from a private copy of the slot's
//! bytes, so a peer rewriting the slot meanwhile changes nothing. Decoding never
//! fails: a descriptor is only an allegation until [`validate`](crate::validate())
//! turns it into a [`Job`](crate::Job).
//!
//! Descriptor (64 bytes):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0x00 | u64 | `sequence`: chosen by the guest, echoed in the completion |
//! | 0x08 | u32 | `op`: an [`Op`] code |
//! | 0x0C | u32 | `flags`: [`FLAG_NOTIFY`] or 0; other bits are refused |
//! | 0x10 | u32 | `m` |
//! | 0x14 | u32 | `k` |
//! | 0x18 | u32 | `n` |
//! | 0x1C | u32 | reserved, 0 |
//! | 0x20 | u64 | `a_offset`: A's first byte, from the data area's start |
//! | 0x28 | u64 | `b_offset` |
//! | 0x30 | u64 | `c_offset` |
//! | 0x38 | u64 | reserved, 0 |
//!
//! Completion (32 bytes):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0x00 | u64 | `sequence`: the descriptor's, as read |
//! | 0x08 | u32 | `status`: [`STATUS_OK`], a [`Refusal`] code, or [`STATUS_DEVICE_FAULT`] |
//! | 0x0C | u32 | `detail`: which operand or dimension a refusal is about (0: none) |
//! | 0x10 | u64 | `backend_ns`: the backend's time on this entry, validation included |
//! | 0x18 | u64 | reserved, 0 |

use crate::validate::Refusal;

/// Bytes of one submission ring entry.
pub const DESCRIPTOR_BYTES: usize = 64;

/// Bytes of one completion ring entry.
pub const COMPLETION_BYTES: usize = 32;

/// Descriptor flag: once this entry's completion is posted, the backend rings the
/// guest's doorbell vector 0 (an MSI-X interrupt on `ivshmem-doorbell`). Without a
/// doorbell connection the flag is accepted and nothing is rung: the guest learns
/// whether doorbells are served from the header's `DOORBELL` field.
pub const FLAG_NOTIFY: u32 = 1 << 0;

/// Every flag bit the protocol defines.
pub const KNOWN_FLAGS: u32 = FLAG_NOTIFY;

/// A completion status: the job ran and its output is written.
pub const STATUS_OK: u32 = 0;

/// A completion status: the descriptor was valid but the backend could not access
/// the region to run it (a backend fault, not the guest's).
pub const STATUS_DEVICE_FAULT: u32 = 0x100;

/// The operations of protocol version 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// 0: does nothing; measures the submission-to-completion path. Shapes and
    /// offsets must be zero.
    Nop,
    /// 1: `C[m x n] = A[m x k] * B[k x n]`, `f32`, row-major, C overwritten.
    MatmulF32,
    /// 2: `C[m x n] = A[m x k] * B[k x n]`, `i8` inputs, `i32` output accumulated in
    /// `i32` (wrapping; it cannot wrap within the default limits), bit-exact.
    MatmulI8,
}

impl Op {
    /// Returns the op's code.
    pub fn code(self) -> u32 {
        match self {
            Self::Nop => 0,
            Self::MatmulF32 => 1,
            Self::MatmulI8 => 2,
        }
    }

    /// Returns the op with `code`, or `None` for an unknown code.
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Self::Nop),
            1 => Some(Self::MatmulF32),
            2 => Some(Self::MatmulI8),
            _ => None,
        }
    }
}

/// Returns the little-endian `u32` at `at` of `bytes` (`at + 4 <= N` by the callers).
fn get_u32<const N: usize>(bytes: &[u8; N], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// Returns the little-endian `u64` at `at` of `bytes` (`at + 8 <= N` by the callers).
fn get_u64<const N: usize>(bytes: &[u8; N], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// A submission ring entry as written by the guest, not yet validated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    /// The guest's number for this job, echoed in its completion.
    pub sequence: u64,
    /// An [`Op`] code (anything, until validated).
    pub op: u32,
    /// Flag bits: [`FLAG_NOTIFY`] or none.
    pub flags: u32,
    /// Rows of A and C.
    pub m: u32,
    /// Columns of A, rows of B.
    pub k: u32,
    /// Columns of B and C.
    pub n: u32,
    /// Must be zero.
    pub reserved: u32,
    /// Byte offset of A in the data area.
    pub a_offset: u64,
    /// Byte offset of B in the data area.
    pub b_offset: u64,
    /// Byte offset of C in the data area.
    pub c_offset: u64,
    /// Must be zero.
    pub reserved_tail: u64,
}

impl Descriptor {
    /// Returns a descriptor for `op` on `m x k` times `k x n` at the given data-area
    /// offsets, with no flags.
    pub fn matmul(op: Op, sequence: u64, shape: [u32; 3], offsets: [u64; 3]) -> Self {
        let [m, k, n] = shape;
        let [a_offset, b_offset, c_offset] = offsets;
        Self {
            sequence,
            op: op.code(),
            m,
            k,
            n,
            a_offset,
            b_offset,
            c_offset,
            ..Self::default()
        }
    }

    /// Returns a [`Op::Nop`] descriptor.
    pub fn nop(sequence: u64) -> Self {
        Self {
            sequence,
            op: Op::Nop.code(),
            ..Self::default()
        }
    }

    /// Returns the descriptor encoded in `bytes`.
    pub fn from_bytes(bytes: &[u8; DESCRIPTOR_BYTES]) -> Self {
        Self {
            sequence: get_u64(bytes, 0x00),
            op: get_u32(bytes, 0x08),
            flags: get_u32(bytes, 0x0C),
            m: get_u32(bytes, 0x10),
            k: get_u32(bytes, 0x14),
            n: get_u32(bytes, 0x18),
            reserved: get_u32(bytes, 0x1C),
            a_offset: get_u64(bytes, 0x20),
            b_offset: get_u64(bytes, 0x28),
            c_offset: get_u64(bytes, 0x30),
            reserved_tail: get_u64(bytes, 0x38),
        }
    }

    /// Returns the descriptor's encoding.
    pub fn to_bytes(&self) -> [u8; DESCRIPTOR_BYTES] {
        let mut bytes = [0; DESCRIPTOR_BYTES];
        bytes[0x00..0x08].copy_from_slice(&self.sequence.to_le_bytes());
        bytes[0x08..0x0C].copy_from_slice(&self.op.to_le_bytes());
        bytes[0x0C..0x10].copy_from_slice(&self.flags.to_le_bytes());
        bytes[0x10..0x14].copy_from_slice(&self.m.to_le_bytes());
        bytes[0x14..0x18].copy_from_slice(&self.k.to_le_bytes());
        bytes[0x18..0x1C].copy_from_slice(&self.n.to_le_bytes());
        bytes[0x1C..0x20].copy_from_slice(&self.reserved.to_le_bytes());
        bytes[0x20..0x28].copy_from_slice(&self.a_offset.to_le_bytes());
        bytes[0x28..0x30].copy_from_slice(&self.b_offset.to_le_bytes());
        bytes[0x30..0x38].copy_from_slice(&self.c_offset.to_le_bytes());
        bytes[0x38..0x40].copy_from_slice(&self.reserved_tail.to_le_bytes());
        bytes
    }
}

/// What a completion says happened, decoded from its status and detail words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The job ran; its output is in the data area.
    Ok,
    /// The descriptor was refused; nothing was written to the data area.
    Refused(Refusal),
    /// The backend could not access the region ([`STATUS_DEVICE_FAULT`]).
    DeviceFault,
    /// A status (and detail) this crate does not know.
    Unknown {
        /// The status word.
        status: u32,
        /// The detail word.
        detail: u32,
    },
}

/// A completion ring entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Completion {
    /// The sequence number of the descriptor this completes.
    pub sequence: u64,
    /// [`STATUS_OK`], a refusal code or [`STATUS_DEVICE_FAULT`].
    pub status: u32,
    /// The refusal's operand or dimension (see [`Refusal::detail`]), else 0.
    pub detail: u32,
    /// Nanoseconds the backend spent on the entry (validation and execution).
    pub backend_ns: u64,
    /// Must be zero.
    pub reserved: u64,
}

impl Completion {
    /// Returns the completion for `sequence` with `outcome`, taking `backend_ns`.
    pub fn new(sequence: u64, outcome: Outcome, backend_ns: u64) -> Self {
        let (status, detail) = match outcome {
            Outcome::Ok => (STATUS_OK, 0),
            Outcome::Refused(refusal) => (refusal.code(), refusal.detail()),
            Outcome::DeviceFault => (STATUS_DEVICE_FAULT, 0),
            Outcome::Unknown { status, detail } => (status, detail),
        };
        Self {
            sequence,
            status,
            detail,
            backend_ns,
            reserved: 0,
        }
    }

    /// Returns what the status and detail words say.
    pub fn outcome(&self) -> Outcome {
        match self.status {
            STATUS_OK => Outcome::Ok,
            STATUS_DEVICE_FAULT => Outcome::DeviceFault,
            status => match Refusal::from_code(status, self.detail) {
                Some(refusal) => Outcome::Refused(refusal),
                None => Outcome::Unknown {
                    status,
                    detail: self.detail,
                },
            },
        }
    }

    /// Returns the completion encoded in `bytes`.
    pub fn from_bytes(bytes: &[u8; COMPLETION_BYTES]) -> Self {
        Self {
            sequence: get_u64(bytes, 0x00),
            status: get_u32(bytes, 0x08),
            detail: get_u32(bytes, 0x0C),
            backend_ns: get_u64(bytes, 0x10),
            reserved: get_u64(bytes, 0x18),
        }
    }

    /// Returns the completion's encoding.
    pub fn to_bytes(&self) -> [u8; COMPLETION_BYTES] {
        let mut bytes = [0; COMPLETION_BYTES];
        bytes[0x00..0x08].copy_from_slice(&self.sequence.to_le_bytes());
        bytes[0x08..0x0C].copy_from_slice(&self.status.to_le_bytes());
        bytes[0x0C..0x10].copy_from_slice(&self.detail.to_le_bytes());
        bytes[0x10..0x18].copy_from_slice(&self.backend_ns.to_le_bytes());
        bytes[0x18..0x20].copy_from_slice(&self.reserved.to_le_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Operand;

    #[test]
    fn descriptor_round_trips_field_by_field() {
        let descriptor = Descriptor {
            sequence: 0x0102_0304_0506_0708,
            op: 2,
            flags: 0x10,
            m: 3,
            k: 5,
            n: 7,
            reserved: 9,
            a_offset: 0x100,
            b_offset: 0x200,
            c_offset: 0x300,
            reserved_tail: 0xFF,
        };
        let bytes = descriptor.to_bytes();
        assert_eq!(Descriptor::from_bytes(&bytes), descriptor);
        assert_eq!(bytes[0], 0x08);
        assert_eq!(bytes[0x08], 2);
        assert_eq!(bytes[0x10], 3);
        assert_eq!(bytes[0x30..0x32], [0x00, 0x03]);
        assert_eq!(bytes[0x38], 0xFF);
    }

    #[test]
    fn completion_round_trips_and_decodes() {
        let completion =
            Completion::new(42, Outcome::Refused(Refusal::OutOfBounds(Operand::B)), 1234);
        assert_eq!(Completion::from_bytes(&completion.to_bytes()), completion);
        assert_eq!(
            completion.outcome(),
            Outcome::Refused(Refusal::OutOfBounds(Operand::B))
        );
        assert_eq!(Completion::new(1, Outcome::Ok, 0).outcome(), Outcome::Ok);
        assert_eq!(
            Completion::new(1, Outcome::DeviceFault, 0).outcome(),
            Outcome::DeviceFault
        );
        let unknown = Outcome::Unknown {
            status: 77,
            detail: 1,
        };
        assert_eq!(Completion::new(1, unknown, 0).outcome(), unknown);
    }

    #[test]
    fn op_codes_round_trip() {
        for op in [Op::Nop, Op::MatmulF32, Op::MatmulI8] {
            assert_eq!(Op::from_code(op.code()), Some(op));
        }
        assert_eq!(Op::from_code(3), None);
    }
}
