//! The pool of `edu` accelerators: probing, exclusive use, completion and recovery.
//!
//! Each device found on PCI gets its BAR mapped, bus mastering on, its
//! interrupt routed (MSI, else the legacy line), one DMA bounce frame below
//! its 28-bit DMA limit and an event agents block on. A job takes a device
//! exclusively ([`acquire`]) and gives it back when done. A job that times
//! out puts the device in recovery: interrupts off and acknowledged, and it
//! serves again only once it is idle and passes its identification and
//! liveness check ([`recover`]), because `edu` cannot abort a factorial.
//!
//! Interrupt completion: the caller reads the event's generation, starts the
//! job with the device's interrupt enabled and blocks on the event. The
//! interrupt handler acknowledges the device and signals the event. A
//! watchdog agent signals the events of jobs past their deadline, so a
//! blocked caller wakes to report a timeout even when no interrupt comes.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use drivers::edu::{self, DmaDirection, Edu};
use spin::Mutex;

use kernel_core::turn::{Turn, Waiter};

use super::AccelError;
use crate::arch::cpu;
use crate::devices::pci::{self, InterruptPreference, InterruptRoute};
use crate::memory::dma::DmaBuffer;
use crate::task::{self, EventId};

/// Most devices the pool holds.
pub const MAX_DEVICES: usize = 4;
/// Most devices one agent holds at once (a job or a buffer lease). The
/// accelerator syscalls are synchronous, so an agent's copy holds one
/// device for its lease and its two DMA jobs: one device in all.
pub const MAX_JOBS_PER_AGENT: usize = 1;
/// A polling job spins this long (µs), then yields between polls, so a
/// long job (a DMA takes ~100 ms) does not keep the CPU from the others.
const POLL_SPIN_US: u64 = 50;
/// Watchdog period while interrupt jobs are pending.
const WATCHDOG_PERIOD_US: u64 = 1_000;

/// Where a device stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// Serving jobs.
    Ready,
    /// Timed out; kept out of service until idle and checked again.
    Recovering,
}

/// A public snapshot of one device.
#[derive(Debug, Clone, Copy)]
pub struct DeviceInfo {
    /// Index in the pool.
    pub index: usize,
    /// PCI address.
    pub address: drivers::pci::PciAddress,
    /// Interrupt route, if one could be set up.
    pub route: Option<InterruptRoute>,
    /// State.
    pub state: DeviceState,
    /// Device version (major, minor).
    pub version: (u8, u8),
    /// Jobs completed.
    pub jobs: u64,
    /// Jobs that timed out.
    pub timeouts: u64,
    /// Interrupts handled.
    pub interrupts: u64,
}

pub(super) struct Device {
    edu: Edu,
    pub(super) info: DeviceInfo,
    dma: DmaBuffer,
    event: Option<EventId>,
    busy: bool,
    /// Interrupt causes seen by the handler and not yet consumed.
    pending: u32,
    /// Deadline (µs) of an interrupt job a caller blocks on.
    deadline_us: Option<u64>,
    /// Whether a `DeviceBuffer` holds this device's buffer.
    pub(super) leased: bool,
    /// The agent (pid) whose job runs on the device, if an agent's.
    holder: Option<u64>,
    /// The agent (pid) whose `DeviceBuffer` leases the device buffer.
    lease_holder: Option<u64>,
    /// The agent that has waited longest for the device.
    turn: Turn,
}

static DEVICES: Mutex<Vec<Device>> = Mutex::new(Vec::new());
/// The agent that has waited longest for a free device buffer (locked
/// inside [`with_devices`]).
static LEASE_TURN: Mutex<Turn> = Mutex::new(Turn::new());
static IN_FLIGHT: AtomicU32 = AtomicU32::new(0);
/// Device jobs given back by [`release_agent`] for agents that ended.
static RECLAIMED: AtomicU64 = AtomicU64::new(0);
static WATCHDOG_STARTED: AtomicBool = AtomicBool::new(false);
static WATCHDOG_EVENT: Mutex<Option<EventId>> = Mutex::new(None);

