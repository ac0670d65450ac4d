//! The tensor accelerators: matrix products on the CPU or on a paravirtual device.
//!
//! A tensor device is an `ivshmem` function ([`super::shared`]) behind which
//! a host process (`tensor-backend`) serves the tensor-ring protocol
//! (`drivers/tensor-ring/PROTOCOL.md`); [`drivers::tensor::TensorDevice`] is
//! the guest's end of it. This module keeps one slot per shared-memory
//! device and drives it:
//!
//! - **Attach.** A slot whose header is valid and whose backend is ready is
//!   attached (rings reset through the epoch handshake); until then it waits.
//!   Devices are attached at boot and looked at again at most every
//!   [`CHECK_INTERVAL_US`] by [`check`] (every tensor call runs it).
//! - **Jobs.** A call holds one device for its job (one job in flight per
//!   device): operands are written into the data area, the descriptor is
//!   submitted, the completion awaited. On the poll route the caller spins
//!   briefly, then yields between polls. On the interrupt route
//!   (`ivshmem-doorbell`: its MSI-X vector, and a backend that serves
//!   doorbells) the job asks for a completion interrupt and the caller
//!   blocks until it comes, so other agents run meanwhile. With doorbells
//!   every submission also rings the backend, which then sleeps on its
//!   doorbell instead of a timer while idle.
//! - **Loss.** A job whose deadline passes, or whose backend's heartbeat
//!   stands still for [`HEARTBEAT_STALL_US`], fails; the device is marked
//!   lost and the adaptive table backs the route off, so calls go to the CPU
//!   or the other device. An idle device whose heartbeat stops is marked
//!   lost the same way. A lost device whose heartbeat moves again (its
//!   backend restarted) is attached anew.
//!
//! The CPU route is the kernel's own code: `i8` products in integer
//! arithmetic, `f32` products with SSE dot products inside the kernel's
//! vector bracket ([`crate::task::with_kernel_vector`]), one output row per
//! bracket so interrupts are never off for long.
//!
//! Every call is checked against the kernel's limits ([`MAX_DIMENSION`],
//! [`MAX_OPERAND_BYTES`], [`MAX_MULTIPLY_ADDS`]) before any route runs, and a
//! device route only when the operands fit the device's data area and its
//! published limits.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU16, AtomicU64, Ordering};

use drivers::{
    ivshmem::Ivshmem,
    tensor::{DeviceError, FLAG_NOTIFY, IvshmemRegion, Request, TensorDevice, liveness},
};
use kernel_core::{
    range_alloc::RangeAllocator,
    turn::{Turn, Waiter as TurnWaiter},
};
use spin::Mutex;
use tensor_ring::{Element, Op, Outcome as JobOutcome, reference::Shape};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::{
    AccelError, Completion, JobOptions, Outcome, Route,
    dispatch::Operation,
    resident::{self, Placement, ResidentRef},
};
use crate::{arch::cpu::without_interrupts, task, time};

/// The largest `m`, `k` or `n` of one call.
pub const MAX_DIMENSION: usize = agent_abi::MAX_TENSOR_DIMENSION as usize;
/// The largest operand (A, B or C) of one call, bytes.
pub const MAX_OPERAND_BYTES: usize = agent_abi::MAX_TENSOR_OPERAND_BYTES as usize;
/// The most multiply-adds `m * k * n` of one call.
pub const MAX_MULTIPLY_ADDS: u64 = agent_abi::MAX_TENSOR_MULTIPLY_ADDS;
/// A backend whose heartbeat does not move for this long is taken for dead.
/// A job within the kernel's limits takes the backend far less (the
/// protocol's own bound is for jobs up to 2^33 multiply-adds).
pub const HEARTBEAT_STALL_US: u64 = 1_000_000;
/// [`check`] looks at the devices at most this often.
pub const CHECK_INTERVAL_US: u64 = 50_000;
/// How long attaching may wait for the backend's ring reset.
const ATTACH_WAIT_US: u64 = 200_000;
/// Operands start at multiples of this many bytes of the data area.
const OPERAND_ALIGN: u64 = 64;
/// The start of every data area holds one call's operands (A, B, C at most
/// [`MAX_OPERAND_BYTES`] each); resident tensors ([`resident`]) lie above.
pub const SCRATCH_BYTES: u64 = 1 << 20;
const _: () = assert!(3 * (MAX_OPERAND_BYTES as u64 + OPERAND_ALIGN) <= SCRATCH_BYTES);
/// How long a waiting caller spins before it starts yielding between
/// polls, µs: a small job's completion (the backend wakes within a few
/// hundred µs) comes sooner than a round of the other agents would take,
/// and a yield puts the caller behind every other agent's time slice.
const SPIN_US: u64 = 200;
/// A caller blocked for a completion interrupt wakes at least this often,
/// µs, to look at its deadline and the backend's heartbeat (doorbells only
/// wake; the ring is the truth, so a lost one costs at most this).
const INTERRUPT_RECHECK_US: u64 = 20_000;
/// Output elements per vector bracket on the CPU route (bounds the time
/// interrupts are off to one bracket's dot products).
const CPU_BRACKET_MULTIPLY_ADDS: usize = 16 * 1024;

/// Kernel heap all `tensor` syscalls together may hold for their operands
/// at once (the heap is 16 MiB): a call waits in turn for its share.
pub const BUFFER_POOL_BYTES: u64 = 4 * 1024 * 1024;

static BUFFERS_IN_USE: AtomicU64 = AtomicU64::new(0);

/// Device jobs between taking their device and putting it back: while one
/// is, its caller waits for a completion, and the CPU route makes way for
/// it between slices ([`make_way`]).
static DEVICE_JOBS: AtomicU64 = AtomicU64::new(0);

/// Counts a device job while it lives.
struct DeviceJob;

