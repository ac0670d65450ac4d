//! The syscall ABI between the kernel and agent programs.
//!
//! # Calling convention
//! `syscall` with the number in `rax` and up to six arguments in `rdi`, `rsi`,
//! `rdx`, `r10`, `r8`, `r9` (the Linux x86_64 convention). The result comes
//! back in `rax` as an `i64`: zero or positive on success, one of the negative
//! [`Error`] codes on failure. `rcx` and `r11` are clobbered; every other
//! register is preserved.
//!
//! # Calls
//! | no. | name | arguments | returns |
//! |---|---|---|---|
//! | 0 | exit | status | never returns |
//! | 1 | yield | - | 0 |
//! | 2 | sleep | microseconds (at most [`MAX_SLEEP_US`]) | 0 |
//! | 3 | clock | - | microseconds since boot |
//! | 4 | log | text pointer, length (at most [`MAX_LOG_BYTES`]); at most 50 lines a second, then `Exhausted` | bytes logged |
//! | 5 | spawn | name pointer, name length, capability-set pointer or 0 (inherit, without receive rights) | child agent id |
//! | 6 | wait | child agent id, pointer to an `i64` for its exit status, timeout µs (0 = forever) | 0 |
//! | 7 | send | endpoint, message pointer, length (at most [`MAX_MESSAGE_BYTES`]), timeout µs (0 = forever) | 0 |
//! | 8 | receive | endpoint, buffer pointer, buffer length, timeout µs (0 = forever) | (sender id << 32) \| message length |
//! | 9 | call | endpoint, message pointer, length, reply buffer pointer, reply buffer length, timeout µs (0 = forever) | reply length |
//! | 10 | reply | caller id, message pointer, length | 0 |
//! | 11 | map | address (page aligned, 0 = kernel chooses), length, [`MAP_WRITE`] \| [`MAP_EXECUTE`] | address |
//! | 12 | unmap | address, length (a range given by `map`) | 0 |
//! | 13 | stats | [`StatsKind`], buffer pointer, buffer length (`TooLarge` if shorter than the answer) | bytes written (see [`StatsReply`]) |
//! | 14 | null | - | 0 (does nothing: for measuring the syscall path) |
//! | 15 | accel_factorial | input (below 2^32; from [`ACCEL_FACTORIAL_ZERO_FROM`] answered at once, see below), [`ACCEL_ALLOW_CPU`] \| [`ACCEL_POLL`] \| [`ACCEL_INTERRUPT`] | input! wrapping at 32 bits |
//! | 16 | accel_copy | source pointer, length (at most [`MAX_ACCEL_COPY_BYTES`]), destination pointer, flags; returns within 3 × [`ACCEL_TIMEOUT_US`] | bytes copied |
//! | 17 | read_file | name pointer, name length (a file under [`FILE_DIRECTORY`], at most [`MAX_NAME_BYTES`]), offset, buffer pointer, buffer length (at most [`MAX_READ_BYTES`] are copied) | bytes copied (0 at or past the end); `NotFound` for any other name |
//! | 18 | objective | an [`ObjectiveOp`] and its two arguments (see below) | 0 |
//! | 19 | tensor | a [`TensorOp`], the shape ([`tensor_shape`]), A pointer, B pointer (or a resident tensor's ID), C pointer, [`ACCEL_ALLOW_CPU`] \| [`ACCEL_POLL`] \| [`ACCEL_INTERRUPT`] (see [`TensorOp`]) | matmuls: the route, 0 the CPU, `d + 1` tensor device `d`; uploads: the resident tensor's ID |
//!
//! `objective` declares the caller's learning objective or reports its
//! progress; the task manager shows progress against the objective and
//! the scheduler may use it (an agent behind its objective is more urgent).
//! - [`ObjectiveOp::Latency`], target µs (`1..=`[`MAX_LATENCY_TARGET_US`]):
//!   every request the caller serves should be answered within the target.
//!   The kernel measures each request itself, from the client's `call` to
//!   the caller's `reply`.
//! - [`ObjectiveOp::Loss`], target loss × [`LOSS_ONE`], time from now µs
//!   (`1..=`[`MAX_OBJECTIVE_DEADLINE_US`]): a training run wants its loss at
//!   or below the target by then.
//! - [`ObjectiveOp::ReportLoss`], loss × [`LOSS_ONE`]: the caller's latest
//!   training loss (a claim: the kernel cannot check it, and the scheduler
//!   keeps reported lags apart from measured ones).
//! - [`ObjectiveOp::ReportAccuracy`], correct, total (`correct <= total`,
//!   `total > 0`): an accuracy for status views.
//!
//! A new declaration replaces the caller's earlier one. Anything else is
//! `InvalidArgument`.
//!
//! The accelerator calls need the [`DEVICE_ACCELERATOR`] device capability.
//! Without flags the kernel's adaptive dispatch table picks the route (CPU,
//! device with polling, device with interrupt, which device) by learned
//! latency; [`ACCEL_POLL`] or [`ACCEL_INTERRUPT`] pin the completion mode.
//! Without a device they fail with `NoDevice` unless [`ACCEL_ALLOW_CPU`] is
//! set. `accel_copy` moves the source to a device buffer and back into the
//! destination (a DMA round trip).
//!
//! Their cost is bounded: a factorial on the CPU takes at most 33
//! multiplications, because `n! mod 2^32 = 0` for every `n >=`
//! [`ACCEL_FACTORIAL_ZERO_FROM`]; such inputs are answered (0) by the
//! kernel on every route and never sent to a device (the `edu` device loops
//! `n` times: `0xFFFF_FFFF` would keep it busy for minutes). A device
//! factorial (waiting for the device and the job) ends within
//! [`ACCEL_TIMEOUT_US`], a copy within three times that (waiting in turn for
//! a free device buffer, then each of its two DMA jobs), else `Busy` or
//! `TimedOut`; a job that times out is
//! abandoned and its device reset, and the device serves again as soon as
//! it is idle. An agent holds at most [`ACCEL_MAX_DEVICES_PER_AGENT`]
//! device at once (a job or the buffer of its copy), else `Exhausted`, so
//! one agent cannot occupy the whole pool; a killed agent's job and buffer
//! go back to the pool. `stats` writes a fixed-size reply.
//!
//! `tensor` multiplies matrices: each dimension 1 to [`MAX_TENSOR_DIMENSION`],
//! each operand at most [`MAX_TENSOR_OPERAND_BYTES`], at most
//! [`MAX_TENSOR_MULTIPLY_ADDS`] multiply-adds, else `InvalidArgument`; A and
//! B are read from the caller's memory, C written there (it must be
//! writable, and may not overlap A or B). It needs the accelerator device
//! capability. The adaptive table picks the CPU or a tensor device (by
//! polling; [`ACCEL_POLL`] keeps it off the CPU, [`ACCEL_ALLOW_CPU`] allows
//! the CPU, [`ACCEL_INTERRUPT`] gets `NoDevice`: the device has no
//! interrupt yet). Without [`ACCEL_ALLOW_CPU`] and without an attached
//! device it returns `NoDevice`. A device job ends within
//! [`ACCEL_TIMEOUT_US`] (`TimedOut`) or when its backend stops beating
//! (`DeviceFault`); either way the device is set aside until its backend
//! answers again, and later calls go elsewhere. While the call runs, the
//! operands are charged to the caller's memory budget.
//!
//! Agent ids are unique for the whole boot (never reused). Endpoints are
//! numbered `0..MAX_ENDPOINTS`. A message is delivered synchronously: `send`
//! returns once a receiver took it; `call` returns with the reply.
//!
//! Timeouts: the blocking calls `send`, `receive`, `call` and `wait` take a
//! timeout in microseconds as their last argument ([`TIMEOUT_FOREVER`], 0,
//! waits as long as it takes; a huge value saturates and is as good as
//! forever). When it expires first the call returns `TimedOut`: a `send` or
//! `call` message not yet taken is withdrawn (nobody ever receives it), a
//! `call` already taken is abandoned (the server's later `reply` gets
//! `NotFound`), a `receive` keeps its endpoint, and a `wait` leaves the
//! child's status for a later `wait`. A timeout wakes at most a timer tick
//! (1 ms) late.
//!
//! Queues: at most [`MAX_QUEUED_MESSAGES`] messages wait on one endpoint,
//! at most [`MAX_QUEUED_PER_TREE`] of them from one agent tree (a top-level
//! agent and its descendants), and a sender has one message in flight at a
//! time (it blocks until it is taken); a `send` or `call` beyond those
//! bounds gets `Exhausted` at once.
//!
//! Receive rights are exclusive: the first agent to `receive` on an
//! endpoint (it needs the endpoint's receive bit in its capability set)
//! owns it until it exits; another live agent's `receive` there gets `PermissionDenied`. When
//! the owner exits, senders queued on the endpoint get `PeerGone` at once, and
//! later `send`/`call`s get `PeerGone` until a new agent receives on it.
//! A `call` that would close a cycle of agents each blocked in `call` on the
//! next gets `WouldDeadlock` instead of blocking.
//!
//! # Capabilities
//! Every agent holds a [`CapabilitySet`]; every syscall checks it (`exit` is
//! always allowed). A spawned agent gets the intersection of what its parent
//! asks for and what its parent holds. Receive rights are never inherited:
//! `spawn` without a set (0) gives the child the parent's syscalls, send
//! endpoints and devices but no receive bits; a set's
//! `receive_endpoints` is the explicit grant (cut down to the parent's). A
//! granted endpoint the parent already owns stays the parent's: the
//! child's `receive` there gets `PermissionDenied` until the parent exits,
//! after which the child may take it over.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod stats;