pub(super) fn with_devices<R>(action: impl FnOnce(&mut Vec<Device>) -> R) -> R {
    cpu::without_interrupts(|| action(&mut DEVICES.lock()))
}

/// Probes every `edu` function; returns how many joined the pool.
pub fn init(preference: InterruptPreference) -> usize {
    let mut joined = 0;
    for function in pci::find(edu::VENDOR_ID, edu::DEVICE_ID) {
        if joined == MAX_DEVICES {
            log::warn!(
                "accel: more than {MAX_DEVICES} edu devices; {} ignored",
                function.address
            );
            continue;
        }
        match probe(function, preference, joined) {
            Ok(device) => {
                log::info!(
                    "accel: edu#{joined} at {} v{}.{}, {}, DMA frame {:#x}",
                    function.address,
                    device.info.version.0,
                    device.info.version.1,
                    device
                        .info
                        .route
                        .map_or(alloc::string::String::from("polling only"), |route| {
                            alloc::format!("{route}")
                        }),
                    device.dma.bus_address()
                );
                with_devices(|devices| devices.push(device));
                joined += 1;
            }
            Err(error) => log::warn!("accel: edu at {} unusable: {error:?}", function.address),
        }
    }
    joined
}

fn probe(
    function: &'static drivers::pci::FunctionInfo,
    preference: InterruptPreference,
    index: usize,
) -> Result<Device, AccelError> {
    let bar = pci::map_bar(function, 0).map_err(|_| AccelError::DeviceFault)?;
    let edu = Edu::new(bar).map_err(|_| AccelError::DeviceFault)?;
    pci::enable(function, true).map_err(|_| AccelError::DeviceFault)?;
    let version = edu.check().map_err(|_| AccelError::DeviceFault)?;
    edu.quiesce();
    let dma = DmaBuffer::below(edu::DEFAULT_DMA_LIMIT).ok_or(AccelError::OutOfMemory)?;
    let route = pci::route_interrupt(function, on_interrupt, preference)
        .inspect_err(|error| log::warn!("accel: edu#{index}: no interrupt ({error:?})"))
        .ok();
    Ok(Device {
        edu,
        info: DeviceInfo {
            index,
            address: function.address,
            route,
            state: DeviceState::Ready,
            version,
            jobs: 0,
            timeouts: 0,
            interrupts: 0,
        },
        dma,
        event: None,
        busy: false,
        pending: 0,
        deadline_us: None,
        leased: false,
        holder: None,
        lease_holder: None,
        turn: Turn::new(),
    })
}

/// The device interrupt handler (interrupts disabled): acknowledges every
/// device routed to `vector` that has causes pending and wakes its waiter.
fn on_interrupt(vector: u8) {
    let mut to_signal: [Option<EventId>; MAX_DEVICES] = [None; MAX_DEVICES];
    if let Some(mut devices) = DEVICES.try_lock() {
        for (slot, device) in devices.iter_mut().enumerate() {
            if device.info.route.map(InterruptRoute::vector) != Some(vector) {
                continue;
            }
            let causes = device.edu.interrupt_status();
            if causes == 0 {
                continue;
            }
            device.edu.acknowledge(causes);
            device.pending |= causes;
            device.info.interrupts += 1;
            to_signal[slot] = device.event;
        }
    }
    for event in to_signal.into_iter().flatten() {
        task::signal(event);
    }
}

/// Returns snapshots of every device.
pub fn devices() -> Vec<DeviceInfo> {
    with_devices(|devices| devices.iter().map(|device| device.info).collect())
}

/// Returns the number of devices in the pool.
pub fn count() -> usize {
    with_devices(|devices| devices.len())
}

/// Returns (device index, usable now) for every device in Ready state.
pub(super) fn ready_mask() -> u32 {
    recover();
    with_devices(|devices| {
        devices
            .iter()
            .enumerate()
            .filter(|(_, device)| device.info.state == DeviceState::Ready)
            .fold(0, |mask, (index, _)| mask | (1 << index))
    })
}

/// Returns how many jobs run on devices now.
pub(super) fn in_flight() -> u32 {
    IN_FLIGHT.load(Ordering::Relaxed)
}

