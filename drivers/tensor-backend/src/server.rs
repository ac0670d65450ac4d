//! The backend's loop: poll the submission ring, validate, run, post completions.
//!
//! [`Backend::start`] writes the header and declares the device ready; each
//! [`Backend::step`] bumps the heartbeat, performs a ring reset the guest asked for,
//! and serves at most one descriptor: copied out, validated ([`validate()`]), run (or refused),
//! answered with a [`Completion`] carrying the backend's time. [`Backend::run`] steps
//! until told to stop, backing off while idle. Nothing the guest writes makes a step
//! fail: only an access to the backend's own region can (a [`BackendError`]).
//!
//! With a [`Doorbell`] ([`Backend::start_with_doorbell`]) the header's `DOORBELL` word
//! names the backend's peer while a guest is connected (0 otherwise), a descriptor flagged [`FLAG_NOTIFY`] gets the guest rung
//! once its completion is posted (a refused one too), and an idle loop sleeps on the
//! doorbell (at most [`DOORBELL_WAIT`] at a time) instead of yielding and sleeping.

use std::{
    hint,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use tensor_ring::{
    Completion, CompletionProducer, Descriptor, DeviceStatus, Element, FLAG_NOTIFY, Job, Layout,
    LayoutError, Limits, Matmul, Outcome, Region, RegionError, RingError, SubmissionConsumer,
    layout::field, reference::Shape, validate, write_header,
};

use crate::{compute, doorbell::Doorbell};

/// Idle steps spent spinning before the loop starts yielding the CPU.
const IDLE_SPINS: u32 = 256;

/// Idle steps spent yielding before the loop starts sleeping.
const IDLE_YIELDS: u32 = 1024;

/// The sleep between idle steps once spinning and yielding found nothing.
const IDLE_SLEEP: Duration = Duration::from_micros(200);

/// The longest an idle loop with a doorbell sleeps on it before stepping again, so
/// the heartbeat still moves every few milliseconds (a guest calls the backend dead
/// after a second without).
pub const DOORBELL_WAIT: Duration = Duration::from_millis(2);

/// How the backend is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Threads a job may use (at least 1).
    pub threads: usize,
    /// What the backend accepts; published in the header.
    pub limits: Limits,
    /// Slots of the submission ring (a power of two).
    pub submission_slots: u32,
    /// Slots of the completion ring (a power of two).
    pub completion_slots: u32,
}

impl Config {
    /// The default ring size: 64 slots each.
    pub const DEFAULT_SLOTS: u32 = 64;
}

impl Default for Config {
    fn default() -> Self {
        Self {
            threads: thread::available_parallelism().map_or(1, |threads| threads.get()),
            limits: Limits::DEFAULT,
            submission_slots: Self::DEFAULT_SLOTS,
            completion_slots: Self::DEFAULT_SLOTS,
        }
    }
}

/// Why the backend cannot go on: its own region failed, never the guest's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendError {
    /// The region cannot hold the layout asked for.
    Layout(LayoutError),
    /// An access to the region failed (its length changed, or a layout bug).
    Region(RegionError),
}

impl From<LayoutError> for BackendError {
    fn from(error: LayoutError) -> Self {
        Self::Layout(error)
    }
}

impl From<RegionError> for BackendError {
    fn from(error: RegionError) -> Self {
        Self::Region(error)
    }
}

/// What one [`Backend::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing was waiting.
    Idle,
    /// A descriptor was answered with this completion (posted).
    Served(Completion),
    /// A completion waits for a free slot (the guest is not collecting).
    CompletionRingFull,
    /// A guest index was out of range; counted, nothing read.
    RingFault,
    /// The rings were reset for this guest epoch.
    Reset(u32),
}

/// Counts since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Completions posted.
    pub completions: u64,
    /// Of which refusals.
    pub refusals: u64,
    /// Steps that found a guest index out of range.
    pub ring_faults: u64,
    /// Ring resets performed.
    pub resets: u64,
    /// Nanoseconds spent on entries (the sum of the completions' `backend_ns`).
    pub busy_ns: u64,
}

/// The backend serving one region.
#[derive(Debug)]
pub struct Backend<R: Region> {
    region: R,
    layout: Layout,
    config: Config,
    submissions: SubmissionConsumer,
    completions: CompletionProducer,
    /// The guest epoch the rings were last reset for.
    epoch: u32,
    heartbeat: u32,
    /// A completion whose post found the ring full; posted before anything else.
    pending: Option<Pending>,
    stats: Stats,
    /// Rings the guest after `NOTIFY` jobs and wakes the idle loop, if present.
    doorbell: Option<Arc<dyn Doorbell>>,
    /// The header's `DOORBELL` word as last written.
    doorbell_word: u32,
}

/// A completion not yet posted, and whether the guest asked to be rung after it.
#[derive(Clone, Copy, Debug)]
struct Pending {
    completion: Completion,
    notify: bool,
}