pub use stats::*;

/// Syscall numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Syscall {
    /// End the calling agent.
    Exit = 0,
    /// Give up the CPU.
    Yield = 1,
    /// Sleep for a number of microseconds.
    Sleep = 2,
    /// Read the microsecond clock.
    Clock = 3,
    /// Write text to the kernel console.
    Log = 4,
    /// Start an agent program from the boot ramdisk.
    Spawn = 5,
    /// Wait for a child to exit.
    Wait = 6,
    /// Send a message to an endpoint.
    Send = 7,
    /// Receive a message from an endpoint.
    Receive = 8,
    /// Send a message and wait for the reply.
    Call = 9,
    /// Reply to an agent blocked in `call`.
    Reply = 10,
    /// Map anonymous memory.
    Map = 11,
    /// Unmap memory given by `map`.
    Unmap = 12,
    /// Read statistics.
    Stats = 13,
    /// Do nothing.
    Null = 14,
    /// Compute a factorial on an accelerator.
    AccelFactorial = 15,
    /// Copy a buffer to an accelerator and back.
    AccelCopy = 16,
    /// Read part of a model or data file of the boot ramdisk.
    ReadFile = 17,
    /// Declare a learning objective or report progress against it.
    Objective = 18,
    /// Multiply matrices on the CPU or a tensor accelerator.
    Tensor = 19,
}

