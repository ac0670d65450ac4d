//! The `stats` syscall's answers: one typed value per kind, encoded as `u64` words.
//!
//! The kernel answers `stats` with little-endian `u64` words. Every kind has
//! a type here that the kernel encodes with [`StatsReply::to_words`] and an
//! agent decodes with [`StatsReply::from_words`], so neither side reads or
//! writes words by index. Decoding checks the number of words and every
//! value a field cannot take, and returns a [`StatsError`]; it never panics.
//!
//! | kind | type | words |
//! |---|---|---|
//! | 0 | [`AgentStats`] | [`AgentStats::WORDS`] |
//! | 1 | [`SchedulerStats`] | [`SchedulerStats::WORDS`] |
//! | 2 | [`SyscallTableStats`]: one [`SyscallStats`] per syscall number | [`SyscallTableStats::WORDS`] |
//! | 3 | [`AcceleratorTableStats`]: one [`AcceleratorHandlerStats`] per handler | [`AcceleratorHandlerStats::WORDS`] per handler |
//!
//! No answer is longer than [`MAX_STATS_WORDS`].

use crate::{SYSCALL_COUNT, Syscall};

/// Size in bytes of one word of a `stats` answer.
pub const STATS_WORD_BYTES: u64 = 8;

/// 1.0 in the Q16.16 fixed-point format of the exploration rate and the
/// learned weights (the raw integer is the value times 2^16).
pub const FIXED_POINT_ONE: u64 = 1 << 16;

/// Most handlers the adaptive accelerator table reports: three operations
/// of at most sixteen handlers each.
pub const MAX_ACCELERATOR_HANDLERS: usize = 48;

/// Most words one `stats` answer holds (the longest is a full accelerator table).
pub const MAX_STATS_WORDS: usize = MAX_ACCELERATOR_HANDLERS * AcceleratorHandlerStats::WORDS;

const _: () = assert!(SyscallTableStats::WORDS <= MAX_STATS_WORDS);

/// What `stats` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum StatsKind {
    /// The calling agent: [`AgentStats`].
    Agent = 0,
    /// The scheduler: [`SchedulerStats`].
    Scheduler = 1,
    /// The syscall table: [`SyscallTableStats`].
    Syscalls = 2,
    /// The adaptive accelerator table: [`AcceleratorTableStats`].
    Accelerators = 3,
}

impl StatsKind {
    /// Returns the kind with `number`, if there is one.
    pub fn from_number(number: u64) -> Option<Self> {
        match number {
            0 => Some(Self::Agent),
            1 => Some(Self::Scheduler),
            2 => Some(Self::Syscalls),
            3 => Some(Self::Accelerators),
            _ => None,
        }
    }
}

/// Why words could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsError {
    /// The answer of this kind cannot have this many words.
    WrongLength {
        /// Words given.
        found: usize,
    },
    /// The buffer to encode into is shorter than the answer.
    BufferTooSmall {
        /// Words the answer needs.
        needed: usize,
    },
    /// A word holds a value its field cannot take.
    InvalidValue {
        /// The field's name.
        field: &'static str,
    },
    /// The table already holds [`MAX_ACCELERATOR_HANDLERS`] records.
    Full,
}

/// A `stats` answer: the value of one [`StatsKind`] and its words.
pub trait StatsReply: Sized {
    /// The kind that answers with this type.
    const KIND: StatsKind;

    /// Returns the number of words the answer takes.
    fn word_count(&self) -> usize;

    /// Writes the answer into the start of `words`; returns the number of
    /// words written ([`Self::word_count`]).
    fn to_words(&self, words: &mut [u64]) -> Result<usize, StatsError>;

    /// Returns the answer that `words` (exactly the words of the answer)
    /// hold.
    fn from_words(words: &[u64]) -> Result<Self, StatsError>;
}

/// Returns the first `needed` words of `words` to encode into.
fn output(words: &mut [u64], needed: usize) -> Result<&mut [u64], StatsError> {
    words
        .get_mut(..needed)
        .ok_or(StatsError::BufferTooSmall { needed })
}

/// Returns `words` as an array of exactly `N` words.
fn exact<const N: usize>(words: &[u64]) -> Result<[u64; N], StatsError> {
    words
        .try_into()
        .map_err(|_| StatsError::WrongLength { found: words.len() })
}

