//! Resident tensors: matrices an agent uploads once and names in later calls.
//!
//! A model's weights are the B operand of every call of its layer. Uploaded
//! once ([`upload`]), they stay in kernel memory (charged to the owner's
//! memory budget) and, once a device route has used them, in that device's
//! data area too, above the per-call scratch space
//! ([`super::tensor::SCRATCH_BYTES`]): a later call moves only A and C.
//! A placement is valid for one generation of its device's resident area
//! (a re-attach, after a backend restart, or an eviction to make room starts
//! a new one, and the tensor is copied again on its next use there). The
//! CPU route reads the kernel's copy.
//!
//! Only the owner names its tensors: another agent's ID is `NotFound`. An
//! agent holds at most [`MAX_PER_AGENT`], all agents at most [`MAX_RESIDENTS`]
//! and [`POOL_BYTES`] together; an agent's tensors go when it exits.

use alloc::{sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use tensor_ring::Element;

use super::{AccelError, shared::MAX_SHARED_DEVICES};
use crate::{arch::cpu::without_interrupts, user::budget::Charge};

/// Most resident tensors of one agent.
pub const MAX_PER_AGENT: usize = 16;
/// Most resident tensors of all agents together.
pub const MAX_RESIDENTS: usize = 64;
/// Kernel memory all resident tensors together may hold, bytes.
pub const POOL_BYTES: u64 = 4 * 1024 * 1024;

/// Where a tensor lies in one device's data area, and for which generation
/// of that device's resident area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Data-area offset.
    pub offset: u64,
    /// The device's resident generation when it was placed.
    pub generation: u64,
}

/// One resident tensor as a call uses it: its shape, its bytes (shared, not
/// copied) and where it is placed.
#[derive(Debug, Clone)]
pub struct ResidentRef {
    /// Its ID.
    pub id: u64,
    /// `f32` or `i8` elements.
    pub element: Element,
    /// Rows (the matmul's `k`).
    pub rows: usize,
    /// Columns (the matmul's `n`).
    pub columns: usize,
    /// The elements, little-endian, row-major.
    pub bytes: Arc<[u8]>,
    /// Per device, where it lies.
    pub placed: [Option<Placement>; MAX_SHARED_DEVICES],
    /// A fused layer's epilogue, if the tensor is a layer's weights.
    pub epilogue: Option<Epilogue>,
}

/// What a fused int8 dense layer does after its product (see
/// `agent_abi::TensorOp::LayerI8`).
#[derive(Debug, Clone)]
pub struct Epilogue {
    /// One bias per output column, added in wrapping `i32`.
    pub bias: Arc<[i32]>,
    /// The requantization multiplier (0 or in `[2^30, 2^31)`) and shift (`-31..=30`).
    pub requant: (i32, i32),
    /// Whether a ReLU follows (codes clamped at 0).
    pub relu: bool,
    /// Whether the layer gives its accumulators (no requantization).
    pub accumulators: bool,
}

impl Epilogue {
    /// Returns whether the requantization is in the ranges the runtime makes.
    pub fn is_valid(&self) -> bool {
        let (multiplier, shift) = self.requant;
        (multiplier == 0 || multiplier >= 1 << 30) && (-31..=30).contains(&shift)
    }

    /// Adds the bias to every row of `acc` (rows of `bias.len()`).
    pub fn add_bias(&self, acc: &mut [i32]) {
        for row in acc.chunks_exact_mut(self.bias.len()) {
            for (value, bias) in row.iter_mut().zip(self.bias.iter()) {
                *value = value.wrapping_add(*bias);
            }
        }
    }

    /// Writes the `i8` codes of the biased accumulators `acc` into `out`.
    pub fn codes(&self, acc: &[i32], out: &mut [i8]) {
        let low = if self.relu { 0 } else { -127 };
        let (multiplier, shift) = self.requant;
        for (code, value) in out.iter_mut().zip(acc) {
            *code =
                tensor_ring::reference::requantize(*value, multiplier, shift).clamp(low, 127) as i8;
        }
    }
}

/// A status view of one resident tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidentInfo {
    /// Its ID.
    pub id: u64,
    /// The agent that owns it.
    pub owner: u64,
    /// `f32` or `i8`.
    pub element: Element,
    /// Rows and columns.
    pub shape: (usize, usize),
    /// Devices it was placed on (a bit per device; the placement may be stale).
    pub placed_mask: u32,
}

struct Resident {
    owner: u64,
    tensor: ResidentRef,
    /// Kept while the tensor lives; released when dropped.
    _charge: Option<Charge>,
}

static RESIDENTS: Mutex<Vec<Resident>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn with_residents<R>(action: impl FnOnce(&mut Vec<Resident>) -> R) -> R {
    without_interrupts(|| action(&mut RESIDENTS.lock()))
}

/// Keeps `bytes` (`rows x columns` elements of `element`, little-endian) as a
/// resident tensor of `owner`; returns its ID. `InvalidArgument` for a shape
/// outside the `tensor` limits or a length that does not match it,
/// `Exhausted` when the owner holds [`MAX_PER_AGENT`] already, `OutOfMemory`
/// when the pool or the table is full. `charge` is the owner's memory charge
/// for the bytes, held as long as the tensor.
pub fn upload(
    owner: u64,
    element: Element,
    shape: (usize, usize),
    bytes: Vec<u8>,
    charge: Option<Charge>,
) -> Result<u64, AccelError> {
    upload_with(owner, element, shape, bytes, None, charge)
}