impl DeviceJob {
    fn start() -> Self {
        DEVICE_JOBS.fetch_add(1, Ordering::Relaxed);
        Self
    }
}

impl Drop for DeviceJob {
    fn drop(&mut self) {
        DEVICE_JOBS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Yields between slices of a CPU-route matmul while a device job is in
/// flight: its caller (polling, or woken by the completion interrupt)
/// needs the CPU for a few microseconds to see its completion and copy C
/// out, and without this waits behind the rest of a long CPU matmul, up to
/// a timeslice. The CPU route's own latency grows by those few microseconds
/// per slice; no agent holds the CPU from the device routes' callers.
fn make_way() {
    if DEVICE_JOBS.load(Ordering::Relaxed) > 0 {
        task::yield_now();
    }
}

/// Bytes of the buffer pool held by one call; given back when dropped.
#[derive(Debug)]
pub struct BufferReservation {
    bytes: u64,
}

impl Drop for BufferReservation {
    fn drop(&mut self) {
        BUFFERS_IN_USE.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Reserves `bytes` of the kernel's tensor buffer pool, yielding while
/// other calls hold it, until `deadline` (µs): `Busy` then, and
/// `InvalidArgument` for more than the whole pool.
pub fn reserve_buffers(bytes: u64, deadline: u64) -> Result<BufferReservation, AccelError> {
    if bytes > BUFFER_POOL_BYTES {
        return Err(AccelError::InvalidArgument);
    }
    loop {
        let in_use = BUFFERS_IN_USE.load(Ordering::Acquire);
        if in_use + bytes <= BUFFER_POOL_BYTES {
            if BUFFERS_IN_USE
                .compare_exchange(in_use, in_use + bytes, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Ok(BufferReservation { bytes });
            }
            continue;
        }
        if time::now_us() >= deadline {
            return Err(AccelError::Busy);
        }
        task::yield_now();
    }
}

/// Where a slot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorState {
    /// No ready backend behind it yet.
    Waiting,
    /// Being attached (rings reset) by some caller.
    Attaching,
    /// Attached and free.
    Ready,
    /// Attached and running a job.
    Busy,
    /// Its backend stopped answering; picked up again when its heartbeat moves.
    Lost,
}

/// One tensor device as status views show it.
#[derive(Debug, Clone, Copy)]
pub struct TensorDeviceInfo {
    /// Index among the tensor devices (the route's device number).
    pub index: usize,
    /// PCI address of its `ivshmem` function.
    pub address: drivers::pci::PciAddress,
    /// Where it stands.
    pub state: TensorState,
    /// Bytes of its data area (0 before the first attach).
    pub data_bytes: u64,
    /// Jobs completed.
    pub jobs: u64,
    /// Jobs that failed (timeout, lost backend, refusal).
    pub failures: u64,
    /// Backend time over the completed jobs, ns (from the completions).
    pub backend_ns: u64,
    /// Guest time over the completed jobs, µs (holding the device included).
    pub guest_us: u64,
    /// Times the device was attached (1 after boot, +1 per backend restart seen).
    pub attaches: u64,
    /// Times it was marked lost.
    pub losses: u64,
    /// The MSI-X vector of its doorbell interrupts (`ivshmem-doorbell`).
    pub vector: Option<u8>,
    /// Whether its backend serves doorbells (read at the last attach).
    pub doorbell: bool,
    /// Completion interrupts received.
    pub interrupts: u64,
    /// Bytes of resident tensors placed in its data area now.
    pub resident_bytes: u64,
    /// Times its resident area was emptied to make room (the tensors are
    /// copied again on their next use there).
    pub evictions: u64,
}

impl TensorDeviceInfo {
    /// Whether its interrupt route is open: a routed MSI-X vector and a
    /// backend that serves doorbells.
    pub fn serves_interrupts(&self) -> bool {
        self.vector.is_some() && self.doorbell
    }
}

struct Slot {
    shm: &'static Ivshmem,
    device: Option<TensorDevice<IvshmemRegion<'static>>>,
    info: TensorDeviceInfo,
    /// Last heartbeat seen and when it last changed (µs).
    heartbeat: u32,
    heartbeat_changed_us: u64,
    /// The heartbeat when the device was marked lost: a restarted backend
    /// shows itself by beating past it.
    lost_heartbeat: u32,
    /// Callers waiting for this device.
    waiting: u32,
    /// Its resident area (above [`SCRATCH_BYTES`]) and its generation: a
    /// placement of another generation is stale.
    resident_area: RangeAllocator,
    resident_generation: u64,
    /// The longest waiter for the device: a caller that gives it back and
    /// asks again at once does not overtake one already waiting.
    turn: Turn,
}

static SLOTS: Mutex<Vec<Slot>> = Mutex::new(Vec::new());
static LAST_CHECK_US: AtomicU64 = AtomicU64::new(0);

/// The event each device's interrupt signals (`u16::MAX`: none yet), read
/// by the interrupt handler without a lock.
static EVENTS: [AtomicU16; super::shared::MAX_SHARED_DEVICES] =
    [const { AtomicU16::new(u16::MAX) }; super::shared::MAX_SHARED_DEVICES];
/// Interrupts received per device.
static INTERRUPTS: [AtomicU64; super::shared::MAX_SHARED_DEVICES] =
    [const { AtomicU64::new(0) }; super::shared::MAX_SHARED_DEVICES];

/// Called by [`super::shared`]'s MSI-X handler (interrupts off) when device
/// `index` rang: counts it and wakes whoever waits for that device.
pub fn on_interrupt(index: usize) {
    if let Some(count) = INTERRUPTS.get(index) {
        count.fetch_add(1, Ordering::Relaxed);
    }
    let event = EVENTS
        .get(index)
        .map_or(u16::MAX, |event| event.load(Ordering::Acquire));
    if event != u16::MAX {
        task::signal(task::EventId(event));
    }
}

/// Returns device `index`'s interrupt event, made on first use (by the
/// caller holding the device, so never twice at once).
fn interrupt_event(index: usize) -> Option<task::EventId> {
    let slot = EVENTS.get(index)?;
    let event = slot.load(Ordering::Acquire);
    if event != u16::MAX {
        return Some(task::EventId(event));
    }
    let made = task::new_event()?;
    slot.store(made.0, Ordering::Release);
    Some(made)
}

fn with_slots<R>(action: impl FnOnce(&mut Vec<Slot>) -> R) -> R {
    without_interrupts(|| action(&mut SLOTS.lock()))
}

/// Takes every shared-memory device as a potential tensor device and
/// attaches those with a ready backend; returns how many are ready. Only
/// the first call builds the slots.
pub fn init() -> usize {
    let empty = with_slots(|slots| slots.is_empty());
    if empty {
        let now = time::now_us();
        let found: Vec<Slot> = (0..super::shared::count())
            .filter_map(|index| {
                let shm = super::shared::device(index)?;
                let info = super::shared::devices().get(index).copied()?;
                Some(Slot {
                    shm,
                    device: None,
                    info: TensorDeviceInfo {
                        index,
                        address: info.address,
                        state: TensorState::Waiting,
                        data_bytes: 0,
                        jobs: 0,
                        failures: 0,
                        backend_ns: 0,
                        guest_us: 0,
                        attaches: 0,
                        losses: 0,
                        vector: info.interrupt_vector,
                        doorbell: false,
                        interrupts: 0,
                        resident_bytes: 0,
                        evictions: 0,
                    },
                    heartbeat: 0,
                    heartbeat_changed_us: now,
                    lost_heartbeat: 0,
                    waiting: 0,
                    resident_area: RangeAllocator::new(0, 0, OPERAND_ALIGN),
                    resident_generation: 0,
                    turn: Turn::new(),
                })
            })
            .collect();
        with_slots(|slots| *slots = found);
    }
    for index in 0..count() {
        try_attach(index);
    }
    let ready = ready_mask().count_ones() as usize;
    for info in devices() {
        match info.state {
            TensorState::Ready => log::info!(
                "accel: tensor#{} at {}: backend attached, {} KiB data area, {}",
                info.index,
                info.address,
                info.data_bytes / 1024,
                match (info.vector, info.doorbell) {
                    (Some(_), true) => "doorbells and completion interrupts",
                    (Some(_), false) => "polling (the backend serves no doorbells)",
                    (None, _) => "polling (ivshmem-plain)",
                }
            ),
            _ => log::info!(
                "accel: tensor#{} at {}: no ready backend yet (picked up when one starts)",
                info.index,
                info.address
            ),
        }
    }
    ready
}

/// Returns the number of tensor slots (shared-memory devices).
pub fn count() -> usize {
    with_slots(|slots| slots.len())
}

/// Returns the mask of attached devices (free or busy).
pub fn ready_mask() -> u32 {
    with_slots(|slots| {
        slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| matches!(slot.info.state, TensorState::Ready | TensorState::Busy))
            .fold(0, |mask, (index, _)| mask | (1 << index))
    })
}

/// Returns snapshots of the slots.
pub fn devices() -> Vec<TensorDeviceInfo> {
    with_slots(|slots| {
        slots
            .iter()
            .map(|slot| TensorDeviceInfo {
                interrupts: INTERRUPTS
                    .get(slot.info.index)
                    .map_or(0, |count| count.load(Ordering::Relaxed)),
                resident_bytes: slot.resident_area.used_bytes(),
                ..slot.info
            })
            .collect()
    })
}

/// Returns one printable line per tensor device: state, jobs, failures,
/// the backend's and the guest's time per job, attaches and losses (the
/// dashboard's accelerator panel and the shell's `accel`).
pub fn status_lines() -> Vec<alloc::string::String> {
    devices()
        .iter()
        .map(|device| {
            let jobs = device.jobs.max(1);
            alloc::format!(
                "tensor#{} {} {:?} {} jobs {} failed {} backend {} us/job guest {} us/job irqs {} resident {} KiB attached {}x lost {}x",
                device.index,
                device.address,
                device.state,
                if device.serves_interrupts() {
                    "doorbell"
                } else {
                    "poll-only"
                },
                device.jobs,
                device.failures,
                device.backend_ns / 1_000 / jobs,
                device.guest_us / jobs,
                device.interrupts,
                device.resident_bytes / 1024,
                device.attaches,
                device.losses
            )
        })
        .collect()
}

/// Looks at the devices (at most every [`CHECK_INTERVAL_US`]): marks lost
/// the idle ones whose heartbeat stood still for [`HEARTBEAT_STALL_US`] or
/// whose backend stopped, attaches waiting and lost ones whose backend is
/// ready and beating.
pub fn check() {
    let now = time::now_us();
    let last = LAST_CHECK_US.load(Ordering::Relaxed);
    if now.saturating_sub(last) < CHECK_INTERVAL_US
        || LAST_CHECK_US
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    for index in 0..count() {
        watch(index, now);
        try_attach(index);
    }
}

/// Updates slot `index`'s heartbeat record; marks an idle attached device
/// lost when its backend stopped or its heartbeat stood still too long.
fn watch(index: usize, now: u64) {
    with_slots(|slots| {
        let Some(slot) = slots.get_mut(index) else {
            return;
        };
        let Ok(live) = liveness(&IvshmemRegion::new(slot.shm)) else {
            return;
        };
        if live.heartbeat != slot.heartbeat {
            slot.heartbeat = live.heartbeat;
            slot.heartbeat_changed_us = now;
        }
        let stalled = now.saturating_sub(slot.heartbeat_changed_us) >= HEARTBEAT_STALL_US;
        let stopped = live.status != Some(tensor_ring::DeviceStatus::Ready);
        if slot.info.state == TensorState::Ready && (stalled || stopped) {
            slot.device = None;
            mark_lost(
                slot,
                if stopped {
                    "stopped"
                } else {
                    "heartbeat stalled"
                },
            );
        }
    });
}

fn mark_lost(slot: &mut Slot, why: &str) {
    slot.lost_heartbeat =
        liveness(&IvshmemRegion::new(slot.shm)).map_or(slot.heartbeat, |live| live.heartbeat);
    slot.info.state = TensorState::Lost;
    slot.info.losses += 1;
    log::warn!(
        "accel: tensor#{} lost ({why}); its calls go elsewhere until its backend beats again",
        slot.info.index
    );
}

/// Attaches slot `index` if it waits, or is lost and its heartbeat moved
/// since, and its backend is ready.
fn try_attach(index: usize) {
    let claimed = with_slots(|slots| {
        let slot = slots.get_mut(index)?;
        let live = liveness(&IvshmemRegion::new(slot.shm)).ok()?;
        let ready = live.has_header && live.status == Some(tensor_ring::DeviceStatus::Ready);
        // Compared with the value at the loss, not the last one seen: `watch`
        // keeps that current, so it would hide the restart.
        let wanted = match slot.info.state {
            TensorState::Waiting => ready,
            TensorState::Lost => ready && live.heartbeat != slot.lost_heartbeat,
            _ => false,
        };
        if !wanted {
            return None;
        }
        slot.heartbeat = live.heartbeat;
        slot.heartbeat_changed_us = time::now_us();
        slot.info.state = TensorState::Attaching;
        Some(slot.shm)
    });
    let Some(shm) = claimed else {
        return;
    };
    let deadline = time::now_us().saturating_add(ATTACH_WAIT_US);
    let attached = TensorDevice::attach(IvshmemRegion::new(shm), || {
        core::hint::spin_loop();
        if task::current().is_some() {
            task::yield_now();
        }
        time::now_us() < deadline
    });
    with_slots(|slots| {
        let Some(slot) = slots.get_mut(index) else {
            return;
        };
        match attached {
            Ok(device) => {
                slot.info.data_bytes = device.layout().data_bytes();
                slot.info.doorbell = device.doorbell_peer().is_some();
                slot.info.attaches += 1;
                // Nothing placed before is trusted after a (re-)attach.
                slot.resident_area =
                    RangeAllocator::new(SCRATCH_BYTES, slot.info.data_bytes, OPERAND_ALIGN);
                slot.resident_generation += 1;
                slot.info.state = TensorState::Ready;
                if slot.info.attaches > 1 {
                    log::info!(
                        "accel: tensor#{index} attached again (epoch {}): its backend is back",
                        device.epoch()
                    );
                }
                slot.device = Some(device);
            }
            Err((_, error)) => {
                log::warn!("accel: tensor#{index} not attached: {error:?}");
                slot.info.state = if slot.info.attaches == 0 {
                    TensorState::Waiting
                } else {
                    TensorState::Lost
                };
            }
        }
    });
}

/// A device taken out of its slot for one job; put back by [`put_back`].
struct Held {
    index: usize,
    device: TensorDevice<IvshmemRegion<'static>>,
    shm: &'static Ivshmem,
}

/// Takes device `index` for a job, yielding while another caller holds it
/// (in turn: the longest waiter first), until `deadline` (µs): `Busy` then;
/// `DeviceFault` when it is not attached.
fn take(index: usize, deadline: u64) -> Result<Held, AccelError> {
    let mut counted = false;
    let me = TurnWaiter {
        id: task::current_pid(),
        since: time::now_us(),
    };
    let result = loop {
        let taken = with_slots(|slots| {
            let slot = slots.get_mut(index).ok_or(AccelError::NoDevice)?;
            let free = slot.info.state == TensorState::Ready;
            if !slot.turn.claim(me, free) && free {
                // Free, but an earlier caller waits for it.
                if !counted {
                    slot.waiting += 1;
                }
                return Ok(None);
            }
            match slot.info.state {
                TensorState::Ready => {
                    let device = slot.device.take().ok_or(AccelError::DeviceFault)?;
                    slot.info.state = TensorState::Busy;
                    Ok(Some(Held {
                        index,
                        device,
                        shm: slot.shm,
                    }))
                }
                TensorState::Busy | TensorState::Attaching => {
                    if !counted {
                        slot.waiting += 1;
                    }
                    Ok(None)
                }
                TensorState::Waiting | TensorState::Lost => Err(AccelError::DeviceFault),
            }
        });
        match taken {
            Ok(Some(held)) => break Ok(held),
            Ok(None) => {
                counted = true;
                if time::now_us() >= deadline {
                    break Err(AccelError::Busy);
                }
                task::yield_now();
            }
            Err(error) => break Err(error),
        }
    };
    with_slots(|slots| {
        if let Some(slot) = slots.get_mut(index) {
            if counted {
                slot.waiting = slot.waiting.saturating_sub(1);
            }
            if result.is_err() {
                slot.turn.forget(me.id);
            }
        }
    });
    result
}

/// The exit observer: agent `pid` waits for no device any more, and its
/// resident tensors go.
pub fn release_agent(pid: u64) {
    with_slots(|slots| {
        for slot in slots.iter_mut() {
            slot.turn.forget(pid);
        }
    });
    resident::release_agent(pid);
}

/// Puts a held device back: ready after a job that ended cleanly, lost
/// after one that did not (the backend may still write the data area for
/// an abandoned job; only a new attach's ring reset makes it safe again).
fn put_back(held: Held, result: &Result<JobReport, JobError>, guest_us: u64) {
    with_slots(|slots| {
        let Some(slot) = slots.get_mut(held.index) else {
            return;
        };
        match result {
            Ok(report) => {
                slot.info.jobs += 1;
                slot.info.backend_ns = slot.info.backend_ns.saturating_add(report.backend_ns);
                slot.info.guest_us = slot.info.guest_us.saturating_add(guest_us);
                slot.info.state = TensorState::Ready;
                slot.device = Some(held.device);
            }
            Err(JobError::Refused) => {
                slot.info.failures += 1;
                slot.info.state = TensorState::Ready;
                slot.device = Some(held.device);
            }
            Err(JobError::Device(error)) => {
                slot.info.failures += 1;
                log::warn!("accel: tensor#{} job failed: {error:?}", held.index);
                mark_lost(slot, "job failed");
            }
        }
    });
}

/// What a device job reports.
#[derive(Debug, Clone, Copy)]
struct JobReport {
    backend_ns: u64,
}

/// Why a device job failed.
#[derive(Debug, Clone, Copy)]
enum JobError {
    /// The backend refused the descriptor (a kernel bug: it is validated first).
    Refused,
    /// The device did not answer properly; it is marked lost.
    Device(DeviceError),
}

/// Decides how a waiting caller waits (spinning, then yielding; or blocked
/// until the device's interrupt) and when it stops: at its deadline, or when
/// the backend's heartbeat stands still for [`HEARTBEAT_STALL_US`].
struct Waiter {
    region: IvshmemRegion<'static>,
    deadline: u64,
    spin_until: u64,
    heartbeat: u32,
    heartbeat_changed_us: u64,
    /// The interrupt route: the device's event and its generation last seen.
    interrupt: Option<(task::EventId, u64)>,
}

impl Waiter {
    /// A waiter for a job on `shm` until `deadline`; blocking on `event`
    /// (the interrupt route) when given, which must be read before the job
    /// is submitted so that its interrupt cannot be missed.
    fn new(shm: &'static Ivshmem, deadline: u64, event: Option<task::EventId>) -> Self {
        let region = IvshmemRegion::new(shm);
        let heartbeat = liveness(&region).map_or(0, |live| live.heartbeat);
        let now = time::now_us();
        Self {
            region,
            deadline,
            spin_until: now.saturating_add(SPIN_US),
            heartbeat,
            heartbeat_changed_us: now,
            interrupt: event
                .filter(|_| task::current().is_some())
                .map(|event| (event, task::event_generation(event))),
        }
    }

    fn keep_waiting(&mut self) -> bool {
        let mut now = time::now_us();
        if let Some((event, seen)) = self.interrupt {
            let wake = self.deadline.min(now.saturating_add(INTERRUPT_RECHECK_US));
            task::wait_until(event, seen, Some(wake));
            self.interrupt = Some((event, task::event_generation(event)));
        } else {
            if now < self.spin_until.min(self.deadline) {
                core::hint::spin_loop();
                return true;
            }
            task::yield_now();
        }
        now = now.max(time::now_us());
        if now >= self.deadline {
            return false;
        }
        let heartbeat = liveness(&self.region).map_or(self.heartbeat, |live| live.heartbeat);
        if heartbeat != self.heartbeat {
            self.heartbeat = heartbeat;
            self.heartbeat_changed_us = now;
        }
        now.saturating_sub(self.heartbeat_changed_us) < HEARTBEAT_STALL_US
    }
}

/// A matmul's checked shape, in both forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatmulShape {
    /// Rows of A and C.
    pub m: usize,
    /// Columns of A, rows of B.
    pub k: usize,
    /// Columns of B and C.
    pub n: usize,
}

impl MatmulShape {
    /// Returns the shape if every dimension is 1..=[`MAX_DIMENSION`], every
    /// operand of elements of `input_bytes` (A, B) and `output_bytes` (C) at
    /// most [`MAX_OPERAND_BYTES`], and `m * k * n` at most [`MAX_MULTIPLY_ADDS`].
    pub fn new(
        m: usize,
        k: usize,
        n: usize,
        input_bytes: usize,
        output_bytes: usize,
    ) -> Result<Self, AccelError> {
        let dimension_ok = |value: usize| (1..=MAX_DIMENSION).contains(&value);
        if !(dimension_ok(m) && dimension_ok(k) && dimension_ok(n)) {
            return Err(AccelError::InvalidArgument);
        }
        // Dimensions are at most 2^12 here: no product below overflows.
        let operands = [
            m * k * input_bytes,
            k * n * input_bytes,
            m * n * output_bytes,
        ];
        if operands.iter().any(|bytes| *bytes > MAX_OPERAND_BYTES)
            || (m * k * n) as u64 > MAX_MULTIPLY_ADDS
        {
            return Err(AccelError::InvalidArgument);
        }
        Ok(Self { m, k, n })
    }

