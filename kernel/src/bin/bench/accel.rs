//! `bench=accel`: mixed accelerator workloads under every static route and under the adaptive table.
//!
//! Two workloads, each in its own runs:
//!
//! - **tensor**: matmuls of every size class (`f32` and `i8`, small to
//!   large, and the digits model's batched layer) on the two tensor
//!   accelerators (ivshmem + `tensor-backend`) or the CPU;
//! - **edu**: small and large factorials and copy round trips on the two
//!   `edu` devices or the CPU.
//!
//! [`AGENTS`] kernel agents each make a pseudo-random sequence of calls (the
//! same sequences for every configuration), in the proportions of the
//! workload's classes. A configuration is one static route pinned with
//! `JobOptions` or the adaptive dispatch table, which starts fresh
//! (`dispatch::init`) and learns during the run (it is longer, for its
//! learning curve). Every call is timed with rdtsc around the whole
//! operation (waiting for a busy device included) and printed as one
//! `BENCHCALL` line with the backend's own time where there is one;
//! `cargo xtask bench accel` computes the statistics.

use alloc::{vec, vec::Vec};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kernel::accel::{
    self, AccelError, Completion, JobOptions, Route,
    tensor::{self, MatmulShape},
};
use kernel::{arch::cpu, task, testing, time};
use sched_rl::ClassHint;
use spin::Mutex;

/// Agents calling concurrently.
const AGENTS: usize = 3;
/// Calls per agent under each static route.
const STATIC_CALLS: usize = 40;
/// Calls per agent under the adaptive table (its learning curve).
const ADAPTIVE_CALLS: usize = 200;
/// The same with `quick=1`.
const QUICK_STATIC_CALLS: usize = 12;
/// The same with `quick=1`.
const QUICK_ADAPTIVE_CALLS: usize = 80;
/// How long a call may wait for a busy device before it counts as failed, µs.
const RETRY_LIMIT_US: u64 = 10_000_000;
/// How often the benchmark agent looks whether the agents finished, µs.
const POLL_US: u64 = 5_000;

/// A size class of a workload.
#[derive(Debug, Clone, Copy)]
struct Class {
    name: &'static str,
    kind: Kind,
    /// Relative frequency in the mix.
    weight: u64,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Factorial of this input.
    Factorial(u32),
    /// Copy round trip of this many bytes.
    Copy(usize),
    /// `f32` matmul of this `(m, k, n)`.
    MatmulF32(usize, usize, usize),
    /// `i8` matmul of this `(m, k, n)`.
    MatmulI8(usize, usize, usize),
    /// `i8` matmul of this `(m, k, n)` whose B is a resident tensor (a
    /// model's weights, uploaded once per agent): only A and C move.
    InferI8(usize, usize, usize),
}

/// A workload: its classes and the static routes it is run under.
struct Workload {
    name: &'static str,
    classes: &'static [Class],
    routes: &'static [Route],
    /// Calls per configuration, as a multiple of [`STATIC_CALLS`] and
    /// [`ADAPTIVE_CALLS`] (not with `quick=1`): tensor calls take
    /// milliseconds where edu DMA takes 100 ms, and a class's mean needs
    /// dozens of calls before a 10% difference means anything.
    scale: usize,
}

/// The tensor mix: small jobs dominate, as in an agent system's calls; the
/// digits model's first layer over a batch of 64 images, its weights
/// resident, is the inference class.
const TENSOR_CLASSES: [Class; 5] = [
    Class {
        name: "mm-f32-small",
        kind: Kind::MatmulF32(8, 8, 8),
        weight: 30,
    },
    Class {
        name: "mm-i8-small",
        kind: Kind::MatmulI8(4, 16, 16),
        weight: 25,
    },
    Class {
        name: "infer-batch",
        kind: Kind::InferI8(64, 64, 32),
        weight: 20,
    },
    Class {
        name: "mm-f32-large",
        kind: Kind::MatmulF32(160, 160, 160),
        weight: 15,
    },
    Class {
        name: "mm-i8-large",
        kind: Kind::MatmulI8(256, 256, 256),
        weight: 10,
    },
];

/// The edu mix.
const EDU_CLASSES: [Class; 4] = [
    Class {
        name: "fact-small",
        kind: Kind::Factorial(8),
        weight: 40,
    },
    Class {
        name: "fact-large",
        kind: Kind::Factorial(100_000),
        weight: 20,
    },
    Class {
        name: "copy-small",
        kind: Kind::Copy(64),
        weight: 25,
    },
    Class {
        name: "copy-large",
        kind: Kind::Copy(accel::MAX_COPY_BYTES),
        weight: 15,
    },
];

