//! Accelerators for agents: factorial jobs and buffer copies on a pool of `edu` devices.
//!
//! The kernel-level service the accelerator syscalls call. Every
//! operation goes through the adaptive dispatch table ([`dispatch`]): it
//! picks a route (CPU, device with polling, device with interrupt; which
//! device) by predicted latency, runs it, measures the latency with the TSC
//! and feeds it back. [`JobOptions`] restricts the choice: pin the
//! completion mode or the device, forbid the CPU path, set the timeout.
//!
//! Errors are [`AccelError`]; its `From` conversion into [`agent_abi::Error`]
//! gives the code an accelerator syscall returns. Without any device,
//! operations fail with [`AccelError::NoDevice`] unless the caller allows
//! the CPU path.

pub mod dispatch;
pub mod pool;
pub mod resident;
pub mod shared;
pub mod tensor;

use alloc::boxed::Box;

pub use dispatch::{Operation, Route};
pub use pool::{DeviceInfo, DeviceState, MAX_DEVICES};

use crate::arch::cpu;
use crate::devices::pci::InterruptPreference;

/// Default job timeout: a factorial or a 4 KiB DMA takes far less (the
/// `edu` DMA engine completes 100 ms after it starts).
pub const DEFAULT_TIMEOUT_US: u64 = agent_abi::ACCEL_TIMEOUT_US;
/// Largest buffer one copy moves (the `edu` device buffer less one byte,
/// see [`drivers::edu::MAX_DMA_TRANSFER`]).
pub const MAX_COPY_BYTES: usize = drivers::edu::MAX_DMA_TRANSFER;
/// What a ring-3 caller's memory budget is charged while its copy's buffer
/// lives: a frame, the device's DMA bounce frame it leases or (CPU route)
/// the kernel-side buffer of at most [`MAX_COPY_BYTES`].
pub const COPY_BUFFER_BYTES: u64 = crate::memory::frame::FRAME_SIZE;
const _: () = assert!(MAX_COPY_BYTES as u64 <= COPY_BUFFER_BYTES);

/// Why an accelerator operation failed. A syscall returns it as the
/// [`agent_abi::Error`] its `From` conversion gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelError {
    /// No device can serve the call and the CPU path was not allowed.
    NoDevice,
    /// Every device that could serve stayed busy until the deadline.
    Busy,
    /// The job did not finish before its timeout; the device was reset.
    Timeout,
    /// The device failed its checks or is recovering from a timeout.
    DeviceFault,
    /// The requested completion needs an interrupt the device lacks.
    NoInterrupt,
    /// Bad size or a buffer handle of another device.
    InvalidArgument,
    /// No memory for a buffer.
    OutOfMemory,
    /// The calling agent already holds its share of the pool
    /// ([`pool::MAX_JOBS_PER_AGENT`], [`resident::MAX_PER_AGENT`]).
    Exhausted,
    /// No such resident tensor of the caller's.
    NotFound,
}

impl From<AccelError> for agent_abi::Error {
    /// Returns the ABI error an accelerator syscall reports for `error`.
    fn from(error: AccelError) -> Self {
        match error {
            AccelError::NoDevice | AccelError::NoInterrupt => Self::NoDevice,
            AccelError::Busy => Self::Busy,
            AccelError::Timeout => Self::TimedOut,
            AccelError::DeviceFault => Self::DeviceFault,
            AccelError::InvalidArgument => Self::InvalidArgument,
            AccelError::OutOfMemory => Self::OutOfMemory,
            AccelError::Exhausted => Self::Exhausted,
            AccelError::NotFound => Self::NotFound,
        }
    }
}

/// How a job completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Completion {
    /// The dispatch table decides.
    #[default]
    Adaptive,
    /// Poll the device.
    Poll,
    /// Block until the device interrupts (other agents run meanwhile).
    Interrupt,
    /// On the CPU (or a kernel-side buffer for copies) only.
    Cpu,
}

/// What the caller allows for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobOptions {
    /// How it completes.
    pub completion: Completion,
    /// Whether the CPU path may serve it (also when no device exists).
    pub allow_cpu: bool,
    /// Only this device of the pool.
    pub device: Option<usize>,
    /// Give up after this long (µs).
    pub timeout_us: u64,
    /// The caller is held to [`pool::MAX_JOBS_PER_AGENT`] devices at once
    /// (the syscalls set it for every ring-3 agent; kernel agents are not).
    pub capped: bool,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            completion: Completion::Adaptive,
            allow_cpu: true,
            device: None,
            timeout_us: DEFAULT_TIMEOUT_US,
            capped: false,
        }
    }
}