    /// Returns `m * k * n`.
    pub fn multiply_adds(&self) -> u64 {
        (self.m * self.k * self.n) as u64
    }

    fn reference(&self) -> Shape {
        Shape {
            m: self.m,
            k: self.k,
            n: self.n,
        }
    }

    fn words(&self) -> [u32; 3] {
        // At most MAX_DIMENSION each.
        [self.m as u32, self.k as u32, self.n as u32]
    }
}

/// Where the operands of a job go in the scratch part of the data area, and
/// where they end. A resident B takes no scratch (its offset is its placement's).
fn placement(
    shape: &MatmulShape,
    input_bytes: u64,
    output_bytes: u64,
    resident_b: bool,
) -> ([u64; 3], u64) {
    let a = 0;
    let b = (shape.m as u64 * shape.k as u64 * input_bytes).next_multiple_of(OPERAND_ALIGN);
    let c = if resident_b {
        b
    } else {
        (b + shape.k as u64 * shape.n as u64 * input_bytes).next_multiple_of(OPERAND_ALIGN)
    };
    let end = c + shape.m as u64 * shape.n as u64 * output_bytes;
    ([a, b, c], end)
}

/// Gives the range of `placement` back to device `device`'s resident area,
/// if the placement is of its current generation.
pub(super) fn free_resident(device: usize, placement: Placement) {
    with_slots(|slots| {
        if let Some(slot) = slots.get_mut(device)
            && slot.resident_generation == placement.generation
        {
            let _ = slot.resident_area.free(placement.offset);
        }
    });
}

/// Returns the data-area offset of `tensor` on held device `index`: its
/// placement if current, else a new one, the bytes copied in. A full area
/// is emptied first (a new generation; the others are copied again later).
fn place_resident(
    index: usize,
    device: &mut TensorDevice<IvshmemRegion<'static>>,
    tensor: &ResidentRef,
) -> Result<u64, DeviceError> {
    let length = tensor.bytes.len() as u64;
    let placed = with_slots(|slots| {
        let slot = slots.get_mut(index)?;
        if let Some(placement) = tensor.placed.get(index).copied().flatten()
            && placement.generation == slot.resident_generation
        {
            return Some((placement, false));
        }
        let offset = match slot.resident_area.allocate(length) {
            Some(offset) => offset,
            None => {
                slot.resident_area.reset();
                slot.resident_generation += 1;
                slot.info.evictions += 1;
                slot.resident_area.allocate(length)?
            }
        };
        let placement = Placement {
            offset,
            generation: slot.resident_generation,
        };
        Some((placement, true))
    });
    let (placement, fresh) = placed.ok_or(DeviceError::TooLarge)?;
    if fresh {
        device.write_data(placement.offset, &tensor.bytes)?;
        resident::set_placement(tensor.id, index, placement);
    }
    Ok(placement.offset)
}

/// What one call's route choice needs of the slots, read under one lock.
struct Availability {
    /// Attached devices (free or busy).
    ready: u32,
    /// Attached devices no job holds.
    free: u32,
    /// Devices whose data area holds the operands and whose limits admit the shape.
    fitting: u32,
    /// Callers holding or waiting for a device.
    in_flight: u32,
    /// Devices with a routed interrupt whose backend serves doorbells.
    interrupt: u32,
}

/// Returns the slots' [`Availability`] for a job of `shape` (with a
/// resident B of `resident_bytes`, if any).
fn availability(
    shape: &MatmulShape,
    input_bytes: u64,
    output_bytes: u64,
    resident_bytes: Option<u64>,
) -> Availability {
    let (_, end) = placement(shape, input_bytes, output_bytes, resident_bytes.is_some());
    let resident_end = SCRATCH_BYTES + resident_bytes.unwrap_or(0);
    with_slots(|slots| {
        let mut seen = Availability {
            ready: 0,
            free: 0,
            fitting: 0,
            in_flight: 0,
            interrupt: 0,
        };
        for (index, slot) in slots.iter().enumerate() {
            let bit = 1 << index;
            let state = slot.info.state;
            if matches!(state, TensorState::Ready | TensorState::Busy) {
                seen.ready |= bit;
            }
            if state == TensorState::Ready {
                seen.free |= bit;
            }
            let limits = slot.device.as_ref().map(|device| *device.limits());
            let within = limits.is_none_or(|limits| {
                shape.words().iter().all(|dim| *dim <= limits.max_dimension)
                    && shape.multiply_adds() <= limits.max_multiply_adds
            });
            if end <= slot.info.data_bytes
                && (resident_bytes.is_none() || resident_end <= slot.info.data_bytes)
                && within
            {
                seen.fitting |= bit;
            }
            seen.in_flight += slot.waiting + u32::from(state == TensorState::Busy);
            if slot.info.serves_interrupts() {
                seen.interrupt |= bit;
            }
        }
        seen
    })
}

/// An element type of the tensor protocol: plain little-endian bytes
/// (zerocopy proves the byte views; x86_64 is little-endian, as the
/// protocol is).
trait Elements: Copy + IntoBytes + FromBytes + Immutable {
    /// Bytes of one element.
    const BYTES: usize = core::mem::size_of::<Self>();
}

impl Elements for f32 {}
impl Elements for i32 {}
impl Elements for i8 {}

const _: () = assert!(cfg!(target_endian = "little"));

fn write_elements<T: Elements>(
    device: &mut TensorDevice<IvshmemRegion<'static>>,
    offset: u64,
    values: &[T],
) -> Result<(), DeviceError> {
    device.write_data(offset, values.as_bytes())
}

fn read_elements<T: Elements>(
    device: &TensorDevice<IvshmemRegion<'static>>,
    offset: u64,
    values: &mut [T],
) -> Result<(), DeviceError> {
    device.read_data(offset, values.as_mut_bytes())
}

/// Runs one matmul on device `index`: operands in, job, result out; with
/// `interrupt`, blocked until the completion interrupt.
fn device_matmul<A: Elements, C: Elements>(
    (index, interrupt): (usize, bool),
    op: Op,
    shape: &MatmulShape,
    a: &[A],
    b: &Operand<'_, A>,
    c: &mut [C],
    deadline: u64,
) -> Result<u64, AccelError> {
    let held = take(index, deadline)?;
    let _job = DeviceJob::start();
    // The job's buffers are the caller's; only the kill must wait.
    let _deferral = task::defer_kills();
    let start = time::now_us();
    let mut held = held;
    let resident_b = matches!(b, Operand::Resident(_));
    let (mut offsets, _) = placement(shape, A::BYTES as u64, C::BYTES as u64, resident_b);
    let event = if interrupt {
        interrupt_event(index)
    } else {
        None
    };
    let shm = held.shm;
    let peer = held.device.doorbell_peer();
    let result = (|| {
        write_elements(&mut held.device, offsets[0], a).map_err(JobError::Device)?;
        match b {
            Operand::Values(b) => {
                write_elements(&mut held.device, offsets[1], b).map_err(JobError::Device)?;
            }
            Operand::Resident(tensor) => {
                offsets[1] =
                    place_resident(index, &mut held.device, tensor).map_err(JobError::Device)?;
            }
        }
        let request = Request {
            op,
            shape: shape.words(),
            offsets,
            flags: if event.is_some() { FLAG_NOTIFY } else { 0 },
        };
        let mut waiter = Waiter::new(shm, deadline, event);
        let ring = || {
            if let Some(peer) = peer {
                shm.ring(peer, 0);
            }
        };
        let completion = held
            .device
            .run(&request, ring, || waiter.keep_waiting())
            .map_err(JobError::Device)?;
        match completion.outcome() {
            JobOutcome::Ok => {}
            JobOutcome::Refused(refusal) => {
                log::warn!("accel: tensor#{index} refused a checked job: {refusal:?}");
                return Err(JobError::Refused);
            }
            JobOutcome::DeviceFault | JobOutcome::Unknown { .. } => {
                return Err(JobError::Device(DeviceError::NotReady));
            }
        }
        read_elements(&held.device, offsets[2], c).map_err(JobError::Device)?;
        Ok(JobReport {
            backend_ns: completion.backend_ns,
        })
    })();
    let guest_us = time::now_us().saturating_sub(start);
    let timed_out = time::now_us() >= deadline;
    put_back(held, &result, guest_us);
    match result {
        Ok(report) => Ok(report.backend_ns),
        Err(JobError::Refused) => Err(AccelError::InvalidArgument),
        Err(JobError::Device(_)) if timed_out => Err(AccelError::Timeout),
        Err(JobError::Device(_)) => Err(AccelError::DeviceFault),
    }
}

/// Computes `C = A * B` for `i8` A and B into `i32` C on the CPU, as the
/// device does (wrapping `i32` accumulation; within the limits it cannot wrap).
pub fn cpu_matmul_i8(shape: &MatmulShape, a: &[i8], b: &[i8], c: &mut [i32]) {
    let MatmulShape { m, k, n } = *shape;
    let rows_per_slice = (CPU_BRACKET_MULTIPLY_ADDS / (k * n).max(1)).max(1);
    for (row, out) in c.chunks_exact_mut(n).take(m).enumerate() {
        if row > 0 && row % rows_per_slice == 0 {
            make_way();
        }
        out.fill(0);
        for (p, weight) in a[row * k..(row + 1) * k].iter().enumerate() {
            let weight = i32::from(*weight);
            if weight == 0 {
                continue;
            }
            for (value, factor) in out.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *value = value.wrapping_add(weight * i32::from(*factor));
            }
        }
    }
}