/// What an `objective` call does (its first argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum ObjectiveOp {
    /// Declare a latency target per served request (µs).
    Latency = 0,
    /// Declare a target loss (× [`LOSS_ONE`]) within a time (µs).
    Loss = 1,
    /// Report the latest training loss (× [`LOSS_ONE`]).
    ReportLoss = 2,
    /// Report an accuracy: correct, total.
    ReportAccuracy = 3,
}

impl ObjectiveOp {
    /// Returns the operation numbered `number`, if there is one.
    pub const fn from_number(number: u64) -> Option<Self> {
        match number {
            0 => Some(Self::Latency),
            1 => Some(Self::Loss),
            2 => Some(Self::ReportLoss),
            3 => Some(Self::ReportAccuracy),
            _ => None,
        }
    }
}

/// One unit of loss in `objective` calls: losses are passed as `loss × LOSS_ONE`.
pub const LOSS_ONE: u64 = 1_000_000;
/// The largest latency target an objective may declare, µs (ten seconds).
pub const MAX_LATENCY_TARGET_US: u64 = 10_000_000;
/// The furthest deadline a loss objective may declare, µs (one hour).
pub const MAX_OBJECTIVE_DEADLINE_US: u64 = 3_600_000_000;

/// Number of syscalls (numbers are `0..SYSCALL_COUNT`).
pub const SYSCALL_COUNT: u64 = 20;

