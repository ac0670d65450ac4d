//! The guest side of the paravirtual tensor accelerator: the tensor-ring protocol over an `ivshmem` BAR.
//!
//! The device is QEMU's `ivshmem-plain` or `ivshmem-doorbell`, whose shared
//! memory a host process (`tensor-backend`) maps too; `drivers/tensor-ring/PROTOCOL.md` is the
//! protocol. [`IvshmemRegion`] is the [`Region`] over the BAR (32-bit volatile
//! accesses, the protocol's access rule; bulk 8-byte volatile copies for the
//! data area's operands and results); [`TensorDevice`] is the guest's end:
//! it waits for a ready backend, checks the header, resets the rings (the epoch
//! handshake), places operands in the data area, submits descriptors and takes
//! completions. It never trusts the device: every index and field it reads
//! goes through `tensor_ring`'s checks, and every wait is bounded by the
//! caller's `keep_waiting` (the kernel decides how long, and whether to spin
//! or yield meanwhile).
//!
//! One job is in flight at a time (the kernel holds a device for a call), so
//! completions come back in order and a sequence mismatch means the device is
//! confused: reported, never trusted.
//!
//! With `ivshmem-doorbell` the header names the backend's doorbell peer
//! ([`TensorDevice::doorbell_peer`]): [`TensorDevice::run`] then rings it after
//! each submission (through the caller's `ring`, which owns the registers),
//! and a job submitted with [`FLAG_NOTIFY`] gets an interrupt when it completes.

pub use tensor_ring::FLAG_NOTIFY;
use tensor_ring::{
    Completion, CompletionConsumer, Descriptor, DeviceStatus, Layout, LayoutError, Limits, Op,
    Region, RegionError, RingError, SubmissionProducer, layout::field, read_header,
    region::WORD_BYTES,
};

use crate::ivshmem::Ivshmem;

/// The shared memory of one `ivshmem` device as a protocol [`Region`].
///
/// Every access is one 32-bit volatile load or store of the BAR (x86 keeps
/// the order of these, and the compiler fences below keep the compiler from
/// moving other memory accesses across an index read or write).
#[derive(Clone, Copy)]
pub struct IvshmemRegion<'a> {
    device: &'a Ivshmem,
}

impl<'a> IvshmemRegion<'a> {
    /// Returns the region of `device`'s shared memory.
    pub fn new(device: &'a Ivshmem) -> Self {
        Self { device }
    }

    /// Returns the device.
    pub fn device(&self) -> &'a Ivshmem {
        self.device
    }

    fn check(&self, offset: usize, len: usize, whole_words: bool) -> Result<(), RegionError> {
        if !offset.is_multiple_of(WORD_BYTES) || (whole_words && !len.is_multiple_of(WORD_BYTES)) {
            return Err(RegionError::Misaligned { offset, len });
        }
        match offset.checked_add(len) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(RegionError::OutOfRange { offset, len }),
        }
    }

    fn word(&self, offset: usize) -> Result<u32, RegionError> {
        self.device
            .read::<u32>(offset)
            .map(u32::from_le)
            .map_err(|_| RegionError::OutOfRange {
                offset,
                len: WORD_BYTES,
            })
    }

    fn store(&self, offset: usize, value: u32) -> Result<(), RegionError> {
        self.device
            .write(offset, value.to_le())
            .map_err(|_| RegionError::OutOfRange {
                offset,
                len: WORD_BYTES,
            })
    }
}

impl Region for IvshmemRegion<'_> {
    fn len(&self) -> usize {
        self.device.memory_size()
    }

    fn read_u32(&self, offset: usize) -> Result<u32, RegionError> {
        let value = self.word(offset)?;
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::Acquire);
        Ok(value)
    }

    fn write_u32(&mut self, offset: usize, value: u32) -> Result<(), RegionError> {
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::Release);
        self.store(offset, value)
    }

    fn read_bytes(&self, offset: usize, buffer: &mut [u8]) -> Result<(), RegionError> {
        self.check(offset, buffer.len(), false)?;
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::Acquire);
        self.device
            .read_bytes(offset, buffer)
            .map_err(|_| RegionError::OutOfRange {
                offset,
                len: buffer.len(),
            })
    }

    fn write_bytes(&mut self, offset: usize, bytes: &[u8]) -> Result<(), RegionError> {
        self.check(offset, bytes.len(), true)?;
        self.device
            .write_bytes(offset, bytes)
            .map_err(|_| RegionError::OutOfRange {
                offset,
                len: bytes.len(),
            })?;
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::Release);
        Ok(())
    }
}