/// Computes `C = A * B` in `f32` on the CPU: B transposed once, then each
/// output element a dot product with SSE inside the kernel's vector bracket
/// (a bracket per slice of at most [`CPU_BRACKET_MULTIPLY_ADDS`]); in
/// software if the vector unit is off.
pub fn cpu_matmul_f32(shape: &MatmulShape, a: &[f32], b: &[f32], c: &mut [f32]) {
    let MatmulShape { m, k, n } = *shape;
    let mut transposed = alloc::vec![0.0f32; k * n];
    for p in 0..k {
        for j in 0..n {
            transposed[j * k + p] = b[p * n + j];
        }
    }
    let per_bracket = (CPU_BRACKET_MULTIPLY_ADDS / k).max(1);
    let mut since_way = 0;
    for row in 0..m {
        let a_row = &a[row * k..(row + 1) * k];
        let out = &mut c[row * n..(row + 1) * n];
        for (slice_index, slice) in out.chunks_mut(per_bracket).enumerate() {
            // Every CPU_BRACKET_MULTIPLY_ADDS or so, never before the first.
            since_way += slice.len() * k;
            if since_way > CPU_BRACKET_MULTIPLY_ADDS {
                make_way();
                since_way = slice.len() * k;
            }
            let first = slice_index * per_bracket;
            let done = task::with_kernel_vector(|unit| {
                for (offset, value) in slice.iter_mut().enumerate() {
                    let column = &transposed[(first + offset) * k..(first + offset + 1) * k];
                    *value = unit.dot_f32(a_row, column);
                }
            });
            if done.is_none() {
                for (offset, value) in slice.iter_mut().enumerate() {
                    let column = &transposed[(first + offset) * k..(first + offset + 1) * k];
                    *value = a_row
                        .iter()
                        .zip(column)
                        .fold(0.0f32, |sum, (x, y)| sum + x * y);
                }
            }
        }
    }
}