/// Keeps a fused int8 layer of `owner`: its weights (`rows x columns` `i8`)
/// as [`upload`] does, with `epilogue` (`columns` biases, a valid
/// requantization; else `InvalidArgument`).
pub fn upload_layer(
    owner: u64,
    shape: (usize, usize),
    weights: Vec<u8>,
    epilogue: Epilogue,
    charge: Option<Charge>,
) -> Result<u64, AccelError> {
    if epilogue.bias.len() != shape.1 || !epilogue.is_valid() {
        return Err(AccelError::InvalidArgument);
    }
    upload_with(owner, Element::I8, shape, weights, Some(epilogue), charge)
}

fn upload_with(
    owner: u64,
    element: Element,
    (rows, columns): (usize, usize),
    bytes: Vec<u8>,
    epilogue: Option<Epilogue>,
    charge: Option<Charge>,
) -> Result<u64, AccelError> {
    let dimension = 1..=super::tensor::MAX_DIMENSION;
    let expected = rows
        .checked_mul(columns)
        .and_then(|count| count.checked_mul(element.input_bytes() as usize));
    if !dimension.contains(&rows)
        || !dimension.contains(&columns)
        || expected != Some(bytes.len())
        || bytes.len() > super::tensor::MAX_OPERAND_BYTES
    {
        return Err(AccelError::InvalidArgument);
    }
    let length = bytes.len() as u64
        + epilogue
            .as_ref()
            .map_or(0, |epilogue| 4 * epilogue.bias.len() as u64);
    let tensor = ResidentRef {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        element,
        rows,
        columns,
        bytes: Arc::from(bytes),
        placed: [None; MAX_SHARED_DEVICES],
        epilogue,
    };
    let id = tensor.id;
    // The old table's memory is freed outside the lock (a grow reallocates).
    with_residents(|residents| {
        if residents.iter().filter(|r| r.owner == owner).count() >= MAX_PER_AGENT {
            return Err(AccelError::Exhausted);
        }
        let held: u64 = residents.iter().map(|r| r.tensor.held_bytes()).sum();
        if residents.len() >= MAX_RESIDENTS || held + length > POOL_BYTES {
            return Err(AccelError::OutOfMemory);
        }
        if residents.capacity() == residents.len() {
            residents.reserve_exact(MAX_RESIDENTS - residents.len());
        }
        residents.push(Resident {
            owner,
            tensor,
            _charge: charge,
        });
        Ok(id)
    })
}

impl ResidentRef {
    /// Returns the kernel memory it holds, bytes.
    pub fn held_bytes(&self) -> u64 {
        self.bytes.len() as u64
            + self
                .epilogue
                .as_ref()
                .map_or(0, |epilogue| 4 * epilogue.bias.len() as u64)
    }
}

/// Returns `owner`'s tensor `id`; `NotFound` for an ID it does not own.
pub fn lookup(owner: u64, id: u64) -> Result<ResidentRef, AccelError> {
    with_residents(|residents| {
        residents
            .iter()
            .find(|r| r.tensor.id == id && r.owner == owner)
            .map(|r| r.tensor.clone())
            .ok_or(AccelError::NotFound)
    })
}

/// Records that tensor `id` now lies at `placement` on `device` (nothing if
/// it was released meanwhile).
pub fn set_placement(id: u64, device: usize, placement: Placement) {
    with_residents(|residents| {
        if let Some(slot) = residents
            .iter_mut()
            .find(|r| r.tensor.id == id)
            .and_then(|r| r.tensor.placed.get_mut(device))
        {
            *slot = Some(placement);
        }
    });
}

/// Drops `owner`'s tensor `id` and its device placements; `NotFound` for
/// an ID it does not own.
pub fn release(owner: u64, id: u64) -> Result<(), AccelError> {
    let removed = with_residents(|residents| {
        let index = residents
            .iter()
            .position(|r| r.tensor.id == id && r.owner == owner)?;
        Some(residents.swap_remove(index))
    })
    .ok_or(AccelError::NotFound)?;
    unplace(&removed.tensor);
    Ok(())
}

/// Drops every tensor of agent `pid` (at its exit, through [`super::tensor::release_agent`]).
pub fn release_agent(pid: u64) {
    loop {
        let removed = with_residents(|residents| {
            let index = residents.iter().position(|r| r.owner == pid)?;
            Some(residents.swap_remove(index))
        });
        let Some(removed) = removed else {
            return;
        };
        unplace(&removed.tensor);
    }
}

/// Gives a released tensor's device ranges back.
fn unplace(tensor: &ResidentRef) {
    for (device, placement) in tensor.placed.iter().enumerate() {
        if let Some(placement) = placement {
            super::tensor::free_resident(device, *placement);
        }
    }
}

/// Returns a view of every resident tensor.
pub fn residents() -> Vec<ResidentInfo> {
    with_residents(|residents| {
        residents
            .iter()
            .map(|r| ResidentInfo {
                id: r.tensor.id,
                owner: r.owner,
                element: r.tensor.element,
                shape: (r.tensor.rows, r.tensor.columns),
                placed_mask: r
                    .tensor
                    .placed
                    .iter()
                    .enumerate()
                    .filter(|(_, placed)| placed.is_some())
                    .fold(0, |mask, (device, _)| mask | (1 << device)),
            })
            .collect()
    })
}