impl JobOptions {
    /// Returns the mask of devices these options admit: every one, or only
    /// the pinned one (none if the pin is out of a mask's range).
    fn device_mask(&self) -> u32 {
        self.device.map_or(u32::MAX, |device| {
            u32::try_from(device)
                .ok()
                .and_then(|shift| 1u32.checked_shl(shift))
                .unwrap_or(0)
        })
    }

    /// Returns whether `route` is acceptable for these options, given the
    /// mask of ready devices.
    fn allows(&self, route: Route, ready: u32) -> bool {
        let mode_ok = match (self.completion, route) {
            (Completion::Adaptive, Route::Cpu) | (Completion::Cpu, Route::Cpu) => self.allow_cpu,
            (Completion::Adaptive, _) => true,
            (Completion::Poll, Route::Poll(_)) | (Completion::Interrupt, Route::Interrupt(_)) => {
                true
            }
            _ => false,
        };
        let device_ok = match route.device() {
            None => true,
            Some(device) => {
                ready & (1 << device) != 0
                    && self.device.is_none_or(|pin| pin == usize::from(device))
            }
        };
        mode_ok && device_ok
    }
}

/// A result with how it was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome<T> {
    /// The value.
    pub value: T,
    /// The route that served the call.
    pub route: Route,
    /// Measured latency, µs.
    pub latency_us: u64,
}

/// Data copied "to the device": where it lives. Dropping it frees the
/// device buffer for the next copy (and gives its charge back to the
/// caller's memory budget).
#[derive(Debug)]
pub struct DeviceBuffer {
    place: Place,
    len: usize,
    /// [`COPY_BUFFER_BYTES`] charged to a ring-3 caller while it lives.
    charge: Option<crate::user::budget::Charge>,
    /// Kills of the holder wait while a kernel-side buffer lives (its stack
    /// is freed without unwinding: a kill in between would leak the heap
    /// bytes). Declared last so it drops last: the holder ends, if killed
    /// meanwhile, only once the bytes and the charge are given back.
    _deferral: Option<crate::task::KillDeferral>,
}

#[derive(Debug)]
enum Place {
    Device(usize),
    Host(Box<[u8]>),
}

impl DeviceBuffer {
    /// Returns the device holding the bytes (`None`: a kernel-side buffer).
    pub fn device(&self) -> Option<usize> {
        match self.place {
            Place::Device(index) => Some(index),
            Place::Host(_) => None,
        }
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        if let Place::Device(index) = self.place {
            pool::end_lease(index);
        }
    }
}

/// Finds the `edu` devices on PCI (MSI preferred; see
/// [`reroute_interrupts`] for the legacy line) and builds the dispatch
/// table; returns the number of devices. Called by [`crate::init`]; only the
/// first call probes devices.
pub fn init() -> usize {
    let devices = if pool::count() == 0 {
        pool::init(InterruptPreference::MsiFirst)
    } else {
        pool::count()
    };
    if crate::task::on_agent_exit(pool::release_agent).is_err() {
        log::warn!("accel: no exit observer slot; a killed agent's device stays held");
    }
    if crate::task::on_agent_exit(tensor::release_agent).is_err() {
        log::warn!("accel: no exit observer slot; an ended agent's resident tensors stay");
    }
    log::info!("accel: {devices} edu devices in the pool");
    let shared = shared::init();
    let tensor_ready = tensor::init();
    dispatch::init(devices, tensor::count());
    if shared > 0 {
        log::info!(
            "accel: {shared} tensor accelerator slots (ivshmem), {tensor_ready} with a ready backend"
        );
    } else {
        log::info!("accel: no tensor accelerator (no ivshmem device): matmuls run on the CPU");
    }
    devices
}

/// Routes every device's interrupt again with `preference`; returns how
/// many devices have an interrupt route.
pub fn reroute_interrupts(preference: InterruptPreference) -> usize {
    pool::reroute(preference)
}

/// Returns snapshots of the pool's devices.
pub fn devices() -> alloc::vec::Vec<DeviceInfo> {
    pool::devices()
}

/// Brings devices that timed out back into service once idle; returns the
/// number of devices ready.
pub fn recover() -> usize {
    tensor::check();
    pool::recover()
}

/// Starts the accelerator's agent-side service now rather than on the
/// first interrupt job (see [`pool::start_service`]); call after
/// `task::init`.
pub fn start_service() {
    pool::start_service();
}

/// Returns how many device jobs of killed agents were given back.
pub fn reclaimed_jobs() -> u64 {
    pool::reclaimed_jobs()
}