/// Tries to bring devices in recovery back; returns how many are Ready.
pub fn recover() -> usize {
    with_devices(|devices| {
        for device in devices.iter_mut() {
            if device.info.state == DeviceState::Recovering
                && !device.busy
                && device.edu.quiesce()
                && device.edu.check().is_ok()
            {
                device.info.state = DeviceState::Ready;
                device.pending = 0;
            }
        }
        devices
            .iter()
            .filter(|device| device.info.state == DeviceState::Ready)
            .count()
    })
}

/// The calling agent's pid, `None` for kernel code outside agents.
fn caller() -> Option<u64> {
    task::current().map(|_| task::current_pid())
}

/// Takes device `index` for one job, waiting (yielding) while another job
/// holds it, until `deadline_us`. A `capped` agent holds at most
/// [`MAX_JOBS_PER_AGENT`] devices at once (its lease's device counts):
/// beyond that it gets [`AccelError::Exhausted`] at once, so one agent can
/// never occupy every device of the pool.
pub(super) fn acquire(index: usize, deadline_us: u64, capped: bool) -> Result<(), AccelError> {
    let pid = caller();
    let me = waiter(pid);
    loop {
        let taken = with_devices(|devices| {
            if capped && pid.is_some() && held_by(devices, pid, Some(index)) >= MAX_JOBS_PER_AGENT {
                return Err(AccelError::Exhausted);
            }
            let device = devices.get_mut(index).ok_or(AccelError::NoDevice)?;
            if device.info.state != DeviceState::Ready {
                return Err(AccelError::DeviceFault);
            }
            let free = !device.busy;
            if !me.map_or(free, |me| device.turn.claim(me, free)) {
                return Ok(false);
            }
            device.busy = true;
            device.pending = 0;
            device.holder = pid;
            Ok(true)
        });
        match taken {
            Ok(true) => {
                IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Ok(false) if crate::time::now_us() < deadline_us => pause(),
            Ok(false) => return Err(give_up(pid, Some(index), AccelError::Busy)),
            Err(error) => return Err(give_up(pid, Some(index), error)),
        }
    }
}

/// A waiter record for agent `pid` starting to wait now.
fn waiter(pid: Option<u64>) -> Option<Waiter> {
    pid.map(|id| Waiter {
        id,
        since: crate::time::now_us(),
    })
}

/// `pid` stops waiting for device `index` (or for a buffer: `None`);
/// returns `error`.
fn give_up(pid: Option<u64>, index: Option<usize>, error: AccelError) -> AccelError {
    if let Some(pid) = pid {
        with_devices(|devices| match index {
            Some(index) => {
                if let Some(device) = devices.get_mut(index) {
                    device.turn.forget(pid);
                }
            }
            None => LEASE_TURN.lock().forget(pid),
        });
    }
    error
}

/// Leases the buffer of a Ready device in `wanted` (a mask) for the
/// caller, waiting (yielding, in turn with the other waiters) until one is
/// free, at most until `deadline_us` (then [`AccelError::Busy`]). Returns
/// the device. `NoDevice` if no wanted device is Ready; `Exhausted` if the
/// `capped` caller already holds its share of the pool.
pub(super) fn wait_lease(wanted: u32, deadline_us: u64, capped: bool) -> Result<usize, AccelError> {
    let pid = caller();
    let me = waiter(pid);
    loop {
        recover();
        let leased = with_devices(|devices| {
            if capped && pid.is_some() && held_by(devices, pid, None) >= MAX_JOBS_PER_AGENT {
                return Err(AccelError::Exhausted);
            }
            let usable = |index: usize, device: &Device| {
                wanted & (1 << index) != 0 && device.info.state == DeviceState::Ready
            };
            if !devices.iter().enumerate().any(|(i, d)| usable(i, d)) {
                return Err(AccelError::NoDevice);
            }
            let candidate = devices
                .iter()
                .enumerate()
                .position(|(i, d)| usable(i, d) && !d.leased);
            let free = candidate.is_some();
            if !me.map_or(free, |me| LEASE_TURN.lock().claim(me, free)) {
                return Ok(None);
            }
            Ok(candidate.inspect(|index| {
                devices[*index].leased = true;
                devices[*index].lease_holder = pid;
            }))
        });
        match leased {
            Ok(Some(index)) => return Ok(index),
            Ok(None) if crate::time::now_us() < deadline_us => pause(),
            Ok(None) => return Err(give_up(pid, None, AccelError::Busy)),
            Err(error) => return Err(give_up(pid, None, error)),
        }
    }
}

/// Gives device `index` back after a job; `timed_out` sends it to recovery.
pub(super) fn release(index: usize, timed_out: bool) {
    with_devices(|devices| {
        if let Some(device) = devices.get_mut(index) {
            device.busy = false;
            device.holder = None;
            device.deadline_us = None;
            if timed_out {
                device.info.timeouts += 1;
                device.info.state = DeviceState::Recovering;
                device.edu.quiesce();
            } else {
                device.info.jobs += 1;
            }
        }
    });
    IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
}

/// Returns how many devices other than `except` agent `pid` holds (by a
/// job or a lease).
fn held_by(devices: &[Device], pid: Option<u64>, except: Option<usize>) -> usize {
    devices
        .iter()
        .enumerate()
        .filter(|(index, device)| {
            Some(*index) != except && (device.holder == pid || device.lease_holder == pid)
        })
        .count()
}

/// Whether another agent than `pid` waits in turn for a device buffer.
fn other_waits_for_buffer(pid: Option<u64>) -> bool {
    LEASE_TURN
        .lock()
        .oldest()
        .is_some_and(|waiter| Some(waiter.id) != pid)
}

/// Returns the mask of devices whose buffer the caller may lease now
/// without waiting (none while another agent waits in turn for one).
pub(super) fn free_buffers() -> u32 {
    let pid = caller();
    with_devices(|devices| {
        if other_waits_for_buffer(pid) {
            return 0;
        }
        devices
            .iter()
            .enumerate()
            .filter(|(_, device)| !device.leased)
            .fold(0u32, |mask, (index, _)| mask | (1 << index))
    })
}

/// Leases device `index`'s buffer for the caller without waiting; `false`
/// if it is taken or another agent waits in turn for a buffer.
pub(super) fn lease(index: usize) -> bool {
    let pid = caller();
    with_devices(|devices| {
        if other_waits_for_buffer(pid) {
            return false;
        }
        match devices.get_mut(index) {
            Some(device) if !device.leased => {
                device.leased = true;
                device.lease_holder = pid;
                true
            }
            _ => false,
        }
    })
}

/// Ends the lease of device `index`'s buffer.
pub(super) fn end_lease(index: usize) {
    with_devices(|devices| {
        if let Some(device) = devices.get_mut(index) {
            device.leased = false;
            device.lease_holder = None;
        }
    });
}

/// The exit observer ([`task::on_agent_exit`]): gives back every lease
/// and job agent `pid` held when it ended (killed while blocked on a
/// completion, or preempted while holding a device). A device whose job
/// was abandoned is quiesced and put in recovery; [`recover`] returns it
/// to service as soon as the device is idle and passes its checks. The
/// DMA bounce frame belongs to the device, so nothing else is left behind.
pub fn release_agent(pid: u64) {
    let mut abandoned: u32 = 0;
    with_devices(|devices| {
        LEASE_TURN.lock().forget(pid);
        for device in devices.iter_mut() {
            device.turn.forget(pid);
            if device.lease_holder == Some(pid) {
                device.leased = false;
                device.lease_holder = None;
            }
            if device.busy && device.holder == Some(pid) {
                device.busy = false;
                device.holder = None;
                device.deadline_us = None;
                device.info.state = DeviceState::Recovering;
                device.edu.quiesce();
                abandoned += 1;
            }
        }
    });
    if abandoned > 0 {
        IN_FLIGHT.fetch_sub(abandoned, Ordering::Relaxed);
        RECLAIMED.fetch_add(u64::from(abandoned), Ordering::Relaxed);
        log::info!("accel: agent {pid} ended holding {abandoned} device job(s); reclaimed");
    }
}

/// Returns how many device jobs of ended agents [`release_agent`] gave
/// back since boot.
pub fn reclaimed_jobs() -> u64 {
    RECLAIMED.load(Ordering::Relaxed)
}

/// Lets others run while waiting: yield in an agent, halt until the next
/// interrupt otherwise.
pub(super) fn pause() {
    if task::current().is_some() {
        task::yield_now();
    } else {
        cpu::enable_interrupts_and_halt();
    }
}

/// How a held device's job completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    Poll,
    Interrupt,
}

