//! The accelerator entries of the adaptive dispatch table and their routes.
//!
//! Three entries, one per operation: `factorial` (CPU, device with polling,
//! device with interrupt, for every device), `copy_to_device` and
//! `copy_from_device` (CPU-side buffer, DMA with polling, DMA with
//! interrupt, for every device). Each handler maps to a [`Route`]. The
//! learner itself is `sched_rl::adaptive` (portable, host-tested); this
//! module only builds the entries, masks unavailable handlers per call,
//! feeds back the measured latency and reports each handler's calls, share
//! and learned weights (the syscall table's accelerator entries show these).

use alloc::{format, string::String, vec::Vec};

use agent_abi::{
    AcceleratorHandlerStats, AcceleratorOperation, AcceleratorRoute, AcceleratorTableStats,
    MAX_ACCELERATOR_HANDLERS,
};
use sched_rl::adaptive::{
    AdaptiveConfig, DispatchEntry, Features, HandlerMask, HandlerStats, MAX_HANDLERS,
    table::ReportLine,
};
use spin::Mutex;

use super::AccelError;
use crate::arch::cpu;

/// One way to serve an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// On the CPU (factorial) or in a kernel-side buffer (copies).
    Cpu,
    /// On device N, completion by polling its status.
    Poll(u8),
    /// On device N, the caller blocks until the device interrupts.
    Interrupt(u8),
}

impl Route {
    /// Returns the device the route uses, if any.
    pub const fn device(self) -> Option<u8> {
        match self {
            Self::Cpu => None,
            Self::Poll(device) | Self::Interrupt(device) => Some(device),
        }
    }
}

/// An operation of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// [`super::factorial`].
    Factorial = 0,
    /// [`super::copy_to_device`].
    CopyToDevice = 1,
    /// [`super::copy_from_device`].
    CopyFromDevice = 2,
    /// [`super::tensor::matmul_f32`].
    MatmulF32 = 3,
    /// [`super::tensor::matmul_i8`].
    MatmulI8 = 4,
}

/// Number of operations.
const OPERATIONS: usize = 5;

/// Handlers of an `edu` entry: the CPU, then polling and interrupt per device.
const EDU_HANDLERS: usize = 1 + 2 * super::MAX_DEVICES;
/// Handlers of a tensor entry: the CPU, then polling per device.
const TENSOR_HANDLERS: usize = 1 + super::shared::MAX_SHARED_DEVICES;

// Every handler of every entry fits the `stats` answer, and every entry its learner.
const _: () = assert!(3 * EDU_HANDLERS + 2 * TENSOR_HANDLERS <= MAX_ACCELERATOR_HANDLERS);
const _: () = assert!(EDU_HANDLERS <= MAX_HANDLERS && TENSOR_HANDLERS <= MAX_HANDLERS);

impl From<Route> for AcceleratorRoute {
    fn from(route: Route) -> Self {
        match route {
            Route::Cpu => Self::Cpu,
            Route::Poll(device) => Self::Poll(device),
            Route::Interrupt(device) => Self::Interrupt(device),
        }
    }
}

impl From<Operation> for AcceleratorOperation {
    fn from(operation: Operation) -> Self {
        match operation {
            Operation::Factorial => Self::Factorial,
            Operation::CopyToDevice => Self::CopyToDevice,
            Operation::CopyFromDevice => Self::CopyFromDevice,
            Operation::MatmulF32 => Self::MatmulF32,
            Operation::MatmulI8 => Self::MatmulI8,
        }
    }
}

/// Every operation, in table order.
const ALL_OPERATIONS: [Operation; OPERATIONS] = [
    Operation::Factorial,
    Operation::CopyToDevice,
    Operation::CopyFromDevice,
    Operation::MatmulF32,
    Operation::MatmulI8,
];

struct Entry {
    learner: DispatchEntry,
    routes: [Route; MAX_HANDLERS],
}

static TABLE: Mutex<Option<[Entry; OPERATIONS]>> = Mutex::new(None);