/// Returns the dispatch table's state as printable lines.
pub fn table_lines() -> alloc::vec::Vec<alloc::string::String> {
    dispatch::report_lines()
}

/// Runs `serve` on the route the table picks and feeds the latency back.
fn dispatched<T>(
    operation: Operation,
    payload: u64,
    options: &JobOptions,
    extra: impl Fn(Route) -> bool,
    serve: impl FnOnce(Route, u64) -> Result<T, AccelError>,
) -> Result<Outcome<T>, AccelError> {
    let ready = pool::ready_mask();
    let decision = dispatch::select(operation, payload, pool::in_flight(), |route| {
        options.allows(route, ready) && extra(route)
    })
    .ok_or(if pool::count() == 0 || ready == 0 {
        AccelError::NoDevice
    } else {
        AccelError::InvalidArgument
    })?;
    let start = cpu::read_timestamp_counter();
    let deadline = crate::time::now_us().saturating_add(options.timeout_us);
    let result = serve(decision.route, deadline);
    let latency_us = crate::time::cycles_to_us(cpu::read_timestamp_counter().wrapping_sub(start));
    dispatch::record(&decision, &result, latency_us);
    result.map(|value| Outcome {
        value,
        route: decision.route,
        latency_us,
    })
}

fn wait_of(route: Route) -> pool::Wait {
    match route {
        Route::Interrupt(_) => pool::Wait::Interrupt,
        _ => pool::Wait::Poll,
    }
}

/// Runs `serve` on held `device`, releasing it (into recovery on timeout).
fn on_device<T>(
    device: usize,
    deadline: u64,
    capped: bool,
    serve: impl FnOnce() -> Result<T, AccelError>,
) -> Result<T, AccelError> {
    pool::acquire(device, deadline, capped)?;
    let result = serve();
    let timed_out = matches!(result, Err(AccelError::Timeout));
    pool::release(device, timed_out);
    if timed_out {
        log::warn!("accel: edu#{device} timed out; reset, in recovery until idle");
    }
    result
}

/// Returns `input`! wrapping at 32 bits, as the `edu` device computes it,
/// in at most 33 multiplications ([`kernel_core::factorial`]).
pub fn factorial_on_cpu(input: u32) -> u32 {
    kernel_core::factorial::wrapping_u32(input)
}

/// Inputs from this one on are answered by the kernel at once (their
/// factorial wraps to 0 at 32 bits) and never sent to a device, which
/// would loop `input` times: `0xFFFF_FFFF` keeps an `edu` busy for minutes.
pub const FACTORIAL_ZERO_FROM: u32 = kernel_core::factorial::U32_ZERO_FROM;
const _: () = assert!(FACTORIAL_ZERO_FROM as u64 == agent_abi::ACCEL_FACTORIAL_ZERO_FROM);
const _: () = assert!(pool::MAX_JOBS_PER_AGENT as u64 == agent_abi::ACCEL_MAX_DEVICES_PER_AGENT);

/// Computes `input`! (wrapping at 32 bits) on the route the options allow
/// and the table picks. From [`FACTORIAL_ZERO_FROM`] on the answer (0) is
/// given in constant time on every route, without a device (still
/// `NoDevice` when there is none and the CPU path is not allowed).
pub fn factorial(input: u32, options: &JobOptions) -> Result<Outcome<u32>, AccelError> {
    if input >= FACTORIAL_ZERO_FROM {
        if !options.allow_cpu && pool::ready_mask() == 0 {
            return Err(AccelError::NoDevice);
        }
        return Ok(Outcome {
            value: 0,
            route: Route::Cpu,
            latency_us: 0,
        });
    }
    dispatched(
        Operation::Factorial,
        u64::from(input),
        options,
        |_| true,
        |route, deadline| match route {
            Route::Cpu => Ok(factorial_on_cpu(input)),
            Route::Poll(device) | Route::Interrupt(device) => {
                let device = usize::from(device);
                on_device(device, deadline, options.capped, || {
                    pool::factorial(device, input, wait_of(route), deadline)
                })
            }
        },
    )
}

/// Copies `data` (at most [`MAX_COPY_BYTES`]) into a device buffer (by
/// DMA), or into a kernel-side buffer on the CPU route. Returns the handle
/// to copy it back with. A `capped` (ring-3) caller's memory budget is
/// charged [`COPY_BUFFER_BYTES`] while the handle lives: `OutOfMemory`
/// when that would pass its tree's budget. A handle to a kernel-side
/// buffer defers kills of the caller until it is dropped
/// ([`crate::task::defer_kills`]): drop it before anything that blocks.
pub fn copy_to_device(
    data: &[u8],
    options: &JobOptions,
) -> Result<Outcome<DeviceBuffer>, AccelError> {
    if data.is_empty() || data.len() > MAX_COPY_BYTES {
        return Err(AccelError::InvalidArgument);
    }
    let charge = if options.capped {
        crate::user::budget::charge_current(COPY_BUFFER_BYTES)
            .map_err(|_| AccelError::OutOfMemory)?
    } else {
        None
    };
    let mut outcome = copy_into_buffer(data, options)?;
    outcome.value.charge = charge;
    Ok(outcome)
}