/// Why talking to the device failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The header is not a valid tensor-ring header.
    Header(LayoutError),
    /// The backend is not ready (initialising, stopped, or no backend wrote a header yet).
    NotReady,
    /// The caller stopped waiting (its deadline passed) in the wait named here.
    Timeout(&'static str),
    /// A ring index from the device is out of range.
    Ring(RingError),
    /// A region access was refused.
    Region(RegionError),
    /// The operand does not fit the data area, or a shape is out of range.
    TooLarge,
    /// A completion carried another sequence number than the job in flight.
    WrongSequence {
        /// The sequence of the job in flight.
        expected: u64,
        /// The sequence the completion carried.
        got: u64,
    },
}

impl From<RegionError> for DeviceError {
    fn from(error: RegionError) -> Self {
        Self::Region(error)
    }
}

impl From<RingError> for DeviceError {
    fn from(error: RingError) -> Self {
        Self::Ring(error)
    }
}

impl From<LayoutError> for DeviceError {
    fn from(error: LayoutError) -> Self {
        Self::Header(error)
    }
}

/// What the device's header says without attaching to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Liveness {
    /// The device status word, decoded (`None`: a value the protocol does not define).
    pub status: Option<DeviceStatus>,
    /// The backend's heartbeat.
    pub heartbeat: u32,
    /// Whether the magic and version are the protocol's.
    pub has_header: bool,
}

/// Returns what the header of `region` says about the backend.
pub fn liveness<R: Region>(region: &R) -> Result<Liveness, RegionError> {
    let has_header = region.read_u32(field::MAGIC)? == tensor_ring::layout::MAGIC
        && region.read_u32(field::VERSION)? == tensor_ring::layout::VERSION;
    Ok(Liveness {
        status: DeviceStatus::from_code(region.read_u32(field::DEVICE_STATUS)?),
        heartbeat: region.read_u32(field::HEARTBEAT)?,
        has_header,
    })
}

/// The guest's end of one tensor accelerator.
pub struct TensorDevice<R: Region> {
    region: R,
    layout: Layout,
    limits: Limits,
    submissions: SubmissionProducer,
    completions: CompletionConsumer,
    next_sequence: u64,
    epoch: u32,
    doorbell_peer: Option<u16>,
}

/// One job as [`TensorDevice::submit`] takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// The operation.
    pub op: Op,
    /// `[m, k, n]`.
    pub shape: [u32; 3],
    /// Data-area offsets of `[a, b, c]`.
    pub offsets: [u64; 3],
    /// Descriptor flags ([`FLAG_NOTIFY`] or 0).
    pub flags: u32,
}

/// Returns the doorbell peer a header's `DOORBELL` word names (`None`: no
/// doorbells, or a value no peer ID can have).
fn doorbell_peer(word: u32) -> Option<u16> {
    u16::try_from(word.checked_sub(1)?).ok()
}

impl<R: Region> TensorDevice<R> {
    /// Attaches to the backend behind `region`: checks it is ready and its
    /// header, then resets both rings (guest indices to 0, then guest epoch =
    /// backend epoch + 1, and waits for the backend to confirm the epoch).
    /// `keep_waiting` is called between polls and returns `false` to give up.
    /// On failure the region is handed back with the reason.
    pub fn attach(
        mut region: R,
        mut keep_waiting: impl FnMut() -> bool,
    ) -> Result<Self, (R, DeviceError)> {
        let header = (|| {
            if region.read_u32(field::DEVICE_STATUS)? != DeviceStatus::Ready.code() {
                return Err(DeviceError::NotReady);
            }
            Ok(read_header(&region)?)
        })();
        let (layout, limits) = match header {
            Ok(header) => header,
            Err(error) => return Err((region, error)),
        };
        let mut submissions = SubmissionProducer::new(&layout);
        let mut completions = CompletionConsumer::new(&layout);
        let reset = (|| -> Result<u32, DeviceError> {
            submissions.reset(&mut region)?;
            completions.reset(&mut region)?;
            let epoch = region.read_u32(field::BACKEND_EPOCH)?.wrapping_add(1);
            region.write_u32(field::GUEST_EPOCH, epoch)?;
            loop {
                if region.read_u32(field::BACKEND_EPOCH)? == epoch {
                    return Ok(epoch);
                }
                if region.read_u32(field::DEVICE_STATUS)? != DeviceStatus::Ready.code() {
                    return Err(DeviceError::NotReady);
                }
                if !keep_waiting() {
                    return Err(DeviceError::Timeout("ring reset"));
                }
            }
        })();
        match reset {
            Ok(epoch) => Ok(Self {
                doorbell_peer: region
                    .read_u32(field::DOORBELL)
                    .ok()
                    .and_then(doorbell_peer),
                region,
                layout,
                limits,
                submissions,
                completions,
                next_sequence: 1,
                epoch,
            }),
            Err(error) => Err((region, error)),
        }
    }