/// Builds an entry: the CPU, then polling and interrupt routes on each of
/// `devices` (at most [`super::MAX_DEVICES`]).
fn build(name: &'static str, names: [&'static str; 3], devices: usize, seed: u64) -> Entry {
    let config = AdaptiveConfig {
        seed,
        ..AdaptiveConfig::default()
    };
    let mut learner = DispatchEntry::new(name, config);
    let mut routes = [Route::Cpu; MAX_HANDLERS];
    let _ = learner.add_handler(names[0], None);
    let mut count = 1;
    for device in 0..devices.min(super::MAX_DEVICES) {
        for (kind, route) in [
            (names[1], Route::Poll(device as u8)),
            (names[2], Route::Interrupt(device as u8)),
        ] {
            if learner.add_handler(kind, Some(device as u16)).is_ok() {
                routes[count] = route;
                count += 1;
            }
        }
    }
    Entry { learner, routes }
}

/// Builds the entries for `devices` `edu` devices and `tensor_devices`
/// tensor devices (replacing any earlier table).
pub fn init(devices: usize, tensor_devices: usize) {
    let table = [
        build("factorial", ["cpu", "poll", "irq"], devices, 0xFAC7),
        build(
            "copy_to_device",
            ["cpu", "dma-poll", "dma-irq"],
            devices,
            0xD0A1,
        ),
        build(
            "copy_from_device",
            ["cpu", "dma-poll", "dma-irq"],
            devices,
            0xD0A2,
        ),
        build(
            "matmul_f32",
            ["cpu", "ring", "ring-irq"],
            tensor_devices,
            0x7E45,
        ),
        build(
            "matmul_i8",
            ["cpu", "ring", "ring-irq"],
            tensor_devices,
            0x7E48,
        ),
    ];
    cpu::without_interrupts(|| *TABLE.lock() = Some(table));
}

/// Returns the mask of handlers whose route `allowed` accepts.
fn mask(entry: &Entry, allowed: impl Fn(Route) -> bool) -> HandlerMask {
    let count = entry.learner.handlers().len();
    (0..count)
        .filter(|index| allowed(entry.routes[*index]))
        .fold(HandlerMask::NONE, |mask, index| {
            mask.with(sched_rl::HandlerId(index as u8))
        })
}

/// A decision to report back with [`record`].
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    operation: Operation,
    handler: sched_rl::HandlerId,
    features: Features,
    /// The route chosen.
    pub route: Route,
}

/// Chooses a route for `operation` with `payload` bytes (or input
/// magnitude) among the routes `allowed` accepts. No allocation.
pub fn select(
    operation: Operation,
    payload: u64,
    queue_depth: u32,
    allowed: impl Fn(Route) -> bool,
) -> Option<Decision> {
    select_job(operation, Features::call(payload, queue_depth), allowed)
}

/// Chooses a route for a call of `operation` with `features` among the
/// routes `allowed` accepts. No allocation.
pub fn select_job(
    operation: Operation,
    features: Features,
    allowed: impl Fn(Route) -> bool,
) -> Option<Decision> {
    cpu::without_interrupts(|| {
        let mut table = TABLE.lock();
        let entry = &mut table.as_mut()?[operation as usize];
        let mask = mask(entry, allowed);
        let selection = entry.learner.select(&features, mask)?;
        Some(Decision {
            operation,
            handler: selection.handler,
            features,
            route: entry.routes[usize::from(selection.handler.0)],
        })
    })
}

/// Returns the route the table predicts fastest for `operation` with
/// `payload` bytes, without exploring (for tests and reports).
pub fn best(operation: Operation, payload: u64, allowed: impl Fn(Route) -> bool) -> Option<Route> {
    let features = Features::call(payload, 0);
    cpu::without_interrupts(|| {
        let table = TABLE.lock();
        let entry = &table.as_ref()?[operation as usize];
        let (handler, _) = entry.learner.best(&features, mask(entry, allowed))?;
        Some(entry.routes[usize::from(handler.0)])
    })
}

/// Returns the predicted latency (µs) of `route` for `operation` and `payload`.
pub fn predicted_us(operation: Operation, payload: u64, route: Route) -> Option<i64> {
    let features = Features::call(payload, 0);
    cpu::without_interrupts(|| {
        let table = TABLE.lock();
        let entry = &table.as_ref()?[operation as usize];
        let index = entry.routes[..entry.learner.handlers().len()]
            .iter()
            .position(|candidate| *candidate == route)?;
        Some(
            entry
                .learner
                .predict(sched_rl::HandlerId(index as u8), &features)
                .floor_int(),
        )
    })
}

