//! The syscall table: capability check, dispatch, per-handler statistics.
//!
//! The ABI (numbers, arguments, error codes) is defined in the `agent-abi`
//! crate, shared with agent programs. Every entry of [`TABLE`] can hold more
//! than one handler implementation, each with a weight; [`dispatch`] picks
//! the handler with the highest weight (the accelerator calls replace the
//! weights by a learned latency model). Every call is timed with the TSC and
//! counted per handler, which the `stats` syscall and the status views show.
//!
//! Nothing a user agent passes can take the kernel down: an unknown number
//! returns `NoSuchSyscall`, a missing capability `PermissionDenied`, and
//! every pointer goes through `memory::user` before the kernel touches it.

mod handlers;

use agent_abi::{Error, SYSCALL_COUNT, Syscall};
use spin::Mutex;

use crate::arch::cpu::{self, without_interrupts};

/// Arguments of a syscall, in ABI order.
pub type Arguments = [u64; 6];
/// What a handler returns: a non-negative value or an error.
pub type Outcome = Result<u64, Error>;

/// One implementation of a syscall.
pub struct Handler {
    /// Name shown in statistics.
    pub name: &'static str,
    /// The implementation.
    pub run: fn(&Arguments) -> Outcome,
    /// Static weight; the highest-weighted handler serves the call.
    pub weight: u32,
}

/// One syscall's entry.
pub struct Entry {
    /// The syscall.
    pub syscall: Syscall,
    /// Its implementations (at least one).
    pub handlers: &'static [Handler],
}

/// Most handlers one entry holds.
pub const MAX_HANDLERS: usize = 4;

macro_rules! single {
    ($syscall:expr, $name:expr, $function:path) => {
        Entry {
            syscall: $syscall,
            handlers: &[Handler {
                name: $name,
                run: $function,
                weight: 1,
            }],
        }
    };
}

/// The table, indexed by syscall number.
pub static TABLE: [Entry; SYSCALL_COUNT as usize] = [
    single!(Syscall::Exit, "exit", handlers::exit),
    single!(Syscall::Yield, "yield", handlers::yield_now),
    single!(Syscall::Sleep, "sleep", handlers::sleep),
    single!(Syscall::Clock, "clock", handlers::clock),
    single!(Syscall::Log, "log", handlers::log),
    single!(Syscall::Spawn, "spawn", handlers::spawn),
    single!(Syscall::Wait, "wait", handlers::wait),
    single!(Syscall::Send, "send", handlers::send),
    single!(Syscall::Receive, "receive", handlers::receive),
    single!(Syscall::Call, "call", handlers::call),
    single!(Syscall::Reply, "reply", handlers::reply),
    single!(Syscall::Map, "map", handlers::map),
    single!(Syscall::Unmap, "unmap", handlers::unmap),
    single!(Syscall::Stats, "stats", handlers::stats),
    single!(Syscall::Null, "null", handlers::null),
    single!(
        Syscall::AccelFactorial,
        "adaptive",
        handlers::accel_factorial
    ),
    single!(Syscall::AccelCopy, "adaptive", handlers::accel_copy),
];

/// Counters of one handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct HandlerCounters {
    /// Calls served.
    pub calls: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// TSC cycles spent, summed.
    pub cycles: u64,
}

struct Counters {
    handlers: [[HandlerCounters; MAX_HANDLERS]; SYSCALL_COUNT as usize],
    unknown_numbers: u64,
    denied: u64,
}

static COUNTERS: Mutex<Counters> = Mutex::new(Counters {
    handlers: [[HandlerCounters {
        calls: 0,
        errors: 0,
        cycles: 0,
    }; MAX_HANDLERS]; SYSCALL_COUNT as usize],
    unknown_numbers: 0,
    denied: 0,
});

fn select(entry: &Entry) -> usize {
    let mut best = 0;
    for (index, handler) in entry.handlers.iter().enumerate().take(MAX_HANDLERS) {
        if handler.weight > entry.handlers[best].weight {
            best = index;
        }
    }
    best
}

/// Runs syscall `number` for the running user agent; returns the value for
/// `rax` (an [`Error`] code when negative).
pub fn dispatch(number: u64, arguments: Arguments) -> i64 {
    let syscall = Syscall::from_number(number);
    // One visit to the caller's process counts the call and reads its
    // capabilities (the task lock is not taken again on success).
    let allowed = crate::user::with_current_process(|process| {
        process.syscalls += 1;
        syscall.is_some_and(|syscall| process.capabilities.allows(syscall))
    });
    let Some(syscall) = syscall else {
        without_interrupts(|| COUNTERS.lock().unknown_numbers += 1);
        return finish(Err(Error::NoSuchSyscall));
    };
    if allowed != Some(true) {
        without_interrupts(|| COUNTERS.lock().denied += 1);
        return finish(Err(Error::PermissionDenied));
    }
    let entry = &TABLE[syscall as usize];
    let index = select(entry);
    let start = cpu::read_timestamp_counter();
    let outcome = (entry.handlers[index].run)(&arguments);
    let cycles = cpu::read_timestamp_counter().wrapping_sub(start);
    without_interrupts(|| {
        let counters = &mut COUNTERS.lock().handlers[syscall as usize][index];
        counters.calls += 1;
        counters.cycles += cycles;
        counters.errors += u64::from(outcome.is_err());
    });
    finish(outcome)
}

/// Returns the value for `rax`, counting an error against the caller.
fn finish(outcome: Outcome) -> i64 {
    match outcome {
        Ok(value) => i64::try_from(value).unwrap_or(i64::MAX),
        Err(error) => {
            crate::user::with_current_process(|process| process.syscall_errors += 1);
            error as i64
        }
    }
}

/// Returns the counters of every handler of `syscall`.
pub fn handler_counters(syscall: Syscall) -> [HandlerCounters; MAX_HANDLERS] {
    without_interrupts(|| COUNTERS.lock().handlers[syscall as usize])
}

/// Returns (unknown syscall numbers, capability denials) seen.
pub fn refusals() -> (u64, u64) {
    without_interrupts(|| {
        let counters = COUNTERS.lock();
        (counters.unknown_numbers, counters.denied)
    })
}

/// Returns printable lines describing the table (handlers, weights, calls,
/// mean cycles).
pub fn table_lines() -> alloc::vec::Vec<alloc::string::String> {
    let mut lines = alloc::vec::Vec::new();
    lines.push(alloc::format!(
        "{:<15} {:<9} {:>6} {:>10} {:>8} {:>12}",
        "syscall",
        "handler",
        "weight",
        "calls",
        "errors",
        "mean-cycles"
    ));
    for entry in &TABLE {
        let counters = handler_counters(entry.syscall);
        for (handler, counters) in entry.handlers.iter().zip(counters.iter()) {
            lines.push(alloc::format!(
                "{:<15} {:<9} {:>6} {:>10} {:>8} {:>12}",
                entry.syscall.name(),
                handler.name,
                handler.weight,
                counters.calls,
                counters.errors,
                counters.cycles.checked_div(counters.calls).unwrap_or(0)
            ));
        }
    }
    let (unknown, denied) = refusals();
    lines.push(alloc::format!(
        "unknown numbers {unknown}, capability denials {denied}"
    ));
    lines
}
