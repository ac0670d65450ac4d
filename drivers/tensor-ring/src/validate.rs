//! Turning an untrusted [`Descriptor`] into a [`Job`] whose every byte range is checked.
//!
//! [`validate`] is the backend's border: a [`Job`] can only be made by it, and every
//! [`ByteRange`] of a job lies inside the data area it was checked against. Checks run
//! in a fixed order and the first failing one names the [`Refusal`]:
//!
//! 1. op known ([`Refusal::UnknownOp`]), no unknown flag ([`Refusal::UnknownFlags`]),
//!    reserved fields zero ([`Refusal::ReservedNotZero`]);
//! 2. a `Nop` carries no shape or offset ([`Refusal::NopHasOperands`]);
//! 3. `m`, `k`, `n` each non-zero ([`Refusal::ZeroDimension`]) and at most
//!    [`Limits::max_dimension`] ([`Refusal::DimensionTooLarge`]);
//! 4. each operand's bytes computed with checked arithmetic
//!    ([`Refusal::SizeOverflow`]) and at most [`Limits::max_operand_bytes`]
//!    ([`Refusal::OperandTooLarge`]), A then B then C;
//! 5. `m * k * n` at most [`Limits::max_multiply_adds`] ([`Refusal::TooMuchWork`]);
//! 6. each offset a multiple of [`OPERAND_ALIGNMENT`] ([`Refusal::Misaligned`]);
//! 7. each operand's range inside the data area, end computed checked
//!    ([`Refusal::OutOfBounds`]);
//! 8. C overlapping neither A nor B ([`Refusal::OutputOverlapsInput`]); A and B may
//!    overlap each other (both are only read).

use crate::descriptor::{Descriptor, Op};

/// Every operand offset is a multiple of this many bytes (the region's word).
pub const OPERAND_ALIGNMENT: u64 = 4;

/// What the backend accepts; it publishes its limits in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest `m`, `k` or `n`.
    pub max_dimension: u32,
    /// The largest operand (A, B or C) in bytes.
    pub max_operand_bytes: u64,
    /// The most multiply-adds (`m * k * n`) in one job: it bounds the time one job
    /// may hold the backend.
    pub max_multiply_adds: u64,
}

impl Limits {
    /// The backend's defaults: dimensions up to 4096, operands up to 64 MiB and up
    /// to 2^33 multiply-adds (a 2048-cube matmul) per job.
    ///
    /// With `k <= 4096` an `i8` dot product is at most `4096 * 128 * 128 = 2^26` in
    /// magnitude, so `i32` accumulation cannot wrap.
    pub const DEFAULT: Self = Self {
        max_dimension: 4096,
        max_operand_bytes: 64 << 20,
        max_multiply_adds: 1 << 33,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `i32` accumulation of `i8` products cannot wrap under the default limits.
const _: () = assert!((Limits::DEFAULT.max_dimension as i64) * 128 * 128 <= i32::MAX as i64);

/// A matmul operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// The left input, `m x k`.
    A,
    /// The right input, `k x n`.
    B,
    /// The output, `m x n`.
    C,
}

/// A matmul dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    /// Rows of A and C.
    M,
    /// Columns of A, rows of B.
    K,
    /// Columns of B and C.
    N,
}

/// Why a descriptor was refused. Each cause has a stable status code
/// ([`Refusal::code`]) and, where it names an operand or dimension, a detail word
/// ([`Refusal::detail`]: A/M = 1, B/K = 2, C/N = 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Code 1: the op code is not an [`Op`].
    UnknownOp,
    /// Code 2: a flag bit is set (version 1 defines none).
    UnknownFlags,
    /// Code 3: a reserved field is not zero.
    ReservedNotZero,
    /// Code 4: a `Nop` has a non-zero shape or offset.
    NopHasOperands,
    /// Code 5: a dimension is zero.
    ZeroDimension(Dimension),
    /// Code 6: a dimension is over [`Limits::max_dimension`].
    DimensionTooLarge(Dimension),
    /// Code 7: an operand's byte count overflowed `u64`.
    SizeOverflow(Operand),
    /// Code 8: an operand is over [`Limits::max_operand_bytes`].
    OperandTooLarge(Operand),
    /// Code 9: `m * k * n` is over [`Limits::max_multiply_adds`] (or overflowed).
    TooMuchWork,
    /// Code 10: an operand's offset is not a multiple of [`OPERAND_ALIGNMENT`].
    Misaligned(Operand),
    /// Code 11: an operand's bytes do not lie inside the data area.
    OutOfBounds(Operand),
    /// Code 12: C overlaps the named input.
    OutputOverlapsInput(Operand),
}