/// Runs a matmul on the route the table picks among those `options` allow.
fn matmul<A: Elements, C: Elements>(
    (operation, op): (Operation, Op),
    shape: &MatmulShape,
    a: &[A],
    b: Operand<'_, A>,
    c: &mut [C],
    options: &JobOptions,
    cpu: impl FnOnce(&[A], &mut [C]),
) -> Result<Outcome<u64>, AccelError> {
    let [a_len, b_len, c_len] = shape
        .reference()
        .lengths()
        .ok_or(AccelError::InvalidArgument)?;
    let b_fits = match &b {
        Operand::Values(values) => values.len() == b_len,
        Operand::Resident(tensor) => {
            tensor.rows == shape.k
                && tensor.columns == shape.n
                && tensor.bytes.len() == b_len * A::BYTES
        }
    };
    if a.len() != a_len || !b_fits || c.len() != c_len {
        return Err(AccelError::InvalidArgument);
    }
    let resident_bytes = match &b {
        Operand::Values(_) => None,
        Operand::Resident(tensor) => Some(tensor.bytes.len() as u64),
    };
    check();
    let Availability {
        ready,
        free,
        fitting,
        in_flight,
        interrupt,
    } = availability(shape, A::BYTES as u64, C::BYTES as u64, resident_bytes);
    if options.completion == Completion::Interrupt && ready & interrupt & options.device_mask() == 0
    {
        // No attached device has a routed interrupt and a doorbell backend.
        return Err(AccelError::NoInterrupt);
    }
    // What a call moves: a resident B stays where it is.
    let b_moved = if resident_bytes.is_some() { 0 } else { b_len };
    let payload = ((a_len + b_moved) * A::BYTES + c_len * C::BYTES) as u64;
    let features = sched_rl::adaptive::Features::job(payload, shape.multiply_adds(), in_flight);
    let usable = ready & fitting & options.device_mask();
    // Two equal devices: a free one rather than waiting behind a busy one.
    let prefer_free = usable & free != 0;
    let allowed = |route: Route| match route {
        Route::Cpu => {
            options.allow_cpu
                && matches!(options.completion, Completion::Adaptive | Completion::Cpu)
        }
        Route::Poll(device) => {
            let bit = 1u32 << device;
            usable & bit != 0
                && (!prefer_free || free & bit != 0)
                && matches!(options.completion, Completion::Adaptive | Completion::Poll)
        }
        Route::Interrupt(device) => {
            let bit = 1u32 << device;
            usable & interrupt & bit != 0
                && (!prefer_free || free & bit != 0)
                && matches!(
                    options.completion,
                    Completion::Adaptive | Completion::Interrupt
                )
        }
    };
    let decision = super::dispatch::select_job(operation, features, allowed).ok_or(
        if ready == 0 || !options.allow_cpu {
            AccelError::NoDevice
        } else {
            AccelError::InvalidArgument
        },
    )?;
    let start = crate::arch::cpu::read_timestamp_counter();
    let deadline = time::now_us().saturating_add(options.timeout_us);
    let mut cpu = Some(cpu);
    let result = match decision.route {
        Route::Cpu => {
            if let Some(cpu) = cpu.take() {
                match &b {
                    Operand::Values(values) => cpu(values, c),
                    Operand::Resident(tensor) => cpu(&decode::<A>(&tensor.bytes), c),
                }
            }
            Ok(0)
        }
        Route::Poll(device) | Route::Interrupt(device) => {
            let interrupt = matches!(decision.route, Route::Interrupt(_));
            device_matmul(
                (usize::from(device), interrupt),
                op,
                shape,
                a,
                &b,
                c,
                deadline,
            )
        }
    };
    let latency_us =
        time::cycles_to_us(crate::arch::cpu::read_timestamp_counter().wrapping_sub(start));
    super::dispatch::record(&decision, &result, latency_us);
    result.map(|backend_ns| Outcome {
        value: backend_ns,
        route: decision.route,
        latency_us,
    })
}