impl Syscall {
    /// Every syscall, by number.
    pub const ALL: [Self; SYSCALL_COUNT as usize] = [
        Self::Exit,
        Self::Yield,
        Self::Sleep,
        Self::Clock,
        Self::Log,
        Self::Spawn,
        Self::Wait,
        Self::Send,
        Self::Receive,
        Self::Call,
        Self::Reply,
        Self::Map,
        Self::Unmap,
        Self::Stats,
        Self::Null,
        Self::AccelFactorial,
        Self::AccelCopy,
        Self::ReadFile,
        Self::Objective,
        Self::Tensor,
    ];

    /// Returns the syscall with `number`, if there is one.
    pub fn from_number(number: u64) -> Option<Self> {
        Self::ALL.get(usize::try_from(number).ok()?).copied()
    }

    /// Returns the syscall's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Exit => "exit",
            Self::Yield => "yield",
            Self::Sleep => "sleep",
            Self::Clock => "clock",
            Self::Log => "log",
            Self::Spawn => "spawn",
            Self::Wait => "wait",
            Self::Send => "send",
            Self::Receive => "receive",
            Self::Call => "call",
            Self::Reply => "reply",
            Self::Map => "map",
            Self::Unmap => "unmap",
            Self::Stats => "stats",
            Self::Null => "null",
            Self::AccelFactorial => "accel_factorial",
            Self::AccelCopy => "accel_copy",
            Self::ReadFile => "read_file",
            Self::Objective => "objective",
            Self::Tensor => "tensor",
        }
    }

    /// Returns the capability bit that allows this syscall.
    pub const fn bit(self) -> u64 {
        1 << self as u64
    }
}

/// Directory of the ramdisk files `read_file` serves: models, data sets
/// and their reference results (agent programs are not readable).
pub const FILE_DIRECTORY: &str = "models/";
/// Endpoint of the digits inference service (`digits_infer`): the kernel's
/// demo, its test and its benchmark grant it to the server and its clients.
pub const DIGITS_ENDPOINT: u64 = 5;
/// The digits server's latency objective per request, µs (its test checks
/// that the kernel measured it by this target).
pub const DIGITS_LATENCY_TARGET_US: u64 = 5_000;
/// Most bytes one `read_file` call copies.
pub const MAX_READ_BYTES: u64 = 64 * 1024;

/// Error codes (returned negated in `rax`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum Error {
    /// No syscall has this number.
    NoSuchSyscall = -1,
    /// A pointer argument is null.
    NullPointer = -2,
    /// A pointer is not canonical.
    NotCanonical = -3,
    /// A pointer reaches into kernel memory.
    KernelAddress = -4,
    /// A pointer range is not (fully) mapped.
    NotMapped = -5,
    /// The kernel must write to a read-only page.
    ReadOnly = -6,
    /// Pointer plus length overflows.
    Overflow = -7,
    /// A length is above the call's limit.
    TooLarge = -8,
    /// An argument is invalid.
    InvalidArgument = -9,
    /// The capability set does not allow this.
    PermissionDenied = -10,
    /// No such program, agent or child.
    NotFound = -11,
    /// Memory ran out (or the agent's memory quota).
    OutOfMemory = -12,
    /// Too many agents or pending messages.
    Exhausted = -13,
    /// No device can serve the call.
    NoDevice = -14,
    /// The operation timed out.
    TimedOut = -15,
    /// The program image is malformed.
    BadImage = -16,
    /// The peer of an IPC call went away.
    PeerGone = -17,
    /// A device failed or is recovering.
    DeviceFault = -18,
    /// Every device that could serve stayed busy.
    Busy = -19,
    /// The IPC `call` would close a cycle of agents each blocked calling the next.
    WouldDeadlock = -20,
}

