//! `bench=accel`: a mixed accelerator workload under every static route and under the adaptive table.
//!
//! [`AGENTS`] kernel agents each make a pseudo-random sequence of calls
//! (the same sequences for every configuration): small and large
//! factorials, small and large copy round trips (to a device buffer and
//! back), in the proportions of [`CLASSES`]. A configuration is one static
//! route pinned with `JobOptions` (CPU, poll or interrupt on device 0 or 1)
//! or the adaptive dispatch table, which starts fresh (`dispatch::init`)
//! and learns during the run. The adaptive run is longer, for its learning
//! curve. Every call is timed with rdtsc around the whole operation
//! (waiting for a busy device included) and printed as one `BENCHCALL`
//! line; `cargo xtask bench accel` computes the statistics.

use alloc::{vec, vec::Vec};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kernel::accel::{self, AccelError, Completion, JobOptions, Route};
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

/// A size class of the workload.
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
}

/// The mix: small jobs dominate, as in an agent system's calls.
const CLASSES: [Class; 4] = [
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
    ok: bool,
}

static CALLS: Mutex<Vec<Call>> = Mutex::new(Vec::new());
static SEQUENCE: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// Runs the workload under every configuration.
pub fn run(quick: bool) {
    let devices = accel::devices().len();
    kernel::println!("BENCHCTX devices={devices} agents={AGENTS}");
    if devices < 2 {
        kernel::println!("bench accel needs two edu devices (-device edu -device edu)");
        testing::fail("too few edu devices");
    }
    for class in CLASSES {
        kernel::println!("BENCHCLASS name={} weight={}", class.name, class.weight);
    }
    let (static_calls, adaptive_calls) = if quick {
        (QUICK_STATIC_CALLS, QUICK_ADAPTIVE_CALLS)
    } else {
        (STATIC_CALLS, ADAPTIVE_CALLS)
    };
    // Adaptive first, on a fresh table; the pinned runs after it also
    // train the table, which no later run uses.
    accel::dispatch::init(devices, accel::tensor::count());
    run_config(Config::Adaptive, adaptive_calls);
    for line in accel::table_lines() {
        kernel::println!("table: {line}");
    }
    let routes = [
        Route::Cpu,
        Route::Poll(0),
        Route::Interrupt(0),
        Route::Poll(1),
        Route::Interrupt(1),
    ];
    for route in routes {
        run_config(Config::Static(route), static_calls);
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

fn run_config(config: Config, calls_per_agent: usize) {
    let name = config_name(config);
    kernel::println!("BENCHCTX config={name}");
    CALLS.lock().clear();
    SEQUENCE.store(0, Ordering::Relaxed);
    FINISHED.store(0, Ordering::Relaxed);
    let started = time::now_us();
    for agent in 0..AGENTS {
        let spawned = task::spawn(
            &alloc::format!("accel-{agent}"),
            ClassHint::Interactive,
            move || {
                agent_calls(config, agent, calls_per_agent);
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
            "BENCHCALL config={name} seq={} agent={} class={} route={} us={} ok={}",
            call.sequence,
            call.agent,
            CLASSES[call.class].name,
            route_name(call.route),
            time::cycles_to_us(call.cycles),
            u8::from(call.ok)
        );
    }
    kernel::println!(
        "BENCHRUN config={name} agents={AGENTS} calls={} elapsed_ms={elapsed_ms}",
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

fn pick_class(state: &mut u64) -> usize {
    let total: u64 = CLASSES.iter().map(|class| class.weight).sum();
    let mut ticket = next_random(state) % total;
    for (index, class) in CLASSES.iter().enumerate() {
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

fn agent_calls(config: Config, agent: usize, count: usize) {
    let mut state = 0x9E37_79B9 + agent as u64 * 0x1000_0001;
    let options = options(config);
    let source: Vec<u8> = (0..accel::MAX_COPY_BYTES)
        .map(|index| (index * 7 + agent) as u8)
        .collect();
    let mut destination = vec![0u8; accel::MAX_COPY_BYTES];
    for _ in 0..count {
        let class = pick_class(&mut state);
        let start = cpu::read_timestamp_counter();
        let result = match CLASSES[class].kind {
            Kind::Factorial(input) => {
                with_retry(|| accel::factorial(input, &options)).map(|outcome| {
                    (
                        outcome.route,
                        outcome.value == accel::factorial_on_cpu(input),
                    )
                })
            }
            Kind::Copy(bytes) => with_retry(|| {
                let buffer = accel::copy_to_device(&source[..bytes], &options)?;
                accel::copy_from_device(&buffer.value, &mut destination[..bytes], &options)?;
                Ok(buffer.route)
            })
            .map(|route| (route, source[..bytes] == destination[..bytes])),
        };
        let cycles = cpu::read_timestamp_counter().wrapping_sub(start);
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let (route, ok) = match result {
            Ok((route, correct)) => (Some(route), correct),
            Err(error) => {
                kernel::println!("accel-{agent}: call failed: {error:?}");
                (None, false)
            }
        };
        cpu::without_interrupts(|| {
            CALLS.lock().push(Call {
                sequence,
                agent,
                class,
                route,
                cycles,
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