const WORKLOADS: [Workload; 2] = [
    Workload {
        name: "tensor",
        classes: &TENSOR_CLASSES,
        routes: &[
            Route::Cpu,
            Route::Poll(0),
            Route::Interrupt(0),
            Route::Poll(1),
            Route::Interrupt(1),
        ],
        scale: 3,
    },
    Workload {
        name: "edu",
        classes: &EDU_CLASSES,
        routes: &[
            Route::Cpu,
            Route::Poll(0),
            Route::Interrupt(0),
            Route::Poll(1),
            Route::Interrupt(1),
        ],
        scale: 1,
    },
];

/// A configuration: one pinned route, or the adaptive table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    Static(Route),
    Adaptive,
}

/// One timed call.
#[derive(Debug, Clone, Copy)]
struct Call {
    sequence: u64,
    agent: usize,
    class: usize,
    route: Option<Route>,
    cycles: u64,
    /// The backend's own time on the job, ns (tensor devices only).
    backend_ns: u64,
    ok: bool,
}

static CALLS: Mutex<Vec<Call>> = Mutex::new(Vec::new());
static SEQUENCE: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// Runs every workload under every configuration.
pub fn run(quick: bool) {
    let devices = accel::devices().len();
    let tensor_devices = tensor::ready_mask().count_ones();
    kernel::println!("BENCHCTX devices={devices} tensor_devices={tensor_devices} agents={AGENTS}");
    if devices < 2 || tensor_devices < 2 {
        kernel::println!(
            "bench accel needs two edu devices and two tensor accelerators with their backends"
        );
        testing::fail("too few devices");
    }
    for workload in &WORKLOADS {
        let (static_calls, adaptive_calls) = if quick {
            (QUICK_STATIC_CALLS, QUICK_ADAPTIVE_CALLS)
        } else {
            (
                STATIC_CALLS * workload.scale,
                ADAPTIVE_CALLS * workload.scale,
            )
        };
        for class in workload.classes {
            kernel::println!(
                "BENCHCLASS workload={} name={} weight={}",
                workload.name,
                class.name,
                class.weight
            );
        }
        // Adaptive first, on a fresh table; the pinned runs after it also
        // train the table, which no later run uses.
        accel::dispatch::init(devices, tensor::count());
        run_config(workload, Config::Adaptive, adaptive_calls);
        for line in accel::table_lines() {
            kernel::println!("table: {line}");
        }
        for route in workload.routes {
            run_config(workload, Config::Static(*route), static_calls);
        }
    }
    for device in tensor::devices() {
        kernel::println!(
            "BENCHDEV tensor={} jobs={} failures={} backend_us={} guest_us={}",
            device.index,
            device.jobs,
            device.failures,
            device.backend_ns / 1_000,
            device.guest_us
        );
    }
}

fn config_name(config: Config) -> &'static str {
    match config {
        Config::Adaptive => "adaptive",
        Config::Static(route) => route_name(Some(route)),
    }
}

fn route_name(route: Option<Route>) -> &'static str {
    match route {
        None => "none",
        Some(Route::Cpu) => "cpu",
        Some(Route::Poll(0)) => "poll0",
        Some(Route::Interrupt(0)) => "irq0",
        Some(Route::Poll(1)) => "poll1",
        Some(Route::Interrupt(1)) => "irq1",
        Some(Route::Poll(_)) => "poll",
        Some(Route::Interrupt(_)) => "irq",
    }
}