impl Error {
    /// Every error code.
    pub const ALL: [Self; 20] = [
        Self::NoSuchSyscall,
        Self::NullPointer,
        Self::NotCanonical,
        Self::KernelAddress,
        Self::NotMapped,
        Self::ReadOnly,
        Self::Overflow,
        Self::TooLarge,
        Self::InvalidArgument,
        Self::PermissionDenied,
        Self::NotFound,
        Self::OutOfMemory,
        Self::Exhausted,
        Self::NoDevice,
        Self::TimedOut,
        Self::BadImage,
        Self::PeerGone,
        Self::DeviceFault,
        Self::Busy,
        Self::WouldDeadlock,
    ];

    /// Returns the error a negative syscall result stands for.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|error| *error as i64 == code)
    }

    /// Returns a short name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoSuchSyscall => "no-such-syscall",
            Self::NullPointer => "null-pointer",
            Self::NotCanonical => "not-canonical",
            Self::KernelAddress => "kernel-address",
            Self::NotMapped => "not-mapped",
            Self::ReadOnly => "read-only",
            Self::Overflow => "overflow",
            Self::TooLarge => "too-large",
            Self::InvalidArgument => "invalid-argument",
            Self::PermissionDenied => "permission-denied",
            Self::NotFound => "not-found",
            Self::OutOfMemory => "out-of-memory",
            Self::Exhausted => "exhausted",
            Self::NoDevice => "no-device",
            Self::TimedOut => "timed-out",
            Self::BadImage => "bad-image",
            Self::PeerGone => "peer-gone",
            Self::DeviceFault => "device-fault",
            Self::Busy => "busy",
            Self::WouldDeadlock => "would-deadlock",
        }
    }
}

/// What an agent may do.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapabilitySet {
    /// Allowed syscalls, one bit per number ([`Syscall::bit`]).
    pub syscalls: u64,
    /// Endpoints it may `send`/`call` to, one bit each.
    pub send_endpoints: u64,
    /// Endpoints it may `receive` from (and `reply` on), one bit each.
    pub receive_endpoints: u64,
    /// Devices it may use, one bit each ([`DEVICE_ACCELERATOR`]).
    pub devices: u64,
}

impl CapabilitySet {
    /// Everything.
    pub const ALL: Self = Self {
        syscalls: u64::MAX,
        send_endpoints: u64::MAX,
        receive_endpoints: u64::MAX,
        devices: u64::MAX,
    };

    /// Returns what both sets allow.
    pub const fn intersect(self, other: Self) -> Self {
        Self {
            syscalls: self.syscalls & other.syscalls,
            send_endpoints: self.send_endpoints & other.send_endpoints,
            receive_endpoints: self.receive_endpoints & other.receive_endpoints,
            devices: self.devices & other.devices,
        }
    }

    /// Returns whether `syscall` is allowed (`exit` always is).
    pub const fn allows(self, syscall: Syscall) -> bool {
        matches!(syscall, Syscall::Exit) || self.syscalls & syscall.bit() != 0
    }

    /// Returns the set without `syscall`.
    pub const fn without(self, syscall: Syscall) -> Self {
        Self {
            syscalls: self.syscalls & !syscall.bit(),
            ..self
        }
    }