impl<R: Region> Backend<R> {
    /// Lays out `region` (all of it) with `config`'s rings, writes the header and
    /// declares the device [`DeviceStatus::Ready`]. The backend polls only: the
    /// header's `DOORBELL` word is 0.
    pub fn start(region: R, config: Config) -> Result<Self, BackendError> {
        Self::start_with(region, config, None)
    }

    /// Starts like [`start`](Self::start), with `doorbell`: the header's `DOORBELL`
    /// word is its peer ID plus 1 (written before the device is ready), `NOTIFY` jobs
    /// ring the guest, and the idle loop sleeps on it.
    pub fn start_with_doorbell(
        region: R,
        config: Config,
        doorbell: Arc<dyn Doorbell>,
    ) -> Result<Self, BackendError> {
        Self::start_with(region, config, Some(doorbell))
    }

    /// Lays out and declares ready, with or without a doorbell.
    fn start_with(
        mut region: R,
        config: Config,
        doorbell: Option<Arc<dyn Doorbell>>,
    ) -> Result<Self, BackendError> {
        let layout = Layout::new(
            region.len() as u64,
            config.submission_slots,
            config.completion_slots,
        )?;
        write_header(&mut region, &layout, &config.limits)?;
        let doorbell_word = doorbell_word(doorbell.as_deref());
        region.write_u32(field::DOORBELL, doorbell_word)?;
        region.write_u32(field::DEVICE_STATUS, DeviceStatus::Ready.code())?;
        Ok(Self {
            submissions: SubmissionConsumer::new(&layout),
            completions: CompletionProducer::new(&layout),
            region,
            layout,
            config: Config {
                threads: config.threads.max(1),
                ..config
            },
            epoch: 0,
            heartbeat: 0,
            pending: None,
            stats: Stats::default(),
            doorbell,
            doorbell_word,
        })
    }

    /// Returns the region's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Returns the counts since start.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Bumps the heartbeat, performs a requested ring reset, then serves at most one
    /// descriptor (see the module documentation).
    pub fn step(&mut self) -> Result<Step, BackendError> {
        self.heartbeat = self.heartbeat.wrapping_add(1);
        self.region.write_u32(field::HEARTBEAT, self.heartbeat)?;
        let doorbell_word = doorbell_word(self.doorbell.as_deref());
        if doorbell_word != self.doorbell_word {
            self.region.write_u32(field::DOORBELL, doorbell_word)?;
            self.doorbell_word = doorbell_word;
        }
        let guest_epoch = self.region.read_u32(field::GUEST_EPOCH)?;
        if guest_epoch != self.epoch {
            return self.reset(guest_epoch);
        }
        if self.pending.is_none() {
            let descriptor = match self.submissions.peek(&self.region) {
                Ok(Some(descriptor)) => descriptor,
                Ok(None) => return Ok(Step::Idle),
                Err(error) => return self.ring_error(error),
            };
            // Take work only when its completion has somewhere to go.
            match self.completions.free(&self.region) {
                Ok(0) => return Ok(Step::CompletionRingFull),
                Ok(_) => {}
                Err(error) => return self.ring_error(error),
            }
            self.pending = Some(Pending {
                completion: self.serve(&descriptor),
                notify: descriptor.flags & FLAG_NOTIFY != 0,
            });
        }
        self.post_pending()
    }

    /// Steps until `stop` is set, backing off while idle (spinning, then sleeping on
    /// the doorbell if there is one, else yielding, then sleeping), then declares the
    /// device [`DeviceStatus::Stopped`].
    pub fn run(&mut self, stop: &AtomicBool) -> Result<Stats, BackendError> {
        let mut idle: u32 = 0;
        while !stop.load(Ordering::Relaxed) {
            match self.step()? {
                Step::Served(_) | Step::Reset(_) => idle = 0,
                Step::Idle | Step::CompletionRingFull | Step::RingFault => {
                    idle = idle.saturating_add(1);
                    if idle < IDLE_SPINS {
                        hint::spin_loop();
                    } else if let Some(doorbell) = &self.doorbell {
                        // Rung or not, the next step looks at the rings.
                        doorbell.wait_for_doorbell(DOORBELL_WAIT);
                    } else if idle < IDLE_YIELDS {
                        thread::yield_now();
                    } else {
                        thread::sleep(IDLE_SLEEP);
                    }
                }
            }
        }
        self.region
            .write_u32(field::DEVICE_STATUS, DeviceStatus::Stopped.code())?;
        Ok(self.stats)
    }

    /// Resets both rings for `guest_epoch` and acknowledges it.
    fn reset(&mut self, guest_epoch: u32) -> Result<Step, BackendError> {
        self.submissions.reset(&mut self.region)?;
        self.completions.reset(&mut self.region)?;
        self.pending = None;
        self.epoch = guest_epoch;
        self.region.write_u32(field::BACKEND_EPOCH, guest_epoch)?;
        self.stats.resets += 1;
        Ok(Step::Reset(guest_epoch))
    }