/// Returns `Ok(())` when `valid`, else the error naming `field`.
fn require(valid: bool, field: &'static str) -> Result<(), StatsError> {
    if valid {
        Ok(())
    } else {
        Err(StatsError::InvalidValue { field })
    }
}

/// The calling agent's statistics (`stats` kind 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentStats {
    /// The agent's id.
    pub id: u64,
    /// CPU time used, microseconds.
    pub cpu_time_us: u64,
    /// Time spent runnable but waiting, microseconds.
    pub wait_time_us: u64,
    /// Times dispatched.
    pub runs: u64,
    /// Syscalls made.
    pub syscalls: u64,
    /// Syscalls that returned an error (at most [`Self::syscalls`]).
    pub syscall_errors: u64,
    /// User pages mapped.
    pub user_pages: u64,
    /// 99th percentile response time, microseconds.
    pub p99_response_us: u64,
}

impl AgentStats {
    /// Words of the answer.
    pub const WORDS: usize = 8;
}

impl StatsReply for AgentStats {
    const KIND: StatsKind = StatsKind::Agent;

    fn word_count(&self) -> usize {
        Self::WORDS
    }

    fn to_words(&self, words: &mut [u64]) -> Result<usize, StatsError> {
        output(words, Self::WORDS)?.copy_from_slice(&[
            self.id,
            self.cpu_time_us,
            self.wait_time_us,
            self.runs,
            self.syscalls,
            self.syscall_errors,
            self.user_pages,
            self.p99_response_us,
        ]);
        Ok(Self::WORDS)
    }

    fn from_words(words: &[u64]) -> Result<Self, StatsError> {
        let [
            id,
            cpu_time_us,
            wait_time_us,
            runs,
            syscalls,
            syscall_errors,
            user_pages,
            p99_response_us,
        ] = exact(words)?;
        require(syscall_errors <= syscalls, "syscall_errors")?;
        Ok(Self {
            id,
            cpu_time_us,
            wait_time_us,
            runs,
            syscalls,
            syscall_errors,
            user_pages,
            p99_response_us,
        })
    }
}

/// Scheduler statistics (`stats` kind 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedulerStats {
    /// Decisions made.
    pub decisions: u64,
    /// Context switches.
    pub switches: u64,
    /// Agents alive.
    pub live_agents: u64,
    /// Watchdog fallbacks.
    pub fallbacks: u64,
    /// Exploration rate, Q16.16, at most [`FIXED_POINT_ONE`].
    pub exploration_rate: u64,
    /// Median cycles per decision.
    pub decision_cycles_p50: u64,
    /// 99th percentile cycles per decision (at least the median).
    pub decision_cycles_p99: u64,
    /// Uptime, microseconds.
    pub uptime_us: u64,
}

impl SchedulerStats {
    /// Words of the answer.
    pub const WORDS: usize = 8;
}

impl StatsReply for SchedulerStats {
    const KIND: StatsKind = StatsKind::Scheduler;

    fn word_count(&self) -> usize {
        Self::WORDS
    }

    fn to_words(&self, words: &mut [u64]) -> Result<usize, StatsError> {
        output(words, Self::WORDS)?.copy_from_slice(&[
            self.decisions,
            self.switches,
            self.live_agents,
            self.fallbacks,
            self.exploration_rate,
            self.decision_cycles_p50,
            self.decision_cycles_p99,
            self.uptime_us,
        ]);
        Ok(Self::WORDS)
    }

    fn from_words(words: &[u64]) -> Result<Self, StatsError> {
        let [
            decisions,
            switches,
            live_agents,
            fallbacks,
            exploration_rate,
            decision_cycles_p50,
            decision_cycles_p99,
            uptime_us,
        ] = exact(words)?;
        require(exploration_rate <= FIXED_POINT_ONE, "exploration_rate")?;
        require(
            decision_cycles_p50 <= decision_cycles_p99,
            "decision_cycles_p99",
        )?;
        Ok(Self {
            decisions,
            switches,
            live_agents,
            fallbacks,
            exploration_rate,
            decision_cycles_p50,
            decision_cycles_p99,
            uptime_us,
        })
    }
}

/// How the syscall table serves an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u64)]
pub enum SyscallService {
    /// One handler serves every call.
    #[default]
    Direct = 0,
    /// The adaptive accelerator table picks the handler per call (its
    /// handlers are `stats` kind 3).
    AdaptiveTable = 1,
}