/// Computes `C[m x n] = A[m x k] * B[k x n]` in `f32` (row-major) on the
/// route the adaptive table picks among those `options` allow: the CPU or a
/// tensor device, polled or by interrupt (`Route::Poll(device)`,
/// `Route::Interrupt(device)`). The outcome's value is the
/// backend's own time in ns (0 on the CPU). Results lie within
/// `tensor_ring::reference`'s tolerance of the scalar reference.
pub fn matmul_f32(
    shape: &MatmulShape,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    options: &JobOptions,
) -> Result<Outcome<u64>, AccelError> {
    matmul(
        (Operation::MatmulF32, Op::MatmulF32),
        shape,
        a,
        Operand::Values(b),
        c,
        options,
        |b, c| cpu_matmul_f32(shape, a, b, c),
    )
}

/// Computes `C[m x n] = A[m x k] * B[k x n]` for `i8` A and B into `i32` C
/// on the route the table picks; bit-exact on every route.
pub fn matmul_i8(
    shape: &MatmulShape,
    a: &[i8],
    b: &[i8],
    c: &mut [i32],
    options: &JobOptions,
) -> Result<Outcome<u64>, AccelError> {
    matmul(
        (Operation::MatmulI8, Op::MatmulI8),
        shape,
        a,
        Operand::Values(b),
        c,
        options,
        |b, c| cpu_matmul_i8(shape, a, b, c),
    )
}