    /// Returns the set as the four words passed to `spawn`.
    pub const fn to_words(self) -> [u64; 4] {
        [
            self.syscalls,
            self.send_endpoints,
            self.receive_endpoints,
            self.devices,
        ]
    }

    /// Returns the set from the four words passed to `spawn`.
    pub const fn from_words(words: [u64; 4]) -> Self {
        Self {
            syscalls: words[0],
            send_endpoints: words[1],
            receive_endpoints: words[2],
            devices: words[3],
        }
    }
}

/// Size of a capability set as passed to `spawn`, in bytes.
pub const CAPABILITY_SET_BYTES: u64 = 32;
/// Device bit: the accelerator pool.
pub const DEVICE_ACCELERATOR: u64 = 1 << 0;

/// Longest sleep, in microseconds (ten seconds).
pub const MAX_SLEEP_US: u64 = 10_000_000;
/// Longest log text, in bytes.
pub const MAX_LOG_BYTES: u64 = 512;
/// Longest program name, in bytes.
pub const MAX_NAME_BYTES: u64 = 64;
/// Longest IPC message, in bytes (messages are copied inline).
pub const MAX_MESSAGE_BYTES: u64 = 64;
/// Number of IPC endpoints.
pub const MAX_ENDPOINTS: u64 = 16;
/// Messages that may wait on one endpoint.
pub const MAX_QUEUED_MESSAGES: u64 = 16;
/// Messages of one agent tree that may wait on one endpoint.
pub const MAX_QUEUED_PER_TREE: u64 = 4;
/// The timeout of a blocking call that waits as long as it takes.
pub const TIMEOUT_FOREVER: u64 = 0;
/// Most bytes one `map` call maps.
pub const MAX_MAP_BYTES: u64 = 16 * 1024 * 1024;
/// Memory budget of every agent and of its whole tree (its children count
/// against it, and against their ancestors' budgets): everything the agent
/// causes is charged, its user pages and their page tables, its kernel stack,
/// its messages queued in the kernel and the device buffers of its jobs.
/// `map`, `spawn`, `send`, `call` and `accel_copy` get `OutOfMemory` when
/// they would pass it. 32 MiB: two full `map` quotas.
pub const AGENT_MEMORY_BUDGET_BYTES: u64 = 32 * 1024 * 1024;
/// `map` flag: writable.
pub const MAP_WRITE: u64 = 1 << 0;
/// `map` flag: executable (not together with [`MAP_WRITE`]: W^X).
pub const MAP_EXECUTE: u64 = 1 << 1;

/// Accelerator flag: the CPU may serve the call (also without a device).
pub const ACCEL_ALLOW_CPU: u64 = 1 << 0;
/// Accelerator flag: complete on a device by polling.
pub const ACCEL_POLL: u64 = 1 << 1;
/// Accelerator flag: complete on a device by interrupt (the caller blocks).
pub const ACCEL_INTERRUPT: u64 = 1 << 2;
/// Largest `accel_copy` (the device buffer less one byte).
pub const MAX_ACCEL_COPY_BYTES: u64 = 4095;
/// `accel_factorial` inputs from this one on have `n! mod 2^32 = 0` (34!
/// has 32 factors of two): the kernel answers them at once.
pub const ACCEL_FACTORIAL_ZERO_FROM: u64 = 34;
/// Longest an accelerator call waits for a device, and for each device job
/// (µs).
pub const ACCEL_TIMEOUT_US: u64 = 2_000_000;
/// Most devices one agent holds at once.
pub const ACCEL_MAX_DEVICES_PER_AGENT: u64 = 1;