    /// Posts the pending completion, takes its descriptor off the ring, and rings the
    /// guest if the descriptor asked for it.
    fn post_pending(&mut self) -> Result<Step, BackendError> {
        let Some(Pending { completion, notify }) = self.pending else {
            return Ok(Step::Idle);
        };
        match self.completions.push(&mut self.region, &completion) {
            Ok(true) => {}
            Ok(false) => return Ok(Step::CompletionRingFull),
            Err(error) => return self.ring_error(error),
        }
        self.pending = None;
        self.submissions.advance(&mut self.region)?;
        self.stats.completions += 1;
        if matches!(completion.outcome(), Outcome::Refused(_)) {
            self.stats.refusals += 1;
        }
        self.stats.busy_ns = self.stats.busy_ns.saturating_add(completion.backend_ns);
        if notify && let Some(doorbell) = &self.doorbell {
            doorbell.ring_guest();
        }
        Ok(Step::Served(completion))
    }

    /// Counts a corrupt guest index; a region error is the backend's own failure.
    fn ring_error(&mut self, error: RingError) -> Result<Step, BackendError> {
        match error {
            RingError::Corrupt { .. } => {
                self.stats.ring_faults += 1;
                let faults = self.stats.ring_faults as u32;
                self.region.write_u32(field::RING_FAULTS, faults)?;
                Ok(Step::RingFault)
            }
            RingError::Region(error) => Err(BackendError::Region(error)),
        }
    }

    /// Returns the completion for `descriptor`: validated, then run or refused.
    fn serve(&mut self, descriptor: &Descriptor) -> Completion {
        let start = Instant::now();
        let outcome = match validate(descriptor, self.layout.data_bytes(), &self.config.limits) {
            Err(refusal) => Outcome::Refused(refusal),
            Ok(Job::Nop) => Outcome::Ok,
            Ok(Job::Matmul(matmul)) => match self.run_matmul(&matmul) {
                Ok(()) => Outcome::Ok,
                Err(_) => Outcome::DeviceFault,
            },
        };
        let backend_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Completion::new(descriptor.sequence, outcome, backend_ns)
    }

    /// Copies the operands out, computes, writes C.
    fn run_matmul(&mut self, matmul: &Matmul) -> Result<(), Fault> {
        let [m, k, n] = matmul.shape().map(|dimension| dimension as usize);
        let shape = Shape { m, k, n };
        let a = self.read_operand(matmul.a())?;
        let b = self.read_operand(matmul.b())?;
        let threads = self.config.threads;
        let c_bytes: Vec<u8> = match matmul.element() {
            Element::F32 => {
                let (a, b) = (to_f32(&a), to_f32(&b));
                let mut c = vec![0.0f32; m * n];
                compute::matmul_f32(shape, &a, &b, &mut c, threads).map_err(|_| Fault)?;
                c.iter().flat_map(|value| value.to_le_bytes()).collect()
            }
            Element::I8 => {
                let (a, b) = (to_i8(&a), to_i8(&b));
                let mut c = vec![0i32; m * n];
                compute::matmul_i8(shape, &a, &b, &mut c, threads).map_err(|_| Fault)?;
                c.iter().flat_map(|value| value.to_le_bytes()).collect()
            }
        };
        let offset = self.region_offset(matmul.c())?;
        self.region.write_bytes(offset, &c_bytes).map_err(|_| Fault)
    }

    /// Returns a copy of a validated operand's bytes.
    fn read_operand(&self, range: tensor_ring::ByteRange) -> Result<Vec<u8>, Fault> {
        let offset = self.region_offset(range)?;
        let len = usize::try_from(range.len()).map_err(|_| Fault)?;
        let mut bytes = vec![0; len];
        self.region
            .read_bytes(offset, &mut bytes)
            .map_err(|_| Fault)?;
        Ok(bytes)
    }

    /// Returns the region offset of a validated data-area range.
    fn region_offset(&self, range: tensor_ring::ByteRange) -> Result<usize, Fault> {
        self.layout.data_to_region(range.offset()).ok_or(Fault)
    }
}

/// A validated job could not be carried out (reported as a device fault).
#[derive(Debug)]
struct Fault;

/// Returns little-endian `f32`s from `bytes` (a multiple of 4 by validation).
fn to_f32(bytes: &[u8]) -> Vec<f32> {
    let (words, _) = bytes.as_chunks::<4>();
    words.iter().map(|word| f32::from_le_bytes(*word)).collect()
}

/// Returns `bytes` as `i8`s.
fn to_i8(bytes: &[u8]) -> Vec<i8> {
    bytes.iter().map(|&byte| byte as i8).collect()
}

/// Returns the header's `DOORBELL` word for `doorbell`: its peer ID plus 1 while a
/// guest is connected to be rung and to ring, else 0.
fn doorbell_word(doorbell: Option<&dyn Doorbell>) -> u32 {
    doorbell
        .filter(|doorbell| doorbell.has_guest())
        .map_or(0, |doorbell| u32::from(doorbell.peer_id()) + 1)
}