impl Operand {
    fn detail(self) -> u32 {
        match self {
            Self::A => 1,
            Self::B => 2,
            Self::C => 3,
        }
    }

    fn from_detail(detail: u32) -> Option<Self> {
        match detail {
            1 => Some(Self::A),
            2 => Some(Self::B),
            3 => Some(Self::C),
            _ => None,
        }
    }
}

impl Dimension {
    fn detail(self) -> u32 {
        match self {
            Self::M => 1,
            Self::K => 2,
            Self::N => 3,
        }
    }

    fn from_detail(detail: u32) -> Option<Self> {
        match detail {
            1 => Some(Self::M),
            2 => Some(Self::K),
            3 => Some(Self::N),
            _ => None,
        }
    }
}

impl Refusal {
    /// Every refusal, each with one representative detail (for tests and tables).
    pub const ALL: [Self; 12] = [
        Self::UnknownOp,
        Self::UnknownFlags,
        Self::ReservedNotZero,
        Self::NopHasOperands,
        Self::ZeroDimension(Dimension::K),
        Self::DimensionTooLarge(Dimension::N),
        Self::SizeOverflow(Operand::A),
        Self::OperandTooLarge(Operand::C),
        Self::TooMuchWork,
        Self::Misaligned(Operand::B),
        Self::OutOfBounds(Operand::C),
        Self::OutputOverlapsInput(Operand::A),
    ];

    /// Returns the completion status code of this refusal (1 to 12).
    pub fn code(self) -> u32 {
        match self {
            Self::UnknownOp => 1,
            Self::UnknownFlags => 2,
            Self::ReservedNotZero => 3,
            Self::NopHasOperands => 4,
            Self::ZeroDimension(_) => 5,
            Self::DimensionTooLarge(_) => 6,
            Self::SizeOverflow(_) => 7,
            Self::OperandTooLarge(_) => 8,
            Self::TooMuchWork => 9,
            Self::Misaligned(_) => 10,
            Self::OutOfBounds(_) => 11,
            Self::OutputOverlapsInput(_) => 12,
        }
    }

    /// Returns the detail word: the operand or dimension named, else 0.
    pub fn detail(self) -> u32 {
        match self {
            Self::ZeroDimension(dimension) | Self::DimensionTooLarge(dimension) => {
                dimension.detail()
            }
            Self::SizeOverflow(operand)
            | Self::OperandTooLarge(operand)
            | Self::Misaligned(operand)
            | Self::OutOfBounds(operand)
            | Self::OutputOverlapsInput(operand) => operand.detail(),
            Self::UnknownOp
            | Self::UnknownFlags
            | Self::ReservedNotZero
            | Self::NopHasOperands
            | Self::TooMuchWork => 0,
        }
    }

    /// Returns the refusal a status code and detail word encode, or `None`.
    pub fn from_code(code: u32, detail: u32) -> Option<Self> {
        let plain = |refusal| (detail == 0).then_some(refusal);
        match code {
            1 => plain(Self::UnknownOp),
            2 => plain(Self::UnknownFlags),
            3 => plain(Self::ReservedNotZero),
            4 => plain(Self::NopHasOperands),
            5 => Dimension::from_detail(detail).map(Self::ZeroDimension),
            6 => Dimension::from_detail(detail).map(Self::DimensionTooLarge),
            7 => Operand::from_detail(detail).map(Self::SizeOverflow),
            8 => Operand::from_detail(detail).map(Self::OperandTooLarge),
            9 => plain(Self::TooMuchWork),
            10 => Operand::from_detail(detail).map(Self::Misaligned),
            11 => Operand::from_detail(detail).map(Self::OutOfBounds),
            12 => Operand::from_detail(detail).map(Self::OutputOverlapsInput),
            _ => None,
        }
    }
}

/// A checked byte range of the data area: `offset..offset + len`, with the end inside
/// the data area it was validated against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    offset: u64,
    len: u64,
}

impl ByteRange {
    /// Returns the first byte's offset in the data area.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Returns the number of bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Returns whether the range is empty (never, for a validated operand).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns one past the last byte's offset (cannot overflow: checked at validation).
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }

    /// Returns whether the two ranges share a byte.
    pub fn overlaps(&self, other: &Self) -> bool {
        self.offset < other.end() && other.offset < self.end()
    }
}

/// The element type of a matmul.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    /// `f32` inputs and output.
    F32,
    /// `i8` inputs, `i32` output.
    I8,
}