/// What a `tensor` call computes (its first argument). Matrices are
/// row-major: element `(i, j)` of an `r x c` matrix is at index `i * c + j`.
///
/// **Resident tensors** are matrices the kernel keeps for the caller (model
/// weights): uploaded once, then named by ID as the B operand of later
/// matmuls, which then move only A and C (a device keeps its copy between
/// calls). An upload's shape word is `tensor_shape(1, rows, columns)`, A
/// points at the elements, B and C are 0, no flags; it returns the ID. The
/// bytes are charged to the caller's memory budget until the tensor is
/// released or the caller exits. At most [`MAX_RESIDENT_TENSORS`] per agent
/// (`Exhausted`), and a kernel-wide pool (`OutOfMemory`); an ID the caller
/// does not own is `NotFound`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum TensorOp {
    /// `C[m x n] = A[m x k] * B[k x n]`, all `f32`; within
    /// `2 k eps sum_p |a_ip b_pj|` of the scalar product on every route.
    MatmulF32 = 0,
    /// The same with `i8` A and B and `i32` C; bit-exact on every route.
    MatmulI8 = 1,
    /// Uploads an `f32` resident tensor (see above).
    UploadF32 = 2,
    /// Uploads an `i8` resident tensor.
    UploadI8 = 3,
    /// Releases resident tensor ID (the shape word's place); the rest 0.
    Release = 4,
    /// [`TensorOp::MatmulF32`] with B the `f32` resident tensor whose ID is
    /// the B argument (its shape must be `k x n`).
    MatmulF32Resident = 5,
    /// [`TensorOp::MatmulI8`] with B an `i8` resident tensor.
    MatmulI8Resident = 6,
    /// Uploads a fused int8 dense layer: `i8` weights (`rows x columns`, the
    /// layer's `k x n`) and its epilogue. A points at a [`LayerUpload`]
    /// (which names the weights and the bias); the shape word is
    /// `tensor_shape(1, rows, columns)`; returns a resident tensor ID (the
    /// weights are an `i8` resident tensor, usable as such too).
    UploadLayerI8 = 7,
    /// One fused int8 dense layer with the layer whose ID is the B argument:
    /// `acc = A[m x k] * W[k x n] + bias` in wrapping `i32`, then C is `acc`
    /// (`i32`, with [`LAYER_ACCUMULATORS`]) or the `i8` codes
    /// `clamp(requantize(acc), lo, 127)` with `lo` 0 under [`LAYER_RELU`], else
    /// -127 (`requantize` is TFLite's `MultiplyByQuantizedMultiplier`, as the
    /// agents' `Requant::apply`). The product runs on the route the table
    /// picks, the epilogue in the kernel: one call per layer, and only `i8`
    /// codes come back for a hidden layer.
    LayerI8 = 8,
}

/// A fused layer's epilogue as [`TensorOp::UploadLayerI8`] reads it from the
/// caller's memory ([`LAYER_UPLOAD_BYTES`] little-endian bytes, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerUpload {
    /// Pointer to the weights, `k x n` `i8`, row-major.
    pub weights: u64,
    /// Pointer to the bias, `n` `i32`.
    pub bias: u64,
    /// The requantization's Q31 multiplier: 0 or in `[2^30, 2^31)`.
    pub multiplier: i32,
    /// Its binary exponent, `-31..=30`.
    pub shift: i32,
    /// [`LAYER_RELU`] | [`LAYER_ACCUMULATORS`].
    pub flags: u32,
    /// Must be 0.
    pub reserved: u32,
}

/// Bytes of a [`LayerUpload`].
pub const LAYER_UPLOAD_BYTES: u64 = 32;
/// Layer flag: a ReLU follows (codes clamped to `[0, 127]`).
pub const LAYER_RELU: u32 = 1 << 0;
/// Layer flag: C is the `i32` accumulators (the last layer's logits), no requantization.
pub const LAYER_ACCUMULATORS: u32 = 1 << 1;

