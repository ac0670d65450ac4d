//! The shared-memory protocol of the paravirtual tensor accelerator.
//!
//! The accelerator is QEMU's `ivshmem-plain` PCI device (1af4:1110): its BAR2 is a
//! region of host memory that a backend process on the host maps too. This crate is
//! the protocol both sides speak over that region, shared by the kernel's driver and
//! the backend (`tensor-backend`); `drivers/tensor-ring/PROTOCOL.md` is the full
//! description. In short:
//!
//! - [`layout`]: a one-page header (magic, version, sizes and offsets, the backend's
//!   limits, a device status word, a heartbeat, the ring indices), a submission ring
//!   of 64-byte [`Descriptor`]s, a completion ring of 32-byte [`Completion`]s, then
//!   the data area where operands live. The guest owns the data area: tensors it
//!   leaves there (model weights) stay between jobs.
//! - [`ring`]: single-producer, single-consumer rings with free-running `u32`
//!   indices; an entry is written before the index that publishes it.
//! - [`validate()`]: the backend's border. A descriptor is an allegation from an
//!   untrusted guest until it becomes a [`Job`], whose byte ranges all lie inside
//!   the data area; a malformed one gets a [`Refusal`] with a stated code, which the
//!   backend posts as an error completion.
//! - [`reference`](mod@reference): the scalar reference every backend's results are checked against.
//! - [`Region`]: the one way either side touches the memory, with bounds-checked,
//!   word-aligned accesses: over MMIO in the kernel, over the file mapping in the
//!   backend ([`SharedWords`]), over a byte slice in tests.
//!
//! The crate is `no_std`, has no `unsafe` and needs no allocator; nothing in it
//! panics on any content of the region.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod descriptor;
pub mod layout;
pub mod reference;
pub mod region;
pub mod ring;
pub mod validate;

pub use descriptor::{
    COMPLETION_BYTES, Completion, DESCRIPTOR_BYTES, Descriptor, FLAG_NOTIFY, KNOWN_FLAGS, Op,
    Outcome, STATUS_DEVICE_FAULT, STATUS_OK,
};
pub use layout::{DeviceStatus, Layout, LayoutError, read_header, write_header};
pub use region::{Region, RegionError, SharedWords};
pub use ring::{
    CompletionConsumer, CompletionProducer, RingError, SubmissionConsumer, SubmissionProducer,
};
pub use validate::{
    ByteRange, Dimension, Element, Job, Limits, Matmul, OPERAND_ALIGNMENT, Operand, Refusal,
    validate,
};