impl SyscallService {
    /// Returns the service with `number`, if there is one.
    pub fn from_number(number: u64) -> Option<Self> {
        match number {
            0 => Some(Self::Direct),
            1 => Some(Self::AdaptiveTable),
            _ => None,
        }
    }
}

/// One syscall's statistics: a record of [`SyscallTableStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyscallStats {
    /// Calls made.
    pub calls: u64,
    /// Calls that returned an error (at most [`Self::calls`]).
    pub errors: u64,
    /// Mean cycles per call (0 before the first call).
    pub mean_cycles: u64,
    /// How the entry is served.
    pub service: SyscallService,
}

impl SyscallStats {
    /// Words of one record.
    pub const WORDS: usize = 4;

    /// Returns the record's words.
    pub const fn to_record(&self) -> [u64; Self::WORDS] {
        [
            self.calls,
            self.errors,
            self.mean_cycles,
            self.service as u64,
        ]
    }

    /// Returns the record `words` hold.
    pub fn from_record(words: [u64; Self::WORDS]) -> Result<Self, StatsError> {
        let [calls, errors, mean_cycles, service] = words;
        require(errors <= calls, "errors")?;
        require(calls > 0 || mean_cycles == 0, "mean_cycles")?;
        let service = SyscallService::from_number(service)
            .ok_or(StatsError::InvalidValue { field: "service" })?;
        Ok(Self {
            calls,
            errors,
            mean_cycles,
            service,
        })
    }
}

/// The syscall table's statistics (`stats` kind 2): one record per
/// syscall number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyscallTableStats {
    entries: [SyscallStats; SYSCALL_COUNT as usize],
}

impl SyscallTableStats {
    /// Words of the answer.
    pub const WORDS: usize = SyscallStats::WORDS * SYSCALL_COUNT as usize;

    /// Returns the statistics of `syscall`.
    pub const fn get(&self, syscall: Syscall) -> SyscallStats {
        self.entries[syscall as usize]
    }

    /// Sets the statistics of `syscall`.
    pub const fn set(&mut self, syscall: Syscall, stats: SyscallStats) {
        self.entries[syscall as usize] = stats;
    }
}

impl StatsReply for SyscallTableStats {
    const KIND: StatsKind = StatsKind::Syscalls;

    fn word_count(&self) -> usize {
        Self::WORDS
    }

    fn to_words(&self, words: &mut [u64]) -> Result<usize, StatsError> {
        let (records, _) = output(words, Self::WORDS)?.as_chunks_mut::<{ SyscallStats::WORDS }>();
        for (record, entry) in records.iter_mut().zip(self.entries.iter()) {
            *record = entry.to_record();
        }
        Ok(Self::WORDS)
    }

    fn from_words(words: &[u64]) -> Result<Self, StatsError> {
        if words.len() != Self::WORDS {
            return Err(StatsError::WrongLength { found: words.len() });
        }
        let mut table = Self::default();
        let (records, _) = words.as_chunks::<{ SyscallStats::WORDS }>();
        for (entry, record) in table.entries.iter_mut().zip(records) {
            *entry = SyscallStats::from_record(*record)?;
        }
        Ok(table)
    }
}

/// An operation of the adaptive accelerator table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u64)]
pub enum AcceleratorOperation {
    /// A factorial (`accel_factorial`).
    #[default]
    Factorial = 0,
    /// The copy into a device buffer (first half of `accel_copy`).
    CopyToDevice = 1,
    /// The copy back from a device buffer (second half of `accel_copy`).
    CopyFromDevice = 2,
    /// An `f32` matrix product (`tensor` with [`crate::TensorOp::MatmulF32`]).
    MatmulF32 = 3,
    /// An `i8` matrix product with `i32` results (`tensor` with [`crate::TensorOp::MatmulI8`]).
    MatmulI8 = 4,
}

impl AcceleratorOperation {
    /// Returns the operation with `number`, if there is one.
    pub fn from_number(number: u64) -> Option<Self> {
        match number {
            0 => Some(Self::Factorial),
            1 => Some(Self::CopyToDevice),
            2 => Some(Self::CopyFromDevice),
            3 => Some(Self::MatmulF32),
            4 => Some(Self::MatmulI8),
            _ => None,
        }
    }
}

