//! The syscall table: capability check, dispatch, per-syscall statistics.
//!
//! The ABI (numbers, arguments, error codes) is defined in the `agent-abi`
//! crate, shared with agent programs. Every entry of [`TABLE`] has one
//! handler; [`dispatch`] checks the caller's capability, runs the handler and
//! times it with the TSC, counting calls, errors and cycles per syscall.
//! The handlers of the accelerator entries pass each call on to the adaptive
//! accelerator table (`accel::dispatch`), which picks one of several routes
//! by learned latency: [`table_lines`] and the `stats` syscall show those
//! routes, their calls, shares and learned weights from that table itself.
//!
//! Nothing a user agent passes can take the kernel down: an unknown number
//! returns `NoSuchSyscall`, a missing capability `PermissionDenied`, and
//! every pointer goes through `memory::user` before the kernel touches it.

mod handlers;

use alloc::{borrow::ToOwned, format, string::String, vec, vec::Vec};

use agent_abi::{Error, SYSCALL_COUNT, Syscall, SyscallService, SyscallStats, SyscallTableStats};
use spin::Mutex;

use crate::{
    accel::Operation,
    arch::cpu::{self, without_interrupts},
};

/// Arguments of a syscall, in ABI order.
pub type Arguments = [u64; 6];
/// What a handler returns: a non-negative value or an error.
pub type Outcome = Result<u64, Error>;
/// A syscall's implementation.
pub type Handler = fn(&Arguments) -> Outcome;

/// How an entry's calls are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The handler serves every call itself.
    Direct,
    /// The handler passes every call to the adaptive accelerator table,
    /// whose entries for these operations pick the route.
    AdaptiveTable(&'static [Operation]),
}

/// One syscall's entry.
pub struct Entry {
    /// The syscall.
    pub syscall: Syscall,
    /// Its implementation.
    pub handler: Handler,
    /// How its calls are served.
    pub service: Service,
}

/// Returns the entry of a syscall its handler serves itself.
const fn direct(syscall: Syscall, handler: Handler) -> Entry {
    Entry {
        syscall,
        handler,
        service: Service::Direct,
    }
}

/// Returns the entry of a syscall the adaptive table serves over `operations`.
const fn adaptive(syscall: Syscall, handler: Handler, operations: &'static [Operation]) -> Entry {
    Entry {
        syscall,
        handler,
        service: Service::AdaptiveTable(operations),
    }
}

/// The table, indexed by syscall number.
pub static TABLE: [Entry; SYSCALL_COUNT as usize] = [
    direct(Syscall::Exit, handlers::exit),
    direct(Syscall::Yield, handlers::yield_now),
    direct(Syscall::Sleep, handlers::sleep),
    direct(Syscall::Clock, handlers::clock),
    direct(Syscall::Log, handlers::log),
    direct(Syscall::Spawn, handlers::spawn),
    direct(Syscall::Wait, handlers::wait),
    direct(Syscall::Send, handlers::send),
    direct(Syscall::Receive, handlers::receive),
    direct(Syscall::Call, handlers::call),
    direct(Syscall::Reply, handlers::reply),
    direct(Syscall::Map, handlers::map),
    direct(Syscall::Unmap, handlers::unmap),
    direct(Syscall::Stats, handlers::stats),
    direct(Syscall::Null, handlers::null),
    adaptive(
        Syscall::AccelFactorial,
        handlers::accel_factorial,
        &[Operation::Factorial],
    ),
    adaptive(
        Syscall::AccelCopy,
        handlers::accel_copy,
        &[Operation::CopyToDevice, Operation::CopyFromDevice],
    ),
    direct(Syscall::ReadFile, handlers::read_file),
    direct(Syscall::Objective, handlers::objective),
    adaptive(
        Syscall::Tensor,
        handlers::tensor,
        &[Operation::MatmulF32, Operation::MatmulI8],
    ),
];

/// Counters of one syscall.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyscallCounters {
    /// Calls served.
    pub calls: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// TSC cycles spent, summed.
    pub cycles: u64,
}

impl SyscallCounters {
    /// Returns the mean cycles per call (0 before the first call).
    pub fn mean_cycles(&self) -> u64 {
        self.cycles.checked_div(self.calls).unwrap_or(0)
    }
}

struct Counters {
    syscalls: [SyscallCounters; SYSCALL_COUNT as usize],
    unknown_numbers: u64,
    denied: u64,
}