impl Element {
    /// Returns the bytes of one input element.
    pub fn input_bytes(self) -> u64 {
        match self {
            Self::F32 => 4,
            Self::I8 => 1,
        }
    }

    /// Returns the bytes of one output element (`f32` or `i32`).
    pub fn output_bytes(self) -> u64 {
        4
    }
}

/// A validated matmul: shapes within the limits, every range inside the data area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Matmul {
    element: Element,
    m: u32,
    k: u32,
    n: u32,
    a: ByteRange,
    b: ByteRange,
    c: ByteRange,
}

impl Matmul {
    /// Returns the element type.
    pub fn element(&self) -> Element {
        self.element
    }

    /// Returns `[m, k, n]`.
    pub fn shape(&self) -> [u32; 3] {
        [self.m, self.k, self.n]
    }

    /// Returns A's bytes in the data area.
    pub fn a(&self) -> ByteRange {
        self.a
    }

    /// Returns B's bytes in the data area.
    pub fn b(&self) -> ByteRange {
        self.b
    }

    /// Returns C's bytes in the data area.
    pub fn c(&self) -> ByteRange {
        self.c
    }
}

/// A validated job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Nothing to do.
    Nop,
    /// A matmul.
    Matmul(Matmul),
}

/// Returns the job `descriptor` asks for, checked against a data area of
/// `data_bytes` bytes and `limits`, or the first [`Refusal`] (see the
/// [module documentation](self) for the order of checks).
pub fn validate(descriptor: &Descriptor, data_bytes: u64, limits: &Limits) -> Result<Job, Refusal> {
    let op = Op::from_code(descriptor.op).ok_or(Refusal::UnknownOp)?;
    if descriptor.flags & !crate::descriptor::KNOWN_FLAGS != 0 {
        return Err(Refusal::UnknownFlags);
    }
    if descriptor.reserved != 0 || descriptor.reserved_tail != 0 {
        return Err(Refusal::ReservedNotZero);
    }
    let element = match op {
        Op::Nop => {
            let empty = descriptor.m == 0
                && descriptor.k == 0
                && descriptor.n == 0
                && descriptor.a_offset == 0
                && descriptor.b_offset == 0
                && descriptor.c_offset == 0;
            return if empty {
                Ok(Job::Nop)
            } else {
                Err(Refusal::NopHasOperands)
            };
        }
        Op::MatmulF32 => Element::F32,
        Op::MatmulI8 => Element::I8,
    };
    let dimensions = [
        (Dimension::M, descriptor.m),
        (Dimension::K, descriptor.k),
        (Dimension::N, descriptor.n),
    ];
    for (dimension, value) in dimensions {
        if value == 0 {
            return Err(Refusal::ZeroDimension(dimension));
        }
    }
    for (dimension, value) in dimensions {
        if value > limits.max_dimension {
            return Err(Refusal::DimensionTooLarge(dimension));
        }
    }
    let (m, k, n) = (
        u64::from(descriptor.m),
        u64::from(descriptor.k),
        u64::from(descriptor.n),
    );
    let operands = [
        (Operand::A, m, k, element.input_bytes(), descriptor.a_offset),
        (Operand::B, k, n, element.input_bytes(), descriptor.b_offset),
        (
            Operand::C,
            m,
            n,
            element.output_bytes(),
            descriptor.c_offset,
        ),
    ];
    let mut lengths = [0u64; 3];
    for (slot, &(operand, rows, columns, element_bytes, _)) in lengths.iter_mut().zip(&operands) {
        let bytes = rows
            .checked_mul(columns)
            .and_then(|elements| elements.checked_mul(element_bytes))
            .ok_or(Refusal::SizeOverflow(operand))?;
        if bytes > limits.max_operand_bytes {
            return Err(Refusal::OperandTooLarge(operand));
        }
        *slot = bytes;
    }
    let work = m.checked_mul(k).and_then(|mk| mk.checked_mul(n));
    if work.is_none_or(|work| work > limits.max_multiply_adds) {
        return Err(Refusal::TooMuchWork);
    }
    for &(operand, _, _, _, offset) in &operands {
        if !offset.is_multiple_of(OPERAND_ALIGNMENT) {
            return Err(Refusal::Misaligned(operand));
        }
    }
    let mut ranges = [ByteRange { offset: 0, len: 0 }; 3];
    for ((slot, &(operand, _, _, _, offset)), len) in ranges.iter_mut().zip(&operands).zip(lengths)
    {
        match offset.checked_add(len) {
            Some(end) if end <= data_bytes => *slot = ByteRange { offset, len },
            _ => return Err(Refusal::OutOfBounds(operand)),
        }
    }
    let [a, b, c] = ranges;
    if c.overlaps(&a) {
        return Err(Refusal::OutputOverlapsInput(Operand::A));
    }
    if c.overlaps(&b) {
        return Err(Refusal::OutputOverlapsInput(Operand::B));
    }
    Ok(Job::Matmul(Matmul {
        element,
        m: descriptor.m,
        k: descriptor.k,
        n: descriptor.n,
        a,
        b,
        c,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: u64 = 1 << 20;

    /// A valid 4x8 * 8x2 f32 matmul: A at 0 (128 B), B at 128 (64 B), C at 256 (32 B).
    fn good() -> Descriptor {
        Descriptor::matmul(Op::MatmulF32, 7, [4, 8, 2], [0, 128, 256])
    }

    fn refusal(change: impl FnOnce(&mut Descriptor)) -> Result<Job, Refusal> {
        let mut descriptor = good();
        change(&mut descriptor);
        validate(&descriptor, DATA, &Limits::DEFAULT)
    }

    #[test]
    fn a_good_matmul_is_accepted_with_its_ranges() {
        let Ok(Job::Matmul(job)) = validate(&good(), DATA, &Limits::DEFAULT) else {
            panic!("refused");
        };
        assert_eq!(job.element(), Element::F32);
        assert_eq!(job.shape(), [4, 8, 2]);
        assert_eq!((job.a().offset(), job.a().len()), (0, 128));
        assert_eq!((job.b().offset(), job.b().len()), (128, 64));
        assert_eq!(
            (job.c().offset(), job.c().len(), job.c().end()),
            (256, 32, 288)
        );
        let i8_job = Descriptor::matmul(Op::MatmulI8, 1, [3, 5, 7], [0, 16, 52]);
        let Ok(Job::Matmul(job)) = validate(&i8_job, DATA, &Limits::DEFAULT) else {
            panic!("refused");
        };
        assert_eq!((job.a().len(), job.b().len(), job.c().len()), (15, 35, 84));
        assert_eq!(
            validate(&Descriptor::nop(3), 0, &Limits::DEFAULT),
            Ok(Job::Nop)
        );
    }

    #[test]
    fn every_refusal_cause() {
        assert_eq!(refusal(|d| d.op = 3), Err(Refusal::UnknownOp));
        assert_eq!(refusal(|d| d.op = u32::MAX), Err(Refusal::UnknownOp));
        assert_eq!(refusal(|d| d.flags = 1 << 31), Err(Refusal::UnknownFlags));
        assert_eq!(refusal(|d| d.flags = 1 << 1), Err(Refusal::UnknownFlags));
        assert_eq!(refusal(|d| d.reserved = 1), Err(Refusal::ReservedNotZero));
        assert_eq!(
            refusal(|d| d.reserved_tail = 1),
            Err(Refusal::ReservedNotZero)
        );
        for change in [
            (|d: &mut Descriptor| d.m = 1) as fn(&mut Descriptor),
            |d| d.k = 1,
            |d| d.n = 1,
            |d| d.a_offset = 4,
            |d| d.b_offset = 4,
            |d| d.c_offset = 4,
        ] {
            let mut nop = Descriptor::nop(1);
            change(&mut nop);
            assert_eq!(
                validate(&nop, DATA, &Limits::DEFAULT),
                Err(Refusal::NopHasOperands)
            );
        }
        assert_eq!(
            refusal(|d| d.m = 0),
            Err(Refusal::ZeroDimension(Dimension::M))
        );
        assert_eq!(
            refusal(|d| d.k = 0),
            Err(Refusal::ZeroDimension(Dimension::K))
        );
        assert_eq!(
            refusal(|d| d.n = 0),
            Err(Refusal::ZeroDimension(Dimension::N))
        );
        assert_eq!(
            refusal(|d| d.m = 4097),
            Err(Refusal::DimensionTooLarge(Dimension::M))
        );
        assert_eq!(
            refusal(|d| d.k = u32::MAX),
            Err(Refusal::DimensionTooLarge(Dimension::K))
        );
        assert_eq!(
            refusal(|d| d.n = 4097),
            Err(Refusal::DimensionTooLarge(Dimension::N))
        );
        // A of exactly `max_operand_bytes` (4096 x 4096 f32 = 64 MiB) passes the
        // size check and is refused only because it does not fit the data area.
        assert_eq!(
            refusal(|d| {
                d.m = 4096;
                d.k = 4096;
                d.op = Op::MatmulF32.code();
                d.b_offset = 1 << 30;
            }),
            Err(Refusal::OutOfBounds(Operand::A))
        );
        let small = Limits {
            max_operand_bytes: 100,
            ..Limits::DEFAULT
        };
        let check = |descriptor: &Descriptor, limits: &Limits| validate(descriptor, DATA, limits);
        assert_eq!(
            check(&good(), &small),
            Err(Refusal::OperandTooLarge(Operand::A))
        );
        let mut narrow = good();
        narrow.k = 2;
        narrow.n = 16;
        assert_eq!(
            check(&narrow, &small),
            Err(Refusal::OperandTooLarge(Operand::B))
        );
        narrow.k = 1;
        narrow.n = 25;
        narrow.m = 2;
        assert_eq!(
            check(&narrow, &small),
            Err(Refusal::OperandTooLarge(Operand::C))
        );
        let huge = Limits {
            max_dimension: u32::MAX,
            max_operand_bytes: u64::MAX,
            max_multiply_adds: u64::MAX,
        };
        let mut overflow = good();
        overflow.m = u32::MAX;
        overflow.k = u32::MAX;
        assert_eq!(
            check(&overflow, &huge),
            Err(Refusal::SizeOverflow(Operand::A))
        );
        overflow.m = 1;
        overflow.k = 1 << 31;
        overflow.n = 1 << 31;
        assert_eq!(
            check(&overflow, &huge),
            Err(Refusal::SizeOverflow(Operand::B))
        );
        let mut work = good();
        work.m = 3000;
        work.k = 3000;
        work.n = 1000;
        work.b_offset = 40 << 20;
        assert_eq!(check(&work, &Limits::DEFAULT), Err(Refusal::TooMuchWork));
        let mut overflowing_work = good();
        overflowing_work.m = u32::MAX;
        overflowing_work.k = 1 << 20;
        overflowing_work.n = 1 << 20;
        overflowing_work.op = Op::MatmulI8.code();
        assert_eq!(check(&overflowing_work, &huge), Err(Refusal::TooMuchWork));
        assert_eq!(
            refusal(|d| d.a_offset = 2),
            Err(Refusal::Misaligned(Operand::A))
        );
        assert_eq!(
            refusal(|d| d.b_offset = 129),
            Err(Refusal::Misaligned(Operand::B))
        );
        assert_eq!(
            refusal(|d| d.c_offset = 258),
            Err(Refusal::Misaligned(Operand::C))
        );
        assert_eq!(
            refusal(|d| d.a_offset = DATA - 124),
            Err(Refusal::OutOfBounds(Operand::A))
        );
        assert_eq!(
            refusal(|d| d.b_offset = u64::MAX - 3),
            Err(Refusal::OutOfBounds(Operand::B))
        );
        assert_eq!(
            refusal(|d| d.c_offset = DATA),
            Err(Refusal::OutOfBounds(Operand::C))
        );
        assert_eq!(
            refusal(|d| d.c_offset = 124),
            Err(Refusal::OutputOverlapsInput(Operand::A))
        );
        assert_eq!(
            refusal(|d| d.c_offset = 160),
            Err(Refusal::OutputOverlapsInput(Operand::B))
        );
        assert_eq!(
            refusal(|d| d.c_offset = 0),
            Err(Refusal::OutputOverlapsInput(Operand::A))
        );
    }

    #[test]
    fn edges_that_are_accepted() {
        // C ends exactly at the data area's end; A and B are the same bytes.
        let at_end = Descriptor::matmul(Op::MatmulF32, 1, [4, 4, 4], [0, 0, DATA - 64]);
        assert!(validate(&at_end, DATA, &Limits::DEFAULT).is_ok());
        // C right after A, touching but not overlapping.
        assert!(refusal(|d| d.c_offset = 192).is_ok());
        // The largest dimension.
        let line = Descriptor::matmul(Op::MatmulI8, 1, [1, 4096, 1], [0, 4096, 8192]);
        assert!(validate(&line, DATA, &Limits::DEFAULT).is_ok());
    }

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for (index, refusal) in Refusal::ALL.into_iter().enumerate() {
            assert_eq!(refusal.code(), index as u32 + 1);
            assert_eq!(
                Refusal::from_code(refusal.code(), refusal.detail()),
                Some(refusal)
            );
        }
        assert_eq!(Refusal::from_code(0, 0), None);
        assert_eq!(Refusal::from_code(13, 0), None);
        assert_eq!(Refusal::from_code(1, 1), None);
        assert_eq!(Refusal::from_code(11, 4), None);
        assert_eq!(Refusal::from_code(5, 0), None);
    }
}