/// [`copy_to_device`] without the charge.
fn copy_into_buffer(
    data: &[u8],
    options: &JobOptions,
) -> Result<Outcome<DeviceBuffer>, AccelError> {
    let cpu_may_serve =
        options.allow_cpu && matches!(options.completion, Completion::Adaptive | Completion::Cpu);
    if !cpu_may_serve {
        return copy_to_leased_device(data, options);
    }
    let free = pool::free_buffers();
    dispatched(
        Operation::CopyToDevice,
        data.len() as u64,
        options,
        |route| {
            route
                .device()
                .is_none_or(|device| free & (1 << device) != 0)
        },
        |route, deadline| match route {
            Route::Cpu => {
                let deferral = Some(crate::task::defer_kills());
                Ok(DeviceBuffer {
                    place: Place::Host(data.into()),
                    len: data.len(),
                    charge: None,
                    _deferral: deferral,
                })
            }
            Route::Poll(device) | Route::Interrupt(device) => {
                let device = usize::from(device);
                if !pool::lease(device) {
                    return Err(AccelError::Busy);
                }
                let buffer = DeviceBuffer {
                    place: Place::Device(device),
                    len: data.len(),
                    charge: None,
                    _deferral: None,
                };
                on_device(device, deadline, options.capped, || {
                    pool::dma_to_device(device, data, wait_of(route), deadline)
                })?;
                Ok(buffer)
            }
        },
    )
}

/// The device-only copy: waits in turn for a free device buffer (see
/// [`pool::wait_lease`]), then lets the table pick the completion mode on
/// that device.
fn copy_to_leased_device(
    data: &[u8],
    options: &JobOptions,
) -> Result<Outcome<DeviceBuffer>, AccelError> {
    let wanted = options.device_mask();
    let deadline = crate::time::now_us().saturating_add(options.timeout_us);
    let device = pool::wait_lease(wanted, deadline, options.capped)?;
    // Dropping the buffer on an error ends the lease.
    let buffer = DeviceBuffer {
        place: Place::Device(device),
        len: data.len(),
        charge: None,
        _deferral: None,
    };
    let outcome = dispatched(
        Operation::CopyToDevice,
        data.len() as u64,
        options,
        |route| route.device().map(usize::from) == Some(device),
        |route, deadline| {
            on_device(device, deadline, options.capped, || {
                pool::dma_to_device(device, data, wait_of(route), deadline)
            })
        },
    )?;
    Ok(Outcome {
        value: buffer,
        route: outcome.route,
        latency_us: outcome.latency_us,
    })
}

/// Copies `buffer`'s bytes back into `out` (which must be exactly as long).
/// For a device buffer the table picks polling or interrupt completion; the
/// device is the one holding the data.
pub fn copy_from_device(
    buffer: &DeviceBuffer,
    out: &mut [u8],
    options: &JobOptions,
) -> Result<Outcome<usize>, AccelError> {
    if out.len() != buffer.len {
        return Err(AccelError::InvalidArgument);
    }
    match &buffer.place {
        Place::Host(bytes) => {
            let start = cpu::read_timestamp_counter();
            out.copy_from_slice(bytes);
            let latency_us =
                crate::time::cycles_to_us(cpu::read_timestamp_counter().wrapping_sub(start));
            Ok(Outcome {
                value: out.len(),
                route: Route::Cpu,
                latency_us,
            })
        }
        Place::Device(holder) => {
            let holder = *holder;
            let pinned = JobOptions {
                allow_cpu: false,
                device: Some(holder),
                completion: match options.completion {
                    Completion::Cpu => Completion::Adaptive,
                    other => other,
                },
                ..*options
            };
            let length = out.len();
            let outcome = dispatched(
                Operation::CopyFromDevice,
                length as u64,
                &pinned,
                |_| true,
                |route, deadline| {
                    on_device(holder, deadline, options.capped, || {
                        pool::dma_from_device(holder, out, wait_of(route), deadline)
                    })
                },
            )?;
            Ok(Outcome {
                value: length,
                route: outcome.route,
                latency_us: outcome.latency_us,
            })
        }
    }
}