/// How a handler of the adaptive accelerator table serves a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AcceleratorRoute {
    /// On the CPU (factorial) or in a kernel-side buffer (copies).
    #[default]
    Cpu,
    /// On this device, completion by polling.
    Poll(u8),
    /// On this device, completion by interrupt.
    Interrupt(u8),
}

impl AcceleratorRoute {
    /// Wire number of [`Self::Cpu`].
    const CPU: u64 = 0;
    /// Wire number of [`Self::Poll`].
    const POLL: u64 = 1;
    /// Wire number of [`Self::Interrupt`].
    const INTERRUPT: u64 = 2;

    /// Returns the route's two words: its kind and its device (0 for the CPU).
    const fn to_pair(self) -> [u64; 2] {
        match self {
            Self::Cpu => [Self::CPU, 0],
            Self::Poll(device) => [Self::POLL, device as u64],
            Self::Interrupt(device) => [Self::INTERRUPT, device as u64],
        }
    }

    /// Returns the route of kind `kind` on `device`.
    fn from_pair(kind: u64, device: u64) -> Result<Self, StatsError> {
        let invalid_device = StatsError::InvalidValue { field: "device" };
        match kind {
            Self::CPU if device == 0 => Ok(Self::Cpu),
            Self::CPU => Err(invalid_device),
            Self::POLL => Ok(Self::Poll(
                u8::try_from(device).map_err(|_| invalid_device)?,
            )),
            Self::INTERRUPT => Ok(Self::Interrupt(
                u8::try_from(device).map_err(|_| invalid_device)?,
            )),
            _ => Err(StatsError::InvalidValue { field: "route" }),
        }
    }
}

/// One handler of the adaptive accelerator table: a record of
/// [`AcceleratorTableStats`]. The weights are the learned ones: the
/// table's linear latency model, `K0 + K1 * KiB + K2 * work units + K3 *
/// queued jobs` µs (a work unit is 2^16 multiply-adds; 0 for operations
/// without separate work).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AcceleratorHandlerStats {
    /// The operation the handler serves.
    pub operation: AcceleratorOperation,
    /// How it serves it.
    pub route: AcceleratorRoute,
    /// Calls served.
    pub calls: u64,
    /// Mean observed latency, µs (0 before the first call).
    pub mean_latency_us: u64,
    /// Learned weight K0 (constant term, µs), Q16.16.
    pub weight_constant: i64,
    /// Learned weight K1 (µs per KiB of payload), Q16.16.
    pub weight_per_kib: i64,
    /// Learned weight K2 (µs per work unit), Q16.16.
    pub weight_per_work: i64,
    /// Learned weight K3 (µs per queued job), Q16.16.
    pub weight_per_job: i64,
}

impl AcceleratorHandlerStats {
    /// Words of one record.
    pub const WORDS: usize = 9;

    /// Returns the record's words (weights as two's complement).
    pub const fn to_record(&self) -> [u64; Self::WORDS] {
        let [route, device] = self.route.to_pair();
        [
            self.operation as u64,
            route,
            device,
            self.calls,
            self.mean_latency_us,
            self.weight_constant as u64,
            self.weight_per_kib as u64,
            self.weight_per_work as u64,
            self.weight_per_job as u64,
        ]
    }

    /// Returns the record `words` hold.
    pub fn from_record(words: [u64; Self::WORDS]) -> Result<Self, StatsError> {
        let [
            operation,
            route,
            device,
            calls,
            mean_latency_us,
            weight_constant,
            weight_per_kib,
            weight_per_work,
            weight_per_job,
        ] = words;
        let operation = AcceleratorOperation::from_number(operation)
            .ok_or(StatsError::InvalidValue { field: "operation" })?;
        let route = AcceleratorRoute::from_pair(route, device)?;
        require(calls > 0 || mean_latency_us == 0, "mean_latency_us")?;
        Ok(Self {
            operation,
            route,
            calls,
            mean_latency_us,
            weight_constant: weight_constant as i64,
            weight_per_kib: weight_per_kib as i64,
            weight_per_work: weight_per_work as i64,
            weight_per_job: weight_per_job as i64,
        })
    }
}

/// The adaptive accelerator table's statistics (`stats` kind 3): one
/// record per handler, at most [`MAX_ACCELERATOR_HANDLERS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceleratorTableStats {
    records: [AcceleratorHandlerStats; MAX_ACCELERATOR_HANDLERS],
    count: usize,
}