impl LayerUpload {
    /// Returns its encoding.
    pub fn to_bytes(&self) -> [u8; LAYER_UPLOAD_BYTES as usize] {
        let mut bytes = [0; LAYER_UPLOAD_BYTES as usize];
        bytes[0..8].copy_from_slice(&self.weights.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.bias.to_le_bytes());
        bytes[16..20].copy_from_slice(&self.multiplier.to_le_bytes());
        bytes[20..24].copy_from_slice(&self.shift.to_le_bytes());
        bytes[24..28].copy_from_slice(&self.flags.to_le_bytes());
        bytes[28..32].copy_from_slice(&self.reserved.to_le_bytes());
        bytes
    }

    /// Returns the upload encoded in `bytes`.
    pub fn from_bytes(bytes: &[u8; LAYER_UPLOAD_BYTES as usize]) -> Self {
        let word = |at: usize| [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        let double = |at: usize| {
            let mut value = [0; 8];
            value.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(value)
        };
        Self {
            weights: double(0),
            bias: double(8),
            multiplier: i32::from_le_bytes(word(16)),
            shift: i32::from_le_bytes(word(20)),
            flags: u32::from_le_bytes(word(24)),
            reserved: u32::from_le_bytes(word(28)),
        }
    }
}

/// Most resident tensors one agent holds.
pub const MAX_RESIDENT_TENSORS: u64 = 16;

impl TensorOp {
    /// Returns the operation numbered `number`, if there is one.
    pub const fn from_number(number: u64) -> Option<Self> {
        match number {
            0 => Some(Self::MatmulF32),
            1 => Some(Self::MatmulI8),
            2 => Some(Self::UploadF32),
            3 => Some(Self::UploadI8),
            4 => Some(Self::Release),
            5 => Some(Self::MatmulF32Resident),
            6 => Some(Self::MatmulI8Resident),
            7 => Some(Self::UploadLayerI8),
            8 => Some(Self::LayerI8),
            _ => None,
        }
    }

    /// Returns the bytes of one element of A and B, and of C (an upload's
    /// elements and 0; a release's 0 and 0).
    pub const fn element_bytes(self) -> (u64, u64) {
        match self {
            Self::MatmulF32 | Self::MatmulF32Resident => (4, 4),
            Self::MatmulI8 | Self::MatmulI8Resident => (1, 4),
            Self::LayerI8 => (1, 4),
            Self::UploadF32 => (4, 0),
            Self::UploadI8 | Self::UploadLayerI8 => (1, 0),
            Self::Release => (0, 0),
        }
    }
}

/// Bits of one dimension in a `tensor` shape word.
pub const TENSOR_SHAPE_BITS: u32 = 20;
/// Largest `m`, `k` or `n` of a `tensor` call.
pub const MAX_TENSOR_DIMENSION: u64 = 1024;
/// Largest operand (A, B or C) of a `tensor` call, bytes.
pub const MAX_TENSOR_OPERAND_BYTES: u64 = 256 * 1024;
/// Most multiply-adds (`m * k * n`) of one `tensor` call.
pub const MAX_TENSOR_MULTIPLY_ADDS: u64 = 1 << 26;

/// Returns the shape word of a `tensor` call: `m | k << 20 | n << 40`.
pub const fn tensor_shape(m: u64, k: u64, n: u64) -> u64 {
    let mask = (1 << TENSOR_SHAPE_BITS) - 1;
    (m & mask) | ((k & mask) << TENSOR_SHAPE_BITS) | ((n & mask) << (2 * TENSOR_SHAPE_BITS))
}

/// Returns `(m, k, n)` of a shape word, or `None` if bits above the three
/// fields are set.
pub const fn tensor_dimensions(shape: u64) -> Option<(u64, u64, u64)> {
    let mask = (1 << TENSOR_SHAPE_BITS) - 1;
    if shape >> (3 * TENSOR_SHAPE_BITS) != 0 {
        return None;
    }
    Some((
        shape & mask,
        (shape >> TENSOR_SHAPE_BITS) & mask,
        (shape >> (2 * TENSOR_SHAPE_BITS)) & mask,
    ))
}