/// Runs the factorial of `input` on held device `index`.
pub(super) fn factorial(
    index: usize,
    input: u32,
    wait: Wait,
    deadline_us: u64,
) -> Result<u32, AccelError> {
    let interrupt = wait == Wait::Interrupt;
    let seen = prepare_wait(index, interrupt, deadline_us)?;
    with_devices(|devices| devices[index].edu.start_factorial(input, interrupt))
        .map_err(|_| AccelError::Busy)?;
    complete(
        index,
        wait,
        seen,
        deadline_us,
        edu::INTERRUPT_FACTORIAL,
        |edu| !edu.factorial_busy(),
    )?;
    Ok(with_devices(|devices| {
        devices[index].edu.factorial_result()
    }))
}

/// Moves `data` into held device `index`'s buffer by DMA.
pub(super) fn dma_to_device(
    index: usize,
    data: &[u8],
    wait: Wait,
    deadline_us: u64,
) -> Result<(), AccelError> {
    let interrupt = wait == Wait::Interrupt;
    let seen = prepare_wait(index, interrupt, deadline_us)?;
    with_devices(|devices| {
        let device = &mut devices[index];
        device.dma.bytes_mut()[..data.len()].copy_from_slice(data);
        let address = device.dma.bus_address();
        device
            .edu
            .start_dma(DmaDirection::ToDevice, address, 0, data.len(), interrupt)
    })
    .map_err(|_| AccelError::InvalidArgument)?;
    complete(index, wait, seen, deadline_us, edu::INTERRUPT_DMA, |edu| {
        !edu.dma_busy()
    })
}