impl AcceleratorTableStats {
    /// Returns an empty table.
    pub const fn new() -> Self {
        Self {
            records: [AcceleratorHandlerStats {
                operation: AcceleratorOperation::Factorial,
                route: AcceleratorRoute::Cpu,
                calls: 0,
                mean_latency_us: 0,
                weight_constant: 0,
                weight_per_kib: 0,
                weight_per_work: 0,
                weight_per_job: 0,
            }; MAX_ACCELERATOR_HANDLERS],
            count: 0,
        }
    }

    /// Appends `record`; fails when the table is full.
    pub fn push(&mut self, record: AcceleratorHandlerStats) -> Result<(), StatsError> {
        let slot = self.records.get_mut(self.count).ok_or(StatsError::Full)?;
        *slot = record;
        self.count += 1;
        Ok(())
    }

    /// Returns the records, in the kernel's order (by operation, then handler).
    pub fn handlers(&self) -> &[AcceleratorHandlerStats] {
        self.records.get(..self.count).unwrap_or_default()
    }
}

impl Default for AcceleratorTableStats {
    fn default() -> Self {
        Self::new()
    }
}

impl StatsReply for AcceleratorTableStats {
    const KIND: StatsKind = StatsKind::Accelerators;

    fn word_count(&self) -> usize {
        self.handlers().len() * AcceleratorHandlerStats::WORDS
    }

    fn to_words(&self, words: &mut [u64]) -> Result<usize, StatsError> {
        let needed = self.word_count();
        let (records, _) =
            output(words, needed)?.as_chunks_mut::<{ AcceleratorHandlerStats::WORDS }>();
        for (words, record) in records.iter_mut().zip(self.handlers()) {
            *words = record.to_record();
        }
        Ok(needed)
    }