fn run_config(workload: &'static Workload, config: Config, calls_per_agent: usize) {
    let name = config_name(config);
    kernel::println!("BENCHCTX workload={} config={name}", workload.name);
    CALLS.lock().clear();
    SEQUENCE.store(0, Ordering::Relaxed);
    FINISHED.store(0, Ordering::Relaxed);
    let started = time::now_us();
    for agent in 0..AGENTS {
        let spawned = task::spawn(
            &alloc::format!("accel-{agent}"),
            ClassHint::Interactive,
            move || {
                agent_calls(workload, config, agent, calls_per_agent);
                FINISHED.fetch_add(1, Ordering::Relaxed);
            },
        );
        if spawned.is_err() {
            testing::fail("cannot spawn an accelerator agent");
        }
    }
    while FINISHED.load(Ordering::Relaxed) < AGENTS {
        task::sleep_us(POLL_US);
    }
    let elapsed_ms = (time::now_us() - started) / 1_000;
    let mut calls = core::mem::take(&mut *CALLS.lock());
    calls.sort_unstable_by_key(|call| call.sequence);
    for call in &calls {
        kernel::println!(
            "BENCHCALL workload={} config={name} seq={} agent={} class={} route={} us={} backend_us={} ok={}",
            workload.name,
            call.sequence,
            call.agent,
            workload.classes[call.class].name,
            route_name(call.route),
            time::cycles_to_us(call.cycles),
            call.backend_ns / 1_000,
            u8::from(call.ok)
        );
    }
    kernel::println!(
        "BENCHRUN workload={} config={name} agents={AGENTS} calls={} elapsed_ms={elapsed_ms}",
        workload.name,
        calls.len()
    );
}

/// A tiny xorshift generator, so every configuration sees the same calls.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn pick_class(classes: &[Class], state: &mut u64) -> usize {
    let total: u64 = classes.iter().map(|class| class.weight).sum();
    let mut ticket = next_random(state) % total;
    for (index, class) in classes.iter().enumerate() {
        if ticket < class.weight {
            return index;
        }
        ticket -= class.weight;
    }
    0
}

fn options(config: Config) -> JobOptions {
    match config {
        Config::Adaptive => JobOptions::default(),
        Config::Static(route) => JobOptions {
            completion: match route {
                Route::Cpu => Completion::Cpu,
                Route::Poll(_) => Completion::Poll,
                Route::Interrupt(_) => Completion::Interrupt,
            },
            allow_cpu: route == Route::Cpu,
            device: route.device().map(usize::from),
            ..JobOptions::default()
        },
    }
}

/// Operands of the tensor classes, made once per agent.
struct Operands {
    f32s: Vec<f32>,
    i8s: Vec<i8>,
    f32_out: Vec<f32>,
    i32_out: Vec<i32>,
    /// The resident weights of the inference class (the first `k x n` of `i8s`).
    weights: Option<u64>,
}

impl Operands {
    fn new(agent: usize, classes: &[Class]) -> Self {
        let mut largest = 0;
        for class in classes {
            if let Kind::MatmulF32(m, k, n) | Kind::MatmulI8(m, k, n) | Kind::InferI8(m, k, n) =
                class.kind
            {
                largest = largest.max(m * k).max(k * n).max(m * n);
            }
        }
        let mut state = 0x5EED + agent as u64;
        let i8s: Vec<i8> = (0..largest)
            .map(|_| next_random(&mut state) as i8)
            .collect();
        let weights = classes.iter().find_map(|class| match class.kind {
            Kind::InferI8(_, k, n) => accel::resident::upload(
                task::current_pid(),
                tensor_ring::Element::I8,
                (k, n),
                i8s[..k * n].iter().map(|value| *value as u8).collect(),
                None,
            )
            .ok(),
            _ => None,
        });
        Self {
            f32s: (0..largest)
                .map(|_| (next_random(&mut state) % 2000) as f32 / 1000.0 - 1.0)
                .collect(),
            i8s,
            f32_out: vec![0.0; largest],
            i32_out: vec![0; largest],
            weights,
        }
    }
}

impl Drop for Operands {
    fn drop(&mut self) {
        if let Some(id) = self.weights {
            let _ = accel::resident::release(task::current_pid(), id);
        }
    }
}