/// Feeds back a call that took `latency_us`: its latency when it succeeded,
/// a failure when it failed; a device another caller held (`Busy`) says
/// nothing about the route, so that call is only no longer in flight.
pub fn record<T>(decision: &Decision, result: &Result<T, AccelError>, latency_us: u64) {
    cpu::without_interrupts(|| {
        if let Some(table) = TABLE.lock().as_mut() {
            let learner = &mut table[decision.operation as usize].learner;
            match result {
                Ok(_) => {
                    learner.record(decision.handler, &decision.features, latency_us);
                }
                Err(AccelError::Busy) => learner.abandon(decision.handler, &decision.features),
                Err(_) => learner.record_failure(decision.handler, &decision.features),
            }
        }
    });
}

/// Returns the table's state as printable lines: per entry the lines of
/// [`operation_lines`].
pub fn report_lines() -> Vec<String> {
    ALL_OPERATIONS
        .iter()
        .flat_map(|operation| operation_lines(*operation))
        .collect()
}

/// Returns the state of `operation`'s entry as printable lines: a header
/// (decisions, exploration), then per handler its calls, share of the
/// entry's calls, failures, mean latency and learned weights. No lines
/// before [`init`].
pub fn operation_lines(operation: Operation) -> Vec<String> {
    cpu::without_interrupts(|| {
        let table = TABLE.lock();
        let Some(entry) = table.as_ref().map(|table| &table[operation as usize]) else {
            return Vec::new();
        };
        let handlers = entry.learner.handlers();
        let total_calls: u64 = handlers.iter().map(|handler| handler.calls).sum();
        let mut lines = Vec::with_capacity(handlers.len() + 1);
        lines.push(format!("  {}", ReportLine::Header(&entry.learner)));
        lines.extend(
            handlers
                .iter()
                .map(|handler| handler_line(handler, total_calls)),
        );
        lines
    })
}

/// Returns the printable line of `handler`, whose entry served `total_calls`.
fn handler_line(handler: &HandlerStats, total_calls: u64) -> String {
    let label = match handler.instance {
        Some(instance) => format!("{}#{instance}", handler.name),
        None => String::from(handler.name),
    };
    let share_percent = handler
        .calls
        .saturating_mul(100)
        .checked_div(total_calls)
        .unwrap_or(0);
    let [constant, per_kib, per_work, per_job] = handler.model().weights();
    format!(
        "    {label:<10} calls {:>8} ({share_percent:>3}%) failed {} mean {} us, \
         K = [{constant} + {per_kib}/KiB + {per_work}/work + {per_job}/job]",
        handler.calls,
        handler.failures,
        handler.mean_latency_us(),
    )
}

/// Returns every handler of every entry with its route, calls and learned
/// weights, for the `stats` syscall.
pub fn table_stats() -> AcceleratorTableStats {
    cpu::without_interrupts(|| {
        let table = TABLE.lock();
        let mut stats = AcceleratorTableStats::new();
        for (operation, entry) in ALL_OPERATIONS.iter().zip(table.iter().flatten()) {
            for (handler, route) in entry.learner.handlers().iter().zip(entry.routes) {
                let [constant, per_kib, per_work, per_job] = handler.model().weights();
                let record = AcceleratorHandlerStats {
                    operation: (*operation).into(),
                    route: route.into(),
                    calls: handler.calls,
                    mean_latency_us: handler.mean_latency_us(),
                    weight_constant: constant.raw(),
                    weight_per_kib: per_kib.raw(),
                    weight_per_work: per_work.raw(),
                    weight_per_job: per_job.raw(),
                };
                // Cannot fail: the assertion above keeps every handler in.
                if stats.push(record).is_err() {
                    break;
                }
            }
        }
        stats
    })
}
const _: () = assert!(super::shared::MAX_SHARED_DEVICES <= super::MAX_DEVICES);