    fn from_words(words: &[u64]) -> Result<Self, StatsError> {
        let (records, rest) = words.as_chunks::<{ AcceleratorHandlerStats::WORDS }>();
        if !rest.is_empty() || words.len() > MAX_STATS_WORDS {
            return Err(StatsError::WrongLength { found: words.len() });
        }
        let mut table = Self::new();
        for record in records {
            table.push(AcceleratorHandlerStats::from_record(*record)?)?;
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns `reply` encoded and decoded again, checking the word count.
    fn round_trip<T: StatsReply>(reply: &T) -> T {
        let mut words = [0u64; MAX_STATS_WORDS];
        let written = reply.to_words(&mut words).unwrap();
        assert_eq!(written, reply.word_count());
        T::from_words(&words[..written]).unwrap()
    }

    /// Checks that every shorter output buffer, and every shorter prefix of
    /// `reply`'s words that is not a whole answer (`whole`), is refused.
    fn refuses_short<T: StatsReply + core::fmt::Debug>(reply: &T, whole: fn(usize) -> bool) {
        let mut words = [0u64; MAX_STATS_WORDS];
        let written = reply.to_words(&mut words).unwrap();
        for length in 0..written {
            assert!(
                whole(length)
                    || matches!(
                        T::from_words(&words[..length]),
                        Err(StatsError::WrongLength { .. })
                    ),
                "{length} words accepted"
            );
            assert_eq!(
                reply.to_words(&mut [0; MAX_STATS_WORDS][..length]),
                Err(StatsError::BufferTooSmall { needed: written })
            );
        }
    }

    fn agent() -> AgentStats {
        AgentStats {
            id: 7,
            cpu_time_us: 1_000,
            wait_time_us: 250,
            runs: 12,
            syscalls: 40,
            syscall_errors: 3,
            user_pages: 9,
            p99_response_us: 880,
        }
    }

    fn scheduler() -> SchedulerStats {
        SchedulerStats {
            decisions: 5_000,
            switches: 4_000,
            live_agents: 6,
            fallbacks: 1,
            exploration_rate: FIXED_POINT_ONE / 10,
            decision_cycles_p50: 300,
            decision_cycles_p99: 2_100,
            uptime_us: 9_000_000,
        }
    }

    fn syscall_table() -> SyscallTableStats {
        let mut table = SyscallTableStats::default();
        for (number, syscall) in Syscall::ALL.iter().enumerate() {
            let calls = number as u64 * 10;
            table.set(
                *syscall,
                SyscallStats {
                    calls,
                    errors: calls / 3,
                    mean_cycles: if calls == 0 { 0 } else { 1_000 + calls },
                    service: if matches!(syscall, Syscall::AccelFactorial | Syscall::AccelCopy) {
                        SyscallService::AdaptiveTable
                    } else {
                        SyscallService::Direct
                    },
                },
            );
        }
        table
    }

    fn accelerator_table(handlers: usize) -> AcceleratorTableStats {
        let operations = [
            AcceleratorOperation::Factorial,
            AcceleratorOperation::CopyToDevice,
            AcceleratorOperation::CopyFromDevice,
            AcceleratorOperation::MatmulF32,
            AcceleratorOperation::MatmulI8,
        ];
        let routes = [
            AcceleratorRoute::Cpu,
            AcceleratorRoute::Poll(0),
            AcceleratorRoute::Interrupt(0),
            AcceleratorRoute::Poll(u8::MAX),
            AcceleratorRoute::Interrupt(3),
        ];
        let mut table = AcceleratorTableStats::new();
        for index in 0..handlers {
            let calls = index as u64;
            table
                .push(AcceleratorHandlerStats {
                    operation: operations[index % operations.len()],
                    route: routes[index % routes.len()],
                    calls,
                    mean_latency_us: calls * 17,
                    weight_constant: -(index as i64) << 16,
                    weight_per_kib: i64::MIN + index as i64,
                    weight_per_work: index as i64 * 3,
                    weight_per_job: i64::MAX - index as i64,
                })
                .unwrap();
        }
        table
    }

    #[test]
    fn every_kind_round_trips() {
        assert_eq!(round_trip(&agent()), agent());
        assert_eq!(round_trip(&AgentStats::default()), AgentStats::default());
        assert_eq!(round_trip(&scheduler()), scheduler());
        assert_eq!(round_trip(&syscall_table()), syscall_table());
        for handlers in [0, 1, 9, MAX_ACCELERATOR_HANDLERS] {
            let table = accelerator_table(handlers);
            assert_eq!(round_trip(&table), table);
            assert_eq!(round_trip(&table).handlers().len(), handlers);
        }
    }

    #[test]
    fn kinds_match_the_table() {
        assert_eq!(AgentStats::KIND, StatsKind::Agent);
        assert_eq!(SchedulerStats::KIND, StatsKind::Scheduler);
        assert_eq!(SyscallTableStats::KIND, StatsKind::Syscalls);
        assert_eq!(AcceleratorTableStats::KIND, StatsKind::Accelerators);
        for kind in [
            StatsKind::Agent,
            StatsKind::Scheduler,
            StatsKind::Syscalls,
            StatsKind::Accelerators,
        ] {
            assert_eq!(StatsKind::from_number(kind as u64), Some(kind));
        }
        assert_eq!(StatsKind::from_number(4), None);
        assert_eq!(StatsKind::from_number(u64::MAX), None);
    }

    #[test]
    fn words_are_in_the_documented_order() {
        let mut words = [0u64; AgentStats::WORDS];
        agent().to_words(&mut words).unwrap();
        assert_eq!(words, [7, 1_000, 250, 12, 40, 3, 9, 880]);
        let record = AcceleratorHandlerStats {
            operation: AcceleratorOperation::CopyFromDevice,
            route: AcceleratorRoute::Interrupt(2),
            calls: 5,
            mean_latency_us: 100,
            weight_constant: -1,
            weight_per_kib: 2,
            weight_per_work: 4,
            weight_per_job: 3,
        };
        assert_eq!(record.to_record(), [2, 2, 2, 5, 100, u64::MAX, 2, 4, 3]);
        let table = syscall_table();
        let mut words = [0u64; SyscallTableStats::WORDS];
        table.to_words(&mut words).unwrap();
        let map = Syscall::Map as usize * SyscallStats::WORDS;
        assert_eq!(words[map], table.get(Syscall::Map).calls);
        assert_eq!(
            words[Syscall::AccelCopy as usize * SyscallStats::WORDS + 3],
            SyscallService::AdaptiveTable as u64
        );
    }

    #[test]
    fn short_input_and_short_buffers_are_refused() {
        let never = |_| false;
        refuses_short(&agent(), never);
        refuses_short(&scheduler(), never);
        refuses_short(&syscall_table(), never);
        // Fewer whole records are a smaller table.
        refuses_short(&accelerator_table(3), |length| {
            length % AcceleratorHandlerStats::WORDS == 0
        });
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let words = [0u64; MAX_STATS_WORDS + AcceleratorHandlerStats::WORDS];
        assert!(AgentStats::from_words(&words[..AgentStats::WORDS + 1]).is_err());
        assert!(SchedulerStats::from_words(&words[..SchedulerStats::WORDS + 1]).is_err());
        assert!(SyscallTableStats::from_words(&words[..SyscallTableStats::WORDS + 4]).is_err());
        for length in [
            1,
            8,
            10,
            17,
            MAX_STATS_WORDS + AcceleratorHandlerStats::WORDS,
        ] {
            assert_eq!(
                AcceleratorTableStats::from_words(&words[..length]),
                Err(StatsError::WrongLength { found: length })
            );
        }
        assert_eq!(
            AcceleratorTableStats::from_words(&[]),
            Ok(AcceleratorTableStats::new())
        );
    }

    /// Returns the error for an invalid `field`.
    fn invalid<T>(field: &'static str) -> Result<T, StatsError> {
        Err(StatsError::InvalidValue { field })
    }

    #[test]
    fn garbage_values_are_refused() {
        let mut words = [0u64; AgentStats::WORDS];
        agent().to_words(&mut words).unwrap();
        words[5] = words[4] + 1;
        assert_eq!(AgentStats::from_words(&words), invalid("syscall_errors"));

        let mut words = [0u64; SchedulerStats::WORDS];
        scheduler().to_words(&mut words).unwrap();
        words[4] = FIXED_POINT_ONE + 1;
        assert_eq!(
            SchedulerStats::from_words(&words),
            invalid("exploration_rate")
        );
        scheduler().to_words(&mut words).unwrap();
        words[5] = words[6] + 1;
        assert_eq!(
            SchedulerStats::from_words(&words),
            invalid("decision_cycles_p99")
        );

        let mut words = [0u64; SyscallTableStats::WORDS];
        syscall_table().to_words(&mut words).unwrap();
        words[3] = 2;
        assert_eq!(SyscallTableStats::from_words(&words), invalid("service"));
        syscall_table().to_words(&mut words).unwrap();
        words[4 + 1] = words[4] + 1;
        assert_eq!(SyscallTableStats::from_words(&words), invalid("errors"));
        syscall_table().to_words(&mut words).unwrap();
        words[2] = 5;
        assert_eq!(
            SyscallTableStats::from_words(&words),
            invalid("mean_cycles")
        );

        let good = accelerator_table(1).handlers()[0].to_record();
        let with = |index: usize, value: u64| {
            let mut record = good;
            record[index] = value;
            AcceleratorHandlerStats::from_record(record)
        };
        assert_eq!(with(0, 5), invalid("operation"));
        assert_eq!(with(1, 3), invalid("route"));
        assert_eq!(with(2, 1), invalid("device"));
        assert_eq!(with(4, 1), invalid("mean_latency_us"));
        let mut record = good;
        record[1] = 1;
        record[2] = 256;
        assert_eq!(
            AcceleratorHandlerStats::from_record(record),
            invalid("device")
        );
        record[2] = 255;
        assert!(AcceleratorHandlerStats::from_record(record).is_ok());
    }

    #[test]
    fn random_words_never_panic() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut words = [0u64; MAX_STATS_WORDS + 1];
        for round in 0..2_000 {
            for word in &mut words {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Small values too, so some records pass the checks.
                *word = if round % 2 == 0 { state % 4 } else { state };
            }
            let length = (state % words.len() as u64) as usize;
            let words = &words[..length];
            let _ = AgentStats::from_words(words);
            let _ = SchedulerStats::from_words(words);
            let _ = SyscallTableStats::from_words(words);
            if let Ok(table) = AcceleratorTableStats::from_words(words) {
                assert_eq!(
                    table.handlers().len() * AcceleratorHandlerStats::WORDS,
                    length
                );
            }
        }
    }

    #[test]
    fn a_full_accelerator_table_refuses_more() {
        let mut table = accelerator_table(MAX_ACCELERATOR_HANDLERS);
        assert_eq!(
            table.push(AcceleratorHandlerStats::default()),
            Err(StatsError::Full)
        );
        assert_eq!(table.handlers().len(), MAX_ACCELERATOR_HANDLERS);
    }
}