    /// Returns the layout the header states.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Returns the backend's limits as the header states them.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Returns the epoch of the last ring reset.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Returns the backend's ivshmem peer ID when it serves doorbells (read
    /// at attach; a restarted backend is attached anew).
    pub fn doorbell_peer(&self) -> Option<u16> {
        self.doorbell_peer
    }

    /// Returns the header's liveness words.
    pub fn liveness(&self) -> Result<Liveness, RegionError> {
        liveness(&self.region)
    }

    /// Gives the region back (to attach again later).
    pub fn into_region(self) -> R {
        self.region
    }

    /// Writes `bytes` at `offset` of the data area; a length that is not a
    /// whole number of words is padded with zero bytes up to the next word.
    pub fn write_data(&mut self, offset: u64, bytes: &[u8]) -> Result<(), DeviceError> {
        let start = self.data_range(offset, bytes.len().next_multiple_of(WORD_BYTES))?;
        let whole = bytes.len() - bytes.len() % WORD_BYTES;
        self.region.write_bytes(start, &bytes[..whole])?;
        if whole < bytes.len() {
            let mut last = [0u8; WORD_BYTES];
            last[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
            self.region.write_bytes(start + whole, &last)?;
        }
        Ok(())
    }

    /// Reads `buffer.len()` bytes from `offset` of the data area.
    pub fn read_data(&self, offset: u64, buffer: &mut [u8]) -> Result<(), DeviceError> {
        let start = self.data_range(offset, buffer.len())?;
        Ok(self.region.read_bytes(start, buffer)?)
    }

    /// Returns the region offset of data bytes `offset..offset + len`, if they
    /// lie inside the data area.
    fn data_range(&self, offset: u64, len: usize) -> Result<usize, DeviceError> {
        let end = offset
            .checked_add(len as u64)
            .ok_or(DeviceError::TooLarge)?;
        if end > self.layout.data_bytes() {
            return Err(DeviceError::TooLarge);
        }
        self.layout
            .data_to_region(offset)
            .ok_or(DeviceError::TooLarge)
    }

    /// Submits `request`; returns its sequence number. `Ok(None)` when the
    /// submission ring is full.
    pub fn submit(&mut self, request: &Request) -> Result<Option<u64>, DeviceError> {
        let sequence = self.next_sequence;
        let mut descriptor = if request.op == Op::Nop {
            Descriptor::nop(sequence)
        } else {
            Descriptor::matmul(request.op, sequence, request.shape, request.offsets)
        };
        descriptor.flags = request.flags;
        if !self.submissions.push(&mut self.region, &descriptor)? {
            return Ok(None);
        }
        self.next_sequence = sequence.wrapping_add(1);
        Ok(Some(sequence))
    }

    /// Takes the next completion, if one is waiting.
    pub fn poll(&mut self) -> Result<Option<Completion>, DeviceError> {
        Ok(self.completions.pop(&mut self.region)?)
    }

    /// Submits one job, calls `ring` once it is published (to ring the
    /// backend's doorbell, if any), and waits for its completion, calling
    /// `keep_waiting` between polls (`false` gives up with [`DeviceError::Timeout`]).
    pub fn run(
        &mut self,
        request: &Request,
        ring: impl FnOnce(),
        mut keep_waiting: impl FnMut() -> bool,
    ) -> Result<Completion, DeviceError> {
        let sequence = loop {
            if let Some(sequence) = self.submit(request)? {
                ring();
                break sequence;
            }
            // Full: only stale completions (of a job abandoned earlier) can be in the way.
            while self.poll()?.is_some() {}
            if !keep_waiting() {
                return Err(DeviceError::Timeout("submission slot"));
            }
        };
        loop {
            if let Some(completion) = self.poll()? {
                if completion.sequence == sequence {
                    return Ok(completion);
                }
                if completion.sequence > sequence {
                    return Err(DeviceError::WrongSequence {
                        expected: sequence,
                        got: completion.sequence,
                    });
                }
                // An older job's completion (abandoned after a timeout): skip it.
                continue;
            }
            if !keep_waiting() {
                return Err(DeviceError::Timeout("completion"));
            }
        }
    }
}