/// Moves `out.len()` bytes from held device `index`'s buffer into `out`.
pub(super) fn dma_from_device(
    index: usize,
    out: &mut [u8],
    wait: Wait,
    deadline_us: u64,
) -> Result<(), AccelError> {
    let interrupt = wait == Wait::Interrupt;
    let seen = prepare_wait(index, interrupt, deadline_us)?;
    with_devices(|devices| {
        let device = &mut devices[index];
        let address = device.dma.bus_address();
        device
            .edu
            .start_dma(DmaDirection::ToRam, address, 0, out.len(), interrupt)
    })
    .map_err(|_| AccelError::InvalidArgument)?;
    complete(index, wait, seen, deadline_us, edu::INTERRUPT_DMA, |edu| {
        !edu.dma_busy()
    })?;
    with_devices(|devices| out.copy_from_slice(&devices[index].dma.bytes()[..out.len()]));
    Ok(())
}

/// Before an interrupt job starts: makes sure the device has an event and
/// a route, arms the deadline, returns the event generation to wait past.
fn prepare_wait(index: usize, interrupt: bool, deadline_us: u64) -> Result<u64, AccelError> {
    if !interrupt {
        return Ok(0);
    }
    let event = with_devices(|devices| {
        let device = &mut devices[index];
        if device.info.route.is_none() {
            return Err(AccelError::NoInterrupt);
        }
        if device.event.is_none() {
            device.event = task::new_event();
        }
        device.deadline_us = Some(deadline_us);
        device.event.ok_or(AccelError::NoInterrupt)
    })?;
    if task::current().is_some() {
        start_watchdog();
    }
    Ok(task::event_generation(event))
}