static COUNTERS: Mutex<Counters> = Mutex::new(Counters {
    syscalls: [SyscallCounters {
        calls: 0,
        errors: 0,
        cycles: 0,
    }; SYSCALL_COUNT as usize],
    unknown_numbers: 0,
    denied: 0,
});

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
    let start = cpu::read_timestamp_counter();
    let outcome = (TABLE[syscall as usize].handler)(&arguments);
    let cycles = cpu::read_timestamp_counter().wrapping_sub(start);
    without_interrupts(|| {
        let counters = &mut COUNTERS.lock().syscalls[syscall as usize];
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

/// Returns the counters of `syscall`.
pub fn counters(syscall: Syscall) -> SyscallCounters {
    without_interrupts(|| COUNTERS.lock().syscalls[syscall as usize])
}

/// Returns (unknown syscall numbers, capability denials) seen.
pub fn refusals() -> (u64, u64) {
    without_interrupts(|| {
        let counters = COUNTERS.lock();
        (counters.unknown_numbers, counters.denied)
    })
}

/// Returns the statistics of every syscall, for the `stats` syscall.
pub fn table_stats() -> SyscallTableStats {
    let mut table = SyscallTableStats::default();
    for entry in &TABLE {
        let counters = counters(entry.syscall);
        table.set(
            entry.syscall,
            SyscallStats {
                calls: counters.calls,
                errors: counters.errors,
                mean_cycles: counters.mean_cycles(),
                service: match entry.service {
                    Service::Direct => SyscallService::Direct,
                    Service::AdaptiveTable(_) => SyscallService::AdaptiveTable,
                },
            },
        );
    }
    table
}

/// Returns printable lines describing the table: per syscall its service,
/// calls, errors and mean cycles; below each accelerator entry the adaptive
/// Returns the table in less height, for the dashboard's panel: the
/// directly served syscalls two to a line (calls, errors, mean cycles),
/// then each adaptive entry with the table's routes, as [`table_lines`].
pub fn compact_lines() -> Vec<String> {
    let column = |syscall: Syscall| {
        let counters = counters(syscall);
        format!(
            "{:<15} {:>8} {:>5} {:>10}",
            syscall.name(),
            counters.calls,
            counters.errors,
            counters.mean_cycles()
        )
    };
    let heading = format!(
        "{:<15} {:>8} {:>5} {:>10}",
        "syscall", "calls", "errs", "cycles"
    );
    let mut lines = vec![format!("{heading}   {heading}")];
    let direct: Vec<Syscall> = TABLE
        .iter()
        .filter(|entry| entry.service == Service::Direct)
        .map(|entry| entry.syscall)
        .collect();
    for pair in direct.chunks(2) {
        let right = pair
            .get(1)
            .map(|&syscall| column(syscall))
            .unwrap_or_default();
        lines.push(
            format!("{}   {right}", column(pair[0]))
                .trim_end()
                .to_owned(),
        );
    }
    for entry in &TABLE {
        if let Service::AdaptiveTable(operations) = entry.service {
            let counters = counters(entry.syscall);
            lines.push(format!(
                "{} (adaptive): {} calls, {} errors, mean {} cycles",
                entry.syscall.name(),
                counters.calls,
                counters.errors,
                counters.mean_cycles()
            ));
            for operation in operations {
                lines.extend(crate::accel::dispatch::operation_lines(*operation));
            }
        }
    }
    let (unknown, denied) = refusals();
    lines.push(format!(
        "unknown numbers {unknown}, capability denials {denied}"
    ));
    lines
}

/// table's routes for it (calls, shares, learned weights).
pub fn table_lines() -> Vec<String> {
    let mut lines = Vec::new();
    lines.push(format!(
        "{:<15} {:<8} {:>10} {:>8} {:>12}",
        "syscall", "service", "calls", "errors", "mean-cycles"
    ));
    for entry in &TABLE {
        let counters = counters(entry.syscall);
        let service = match entry.service {
            Service::Direct => "direct",
            Service::AdaptiveTable(_) => "adaptive",
        };
        lines.push(format!(
            "{:<15} {:<8} {:>10} {:>8} {:>12}",
            entry.syscall.name(),
            service,
            counters.calls,
            counters.errors,
            counters.mean_cycles()
        ));
        if let Service::AdaptiveTable(operations) = entry.service {
            for operation in operations {
                lines.extend(crate::accel::dispatch::operation_lines(*operation));
            }
        }
    }
    let (unknown, denied) = refusals();
    lines.push(format!(
        "unknown numbers {unknown}, capability denials {denied}"
    ));
    lines
}