/// [`matmul_f32`] with resident tensor `b` as B (`k x n`, `f32`), which a
/// device route copies into its data area only on first use there.
/// `InvalidArgument` when `b` is not `f32` or its shape is not `k x n`.
pub fn matmul_f32_resident(
    shape: &MatmulShape,
    a: &[f32],
    b: &ResidentRef,
    c: &mut [f32],
    options: &JobOptions,
) -> Result<Outcome<u64>, AccelError> {
    if b.element != Element::F32 {
        return Err(AccelError::InvalidArgument);
    }
    matmul(
        (Operation::MatmulF32, Op::MatmulF32),
        shape,
        a,
        Operand::Resident(b),
        c,
        options,
        |b, c| cpu_matmul_f32(shape, a, b, c),
    )
}

/// [`matmul_i8`] with resident tensor `b` as B (`k x n`, `i8`).
pub fn matmul_i8_resident(
    shape: &MatmulShape,
    a: &[i8],
    b: &ResidentRef,
    c: &mut [i32],
    options: &JobOptions,
) -> Result<Outcome<u64>, AccelError> {
    if b.element != Element::I8 {
        return Err(AccelError::InvalidArgument);
    }
    matmul(
        (Operation::MatmulI8, Op::MatmulI8),
        shape,
        a,
        Operand::Resident(b),
        c,
        options,
        |b, c| cpu_matmul_i8(shape, a, b, c),
    )
}

/// The B operand of a call: the caller's values, or a resident tensor.
enum Operand<'a, T> {
    Values(&'a [T]),
    Resident(&'a ResidentRef),
}

/// Returns the elements of little-endian `bytes`.
fn decode<T: Elements>(bytes: &[u8]) -> Vec<T> {
    bytes
        .chunks_exact(T::BYTES)
        .filter_map(|element| T::read_from_bytes(element).ok())
        .collect()
}