/// Waits for held device `index` to finish: by polling `done`, or by
/// blocking until the interrupt with `cause` arrived. Past `deadline_us`
/// returns [`AccelError::Timeout`].
fn complete(
    index: usize,
    wait: Wait,
    mut seen: u64,
    deadline_us: u64,
    cause: u32,
    done: impl Fn(&Edu) -> bool,
) -> Result<(), AccelError> {
    let spin_until = crate::time::now_us().saturating_add(POLL_SPIN_US);
    loop {
        match wait {
            Wait::Poll => {
                if with_devices(|devices| done(&devices[index].edu)) {
                    return Ok(());
                }
                if crate::time::now_us() < spin_until {
                    core::hint::spin_loop();
                } else {
                    pause();
                }
            }
            Wait::Interrupt => {
                let (arrived, event) = with_devices(|devices| {
                    let device = &mut devices[index];
                    let arrived = device.pending & cause != 0;
                    device.pending &= !cause;
                    (arrived, device.event)
                });
                if arrived {
                    return Ok(());
                }
                let event = event.ok_or(AccelError::NoInterrupt)?;
                if crate::time::now_us() < deadline_us {
                    if task::current().is_some() {
                        task::wait(event, seen);
                    } else {
                        cpu::enable_interrupts_and_halt();
                    }
                    seen = task::event_generation(event);
                    continue;
                }
            }
        }
        if crate::time::now_us() >= deadline_us {
            return Err(AccelError::Timeout);
        }
    }
}

/// Makes now what the first interrupt job would make: each routed
/// device's event and the watchdog agent (after `task::init`). Tests that
/// count memory call it before they take their starting counts.
pub fn start_service() {
    with_devices(|devices| {
        for device in devices.iter_mut() {
            if device.info.route.is_some() && device.event.is_none() {
                device.event = task::new_event();
            }
        }
    });
    start_watchdog();
}

/// Starts the watchdog agent once; wakes it so it looks at the new deadline.
fn start_watchdog() {
    if !WATCHDOG_STARTED.swap(true, Ordering::AcqRel) {
        let event = task::new_event();
        cpu::without_interrupts(|| *WATCHDOG_EVENT.lock() = event);
        // A kernel service: started by the first job's caller (maybe a user
        // agent), but not that agent's child.
        if task::spawn_service("accel-watchdog", sched_rl::ClassHint::Interactive, watchdog)
            .is_err()
        {
            WATCHDOG_STARTED.store(false, Ordering::Release);
        }
    }
    if let Some(event) = cpu::without_interrupts(|| *WATCHDOG_EVENT.lock()) {
        task::signal(event);
    }
}

/// Signals the events of interrupt jobs past their deadline; sleeps on its
/// own event while no such job is pending.
fn watchdog() {
    loop {
        let now = crate::time::now_us();
        let (pending, expired) = with_devices(|devices| {
            let mut pending = false;
            let mut expired: [Option<EventId>; MAX_DEVICES] = [None; MAX_DEVICES];
            for (slot, device) in devices.iter().enumerate() {
                if let Some(deadline) = device.deadline_us {
                    pending = true;
                    if now >= deadline {
                        expired[slot] = device.event;
                    }
                }
            }
            (pending, expired)
        });
        for event in expired.into_iter().flatten() {
            task::signal(event);
        }
        if pending {
            task::sleep_us(WATCHDOG_PERIOD_US);
        } else if let Some(event) = cpu::without_interrupts(|| *WATCHDOG_EVENT.lock()) {
            let seen = task::event_generation(event);
            let still_idle =
                with_devices(|devices| devices.iter().all(|d| d.deadline_us.is_none()));
            if still_idle {
                task::wait(event, seen);
            }
        } else {
            task::sleep_us(WATCHDOG_PERIOD_US);
        }
    }
}

/// Routes every device's interrupt again with `preference` (tests force the
/// legacy line this way); returns how many devices have a route.
pub fn reroute(preference: InterruptPreference) -> usize {
    let addresses: Vec<_> =
        with_devices(|devices| devices.iter().map(|d| d.info.address).collect());
    let mut routed = 0;
    for (index, address) in addresses.into_iter().enumerate() {
        let Some(function) = pci::functions().iter().find(|f| f.address == address) else {
            continue;
        };
        let route = pci::route_interrupt(function, on_interrupt, preference).ok();
        routed += usize::from(route.is_some());
        with_devices(|devices| devices[index].info.route = route);
    }
    routed
}