/// Runs one call of `kind`; returns the route, whether the result was
/// right (checked on a sample for matmuls: the CPU reference of every
/// element would cost more than the call) and the backend's time.
fn one_call(
    kind: Kind,
    options: &JobOptions,
    operands: &mut Operands,
    source: &[u8],
    destination: &mut [u8],
) -> Result<(Route, bool, u64), AccelError> {
    match kind {
        Kind::Factorial(input) => with_retry(|| accel::factorial(input, options)).map(|outcome| {
            (
                outcome.route,
                outcome.value == accel::factorial_on_cpu(input),
                0,
            )
        }),
        Kind::Copy(bytes) => with_retry(|| {
            let buffer = accel::copy_to_device(&source[..bytes], options)?;
            accel::copy_from_device(&buffer.value, &mut destination[..bytes], options)?;
            Ok(buffer.route)
        })
        .map(|route| (route, source[..bytes] == destination[..bytes], 0)),
        Kind::MatmulF32(m, k, n) => {
            let shape = MatmulShape::new(m, k, n, 4, 4)?;
            let (a, b) = (&operands.f32s[..m * k], &operands.f32s[..k * n]);
            let c = &mut operands.f32_out[..m * n];
            let outcome = with_retry(|| tensor::matmul_f32(&shape, a, b, c, options))?;
            // Element (m-1, n-1): a dot product of k terms, within tolerance.
            let expected: f32 = (0..k).map(|p| a[(m - 1) * k + p] * b[p * n + n - 1]).sum();
            let magnitude: f32 = (0..k)
                .map(|p| (a[(m - 1) * k + p] * b[p * n + n - 1]).abs())
                .sum();
            let ok = (c[m * n - 1] - expected).abs() <= 2.0 * k as f32 * f32::EPSILON * magnitude;
            Ok((outcome.route, ok, outcome.value))
        }
        Kind::MatmulI8(m, k, n) => {
            let shape = MatmulShape::new(m, k, n, 1, 4)?;
            let (a, b) = (&operands.i8s[..m * k], &operands.i8s[..k * n]);
            let c = &mut operands.i32_out[..m * n];
            let outcome = with_retry(|| tensor::matmul_i8(&shape, a, b, c, options))?;
            let expected: i32 = (0..k)
                .map(|p| i32::from(a[(m - 1) * k + p]) * i32::from(b[p * n + n - 1]))
                .sum();
            Ok((outcome.route, c[m * n - 1] == expected, outcome.value))
        }
        Kind::InferI8(m, k, n) => {
            let shape = MatmulShape::new(m, k, n, 1, 4)?;
            let id = operands.weights.ok_or(AccelError::OutOfMemory)?;
            // Looked up per call, as the syscall does.
            let weights = accel::resident::lookup(task::current_pid(), id)?;
            let (a, b) = (&operands.i8s[..m * k], &operands.i8s[..k * n]);
            let c = &mut operands.i32_out[..m * n];
            let outcome =
                with_retry(|| tensor::matmul_i8_resident(&shape, a, &weights, c, options))?;
            let expected: i32 = (0..k)
                .map(|p| i32::from(a[(m - 1) * k + p]) * i32::from(b[p * n + n - 1]))
                .sum();
            Ok((outcome.route, c[m * n - 1] == expected, outcome.value))
        }
    }
}

fn agent_calls(workload: &Workload, config: Config, agent: usize, count: usize) {
    let mut state = 0x9E37_79B9 + agent as u64 * 0x1000_0001;
    let options = options(config);
    let source: Vec<u8> = (0..accel::MAX_COPY_BYTES)
        .map(|index| (index * 7 + agent) as u8)
        .collect();
    let mut destination = vec![0u8; accel::MAX_COPY_BYTES];
    let mut operands = Operands::new(agent, workload.classes);
    for _ in 0..count {
        let class = pick_class(workload.classes, &mut state);
        // Numbered at its start, where the table decides its route: a 200 ms
        // DMA that starts first and ends after a hundred CPU calls belongs to
        // the beginning of the learning curve, not to its warm half.
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let start = cpu::read_timestamp_counter();
        let result = one_call(
            workload.classes[class].kind,
            &options,
            &mut operands,
            &source,
            &mut destination,
        );
        let cycles = cpu::read_timestamp_counter().wrapping_sub(start);
        let (route, ok, backend_ns) = match result {
            Ok((route, correct, backend_ns)) => (Some(route), correct, backend_ns),
            Err(error) => {
                kernel::println!("accel-{agent}: call failed: {error:?}");
                (None, false, 0)
            }
        };
        cpu::without_interrupts(|| {
            CALLS.lock().push(Call {
                sequence,
                agent,
                class,
                route,
                cycles,
                backend_ns,
                ok,
            });
        });
    }
}

/// Runs `operation` until it is not refused for a busy or leased device
/// (another agent holds the pinned device), yielding in between.
fn with_retry<T>(mut operation: impl FnMut() -> Result<T, AccelError>) -> Result<T, AccelError> {
    let deadline = time::now_us() + RETRY_LIMIT_US;
    loop {
        match operation() {
            Err(AccelError::Busy | AccelError::InvalidArgument) if time::now_us() < deadline => {
                task::yield_now();
            }
            other => return other,
        }
    }
}
