//! The user library of agent programs: syscalls, logging, entry and panics.
//!
//! An agent program is a `no_std`, `no_main` binary for `agents/x86_64-agent.json`
//! (x86_64, hard-float SSE2)
//! that names its main function with [`agent_main!`]. The kernel loads it
//! from the boot ramdisk and enters it in ring 3; from there it reaches the
//! kernel only through the wrappers here (see `agent-abi` for the ABI). A
//! panic logs its message and exits with [`PANIC_STATUS`]. Whatever Rust
//! cannot check (the `syscall` instruction, mapped memory, faults) is in
//! [`raw`]; the rest of the crate denies it.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod ai;
pub mod bench;
pub mod raw;
pub mod vector;

use core::fmt::{self, Write};

pub use agent_abi::{self as abi, CapabilitySet, Error, Syscall};
pub use raw::Mapping;

/// Exit status of an agent that panicked.
pub const PANIC_STATUS: i64 = -2000;

/// Converts a raw syscall result to a `Result`.
pub fn check(result: i64) -> Result<u64, Error> {
    if result >= 0 {
        Ok(result as u64)
    } else {
        Err(Error::from_code(result).unwrap_or(Error::InvalidArgument))
    }
}

/// Ends the agent with `status`.
pub fn exit(status: i64) -> ! {
    raw::syscall1(Syscall::Exit, status as u64);
    // The kernel never returns from exit; spin if it somehow did.
    loop {
        core::hint::spin_loop();
    }
}

/// Gives up the CPU.
pub fn yield_now() {
    raw::syscall0(Syscall::Yield);
}

/// Sleeps for at least `microseconds`.
pub fn sleep_us(microseconds: u64) -> Result<(), Error> {
    check(raw::syscall1(Syscall::Sleep, microseconds)).map(|_| ())
}

/// Returns microseconds since boot.
pub fn clock_us() -> u64 {
    raw::syscall0(Syscall::Clock) as u64
}

/// Writes `text` to the kernel console.
pub fn log(text: &str) -> Result<u64, Error> {
    check(raw::syscall2(
        Syscall::Log,
        text.as_ptr() as u64,
        text.len() as u64,
    ))
}

/// Starts program `name` from the ramdisk; `capabilities` (None: the
/// caller's own, without receive rights) are cut down to what the caller
/// holds. A child receives only on endpoints the set grants explicitly
/// (see [`spawn_granting`]).
pub fn spawn(name: &str, capabilities: Option<&CapabilitySet>) -> Result<u64, Error> {
    let words = capabilities.map(|set| set.to_words());
    let pointer = words.as_ref().map_or(0, |words| words.as_ptr() as u64);
    check(raw::syscall3(
        Syscall::Spawn,
        name.as_ptr() as u64,
        name.len() as u64,
        pointer,
    ))
}

/// Starts program `name` with every capability the caller holds (its own
/// receive rights included) but receive rights only on the endpoints in
/// `receive_endpoints` (one bit each).
pub fn spawn_granting(name: &str, receive_endpoints: u64) -> Result<u64, Error> {
    let set = CapabilitySet {
        receive_endpoints,
        ..CapabilitySet::ALL
    };
    spawn(name, Some(&set))
}

/// Waits for child `child` and returns its exit status.
pub fn wait(child: u64) -> Result<i64, Error> {
    wait_timeout(child, abi::TIMEOUT_FOREVER)
}

/// Waits at most `timeout_us` (0: forever) for child `child` and returns
/// its exit status; `TimedOut` leaves the child's status for a later wait.
pub fn wait_timeout(child: u64, timeout_us: u64) -> Result<i64, Error> {
    let mut status: i64 = 0;
    check(raw::syscall3(
        Syscall::Wait,
        child,
        &raw mut status as u64,
        timeout_us,
    ))?;
    Ok(status)
}

/// Sends `message` to `endpoint` and waits until a receiver takes it.
pub fn send(endpoint: u64, message: &[u8]) -> Result<(), Error> {
    send_timeout(endpoint, message, abi::TIMEOUT_FOREVER)
}

/// Sends `message` to `endpoint` and waits at most `timeout_us` (0:
/// forever) until a receiver takes it (`TimedOut`: the message was
/// withdrawn, nobody got it).
pub fn send_timeout(endpoint: u64, message: &[u8], timeout_us: u64) -> Result<(), Error> {
    check(raw::raw6(
        Syscall::Send as u64,
        endpoint,
        message.as_ptr() as u64,
        message.len() as u64,
        timeout_us,
        0,
        0,
    ))
    .map(|_| ())
}

/// Receives the oldest message on `endpoint` into `buffer`; returns the
/// sender and the message length.
pub fn receive(endpoint: u64, buffer: &mut [u8]) -> Result<(u64, usize), Error> {
    receive_timeout(endpoint, buffer, abi::TIMEOUT_FOREVER)
}

/// Receives the oldest message on `endpoint` into `buffer`, waiting at most
/// `timeout_us` (0: forever); returns the sender and the message length.
pub fn receive_timeout(
    endpoint: u64,
    buffer: &mut [u8],
    timeout_us: u64,
) -> Result<(u64, usize), Error> {
    let result = check(raw::raw6(
        Syscall::Receive as u64,
        endpoint,
        buffer.as_mut_ptr() as u64,
        buffer.len() as u64,
        timeout_us,
        0,
        0,
    ))?;
    Ok((result >> 32, (result & 0xFFFF_FFFF) as usize))
}

/// Sends `message` to `endpoint` and waits for the reply in `reply`;
/// returns the reply's length.
pub fn call(endpoint: u64, message: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
    call_timeout(endpoint, message, reply, abi::TIMEOUT_FOREVER)
}

/// Like [`call`], but waits at most `timeout_us` (0: forever) in all
/// (`TimedOut`: the call was withdrawn; a reply that comes later is refused
/// to the server).
pub fn call_timeout(
    endpoint: u64,
    message: &[u8],
    reply: &mut [u8],
    timeout_us: u64,
) -> Result<usize, Error> {
    check(raw::raw6(
        Syscall::Call as u64,
        endpoint,
        message.as_ptr() as u64,
        message.len() as u64,
        reply.as_mut_ptr() as u64,
        reply.len() as u64,
        timeout_us,
    ))
    .map(|length| length as usize)
}

/// Replies `message` to `caller`, which waits in `call`.
pub fn reply(caller: u64, message: &[u8]) -> Result<(), Error> {
    check(raw::syscall3(
        Syscall::Reply,
        caller,
        message.as_ptr() as u64,
        message.len() as u64,
    ))
    .map(|_| ())
}

/// Like [`call`], but while nobody serves `endpoint` yet (`PeerGone`: the
/// server may not have started receiving) retries every millisecond for
/// up to `startup_us`.
pub fn call_once_served(
    endpoint: u64,
    message: &[u8],
    reply: &mut [u8],
    startup_us: u64,
) -> Result<usize, Error> {
    let deadline = clock_us().saturating_add(startup_us);
    loop {
        match call(endpoint, message, reply) {
            Err(Error::PeerGone) if clock_us() < deadline => {
                let _ = sleep_us(1_000);
            }
            other => return other,
        }
    }
}

/// Reads ramdisk file `name` (under [`abi::FILE_DIRECTORY`]) from `offset`
/// into `buffer`; returns the bytes read (0 at or past the end).
pub fn read_file(name: &str, offset: u64, buffer: &mut [u8]) -> Result<usize, Error> {
    check(raw::raw6(
        Syscall::ReadFile as u64,
        name.as_ptr() as u64,
        name.len() as u64,
        offset,
        buffer.as_mut_ptr() as u64,
        buffer.len() as u64,
        0,
    ))
    .map(|read| read as usize)
}

/// Reads the whole ramdisk file `name` into a vector.
pub fn load_file(name: &str) -> Result<alloc::vec::Vec<u8>, Error> {
    let mut contents = alloc::vec::Vec::new();
    let mut chunk = alloc::vec![0u8; abi::MAX_READ_BYTES as usize];
    loop {
        let read = read_file(name, contents.len() as u64, &mut chunk)?;
        if read == 0 {
            return Ok(contents);
        }
        contents.extend_from_slice(&chunk[..read]);
    }
}

/// Declares the caller's learning objective: every request it serves
/// answered within `target_us` (the kernel measures each one, from the
/// client's `call` to this agent's `reply`).
pub fn declare_latency_objective(target_us: u64) -> Result<(), Error> {
    objective(abi::ObjectiveOp::Latency, target_us, 0)
}

/// Declares the caller's learning objective: a training loss at or below
/// `target` within `within_us` from now.
pub fn declare_loss_objective(target: f32, within_us: u64) -> Result<(), Error> {
    objective(abi::ObjectiveOp::Loss, loss_units(target), within_us)
}

/// Reports the caller's latest training loss to the task manager.
pub fn report_loss(loss: f32) -> Result<(), Error> {
    objective(abi::ObjectiveOp::ReportLoss, loss_units(loss), 0)
}

/// Reports an accuracy (`correct` of `total`) to the task manager.
pub fn report_accuracy(correct: u64, total: u64) -> Result<(), Error> {
    objective(abi::ObjectiveOp::ReportAccuracy, correct, total)
}

/// Returns `loss` in the ABI's units (× [`abi::LOSS_ONE`]); negative and
/// NaN losses become 0, huge ones saturate.
fn loss_units(loss: f32) -> u64 {
    (loss * abi::LOSS_ONE as f32) as u64
}

fn objective(operation: abi::ObjectiveOp, first: u64, second: u64) -> Result<(), Error> {
    check(raw::syscall3(
        Syscall::Objective,
        operation as u64,
        first,
        second,
    ))
    .map(|_| ())
}

/// Maps `length` bytes of zeroed memory (`flags`: `abi::MAP_WRITE`,
/// `abi::MAP_EXECUTE`); dropping the returned [`Mapping`] unmaps it.
pub fn map(length: u64, flags: u64) -> Result<Mapping, Error> {
    Mapping::new(length, flags)
}

/// Why [`stats`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsReadError {
    /// The `stats` syscall returned this error.
    Syscall(Error),
    /// The kernel's answer did not decode.
    Malformed(abi::StatsError),
}

/// Returns the kernel's statistics of kind `T::KIND`, decoded: one of
/// [`abi::AgentStats`], [`abi::SchedulerStats`], [`abi::SyscallTableStats`],
/// [`abi::AcceleratorTableStats`].
pub fn stats<T: abi::StatsReply>() -> Result<T, StatsReadError> {
    let mut words = [0u64; abi::MAX_STATS_WORDS];
    let bytes = check(raw::syscall3(
        Syscall::Stats,
        T::KIND as u64,
        words.as_mut_ptr() as u64,
        words.len() as u64 * abi::STATS_WORD_BYTES,
    ))
    .map_err(StatsReadError::Syscall)?;
    let count = (bytes / abi::STATS_WORD_BYTES) as usize;
    let malformed = StatsReadError::Malformed(abi::StatsError::WrongLength { found: count });
    if !bytes.is_multiple_of(abi::STATS_WORD_BYTES) {
        return Err(malformed);
    }
    let answer = words.get(..count).ok_or(malformed)?;
    T::from_words(answer).map_err(StatsReadError::Malformed)
}

/// A fixed buffer that formatted text is written into.
pub struct LineBuffer {
    bytes: [u8; abi::MAX_LOG_BYTES as usize],
    length: usize,
}

impl LineBuffer {
    /// Returns an empty buffer.
    pub const fn new() -> Self {
        Self {
            bytes: [0; abi::MAX_LOG_BYTES as usize],
            length: 0,
        }
    }

    /// Returns the text written so far (cut at the buffer's size).
    pub fn as_str(&self) -> &str {
        match core::str::from_utf8(&self.bytes[..self.length]) {
            Ok(text) => text,
            Err(error) => core::str::from_utf8(&self.bytes[..error.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = self.bytes.len() - self.length;
        let taken = text.len().min(room);
        self.bytes[self.length..self.length + taken].copy_from_slice(&text.as_bytes()[..taken]);
        self.length += taken;
        Ok(())
    }
}

/// Computes `input`! wrapping at 32 bits on an accelerator route
/// (`flags`: [`abi::ACCEL_ALLOW_CPU`], [`abi::ACCEL_POLL`], [`abi::ACCEL_INTERRUPT`]).
pub fn accel_factorial(input: u64, flags: u64) -> Result<u64, Error> {
    check(raw::syscall2(Syscall::AccelFactorial, input, flags))
}

/// Copies `source` to a device buffer and back into `destination` (as long
/// as `source`) on an accelerator route; returns the bytes copied.
pub fn accel_copy(source: &[u8], destination: &mut [u8], flags: u64) -> Result<u64, Error> {
    if destination.len() < source.len() {
        return Err(Error::InvalidArgument);
    }
    check(raw::raw6(
        Syscall::AccelCopy as u64,
        source.as_ptr() as u64,
        source.len() as u64,
        destination.as_mut_ptr() as u64,
        flags,
        0,
        0,
    ))
}

/// Where a `tensor` call ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorRoute {
    /// On the CPU (in the kernel).
    Cpu,
    /// On this tensor device.
    Device(u64),
}

/// Computes `c[m x n] = a[m x k] * b[k x n]` (`f32`, row-major) through the
/// `tensor` syscall (`flags`: [`abi::ACCEL_ALLOW_CPU`], [`abi::ACCEL_POLL`]).
pub fn matmul_f32(
    dims: (u64, u64, u64),
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    flags: u64,
) -> Result<TensorRoute, Error> {
    tensor(
        abi::TensorOp::MatmulF32,
        dims,
        [a.as_ptr() as u64, b.as_ptr() as u64, c.as_mut_ptr() as u64],
        [a.len(), b.len(), c.len()],
        flags,
    )
}

/// Computes `c[m x n] = a[m x k] * b[k x n]` for `i8` `a` and `b` into `i32`
/// `c` through the `tensor` syscall.
pub fn matmul_i8(
    dims: (u64, u64, u64),
    a: &[i8],
    b: &[i8],
    c: &mut [i32],
    flags: u64,
) -> Result<TensorRoute, Error> {
    tensor(
        abi::TensorOp::MatmulI8,
        dims,
        [a.as_ptr() as u64, b.as_ptr() as u64, c.as_mut_ptr() as u64],
        [a.len(), b.len(), c.len()],
        flags,
    )
}

/// The `tensor` syscall after checking the slice lengths against `dims`
/// (the kernel reads exactly the shape's bytes at each pointer).
fn tensor(
    operation: abi::TensorOp,
    (m, k, n): (u64, u64, u64),
    pointers: [u64; 3],
    lengths: [usize; 3],
    flags: u64,
) -> Result<TensorRoute, Error> {
    let wanted = [m.checked_mul(k), k.checked_mul(n), m.checked_mul(n)];
    if wanted
        .iter()
        .zip(lengths)
        .any(|(wanted, length)| *wanted != Some(length as u64))
    {
        return Err(Error::InvalidArgument);
    }
    tensor_raw(
        operation as u64,
        abi::tensor_shape(m, k, n),
        pointers,
        flags,
    )
}

/// The `tensor` syscall as it is, for probing the kernel's checks.
pub fn tensor_raw(
    operation: u64,
    shape: u64,
    pointers: [u64; 3],
    flags: u64,
) -> Result<TensorRoute, Error> {
    tensor_value(operation, shape, pointers, flags).map(|route| match route {
        0 => TensorRoute::Cpu,
        device => TensorRoute::Device(device - 1),
    })
}

/// The `tensor` syscall's value as it is (a route, or an upload's ID).
pub fn tensor_value(
    operation: u64,
    shape: u64,
    [a, b, c]: [u64; 3],
    flags: u64,
) -> Result<u64, Error> {
    check(raw::raw6(
        Syscall::Tensor as u64,
        operation,
        shape,
        a,
        b,
        c,
        flags,
    ))
}

/// A matrix the kernel keeps for this agent: uploaded once, then the B
/// operand of [`matmul_i8_resident`] / [`matmul_f32_resident`] calls, which
/// move only A and C (a tensor device keeps its copy between calls).
/// Released when dropped.
#[derive(Debug)]
pub struct ResidentTensor {
    id: u64,
    rows: u64,
    columns: u64,
}

impl ResidentTensor {
    /// Uploads `data`, `rows x columns` `i8` elements (row-major).
    pub fn upload_i8(rows: u64, columns: u64, data: &[i8]) -> Result<Self, Error> {
        Self::upload(
            abi::TensorOp::UploadI8,
            rows,
            columns,
            data.as_ptr() as u64,
            data.len(),
        )
    }

    /// Uploads `data`, `rows x columns` `f32` elements (row-major).
    pub fn upload_f32(rows: u64, columns: u64, data: &[f32]) -> Result<Self, Error> {
        Self::upload(
            abi::TensorOp::UploadF32,
            rows,
            columns,
            data.as_ptr() as u64,
            data.len(),
        )
    }

    fn upload(
        operation: abi::TensorOp,
        rows: u64,
        columns: u64,
        pointer: u64,
        length: usize,
    ) -> Result<Self, Error> {
        if rows.checked_mul(columns) != Some(length as u64) {
            return Err(Error::InvalidArgument);
        }
        let id = tensor_value(
            operation as u64,
            abi::tensor_shape(1, rows, columns),
            [pointer, 0, 0],
            0,
        )?;
        Ok(Self { id, rows, columns })
    }

    /// Uploads a fused int8 dense layer: `weights` (`rows x columns` `i8`,
    /// the layer's `k x n`), `bias` (`columns`), the requantization
    /// (`multiplier`, `shift`) and `flags` ([`abi::LAYER_RELU`],
    /// [`abi::LAYER_ACCUMULATORS`]); see [`abi::TensorOp::LayerI8`].
    pub fn upload_layer_i8(
        (rows, columns): (u64, u64),
        weights: &[i8],
        bias: &[i32],
        (multiplier, shift): (i32, i32),
        flags: u32,
    ) -> Result<Self, Error> {
        if rows.checked_mul(columns) != Some(weights.len() as u64) || bias.len() as u64 != columns {
            return Err(Error::InvalidArgument);
        }
        let upload = abi::LayerUpload {
            weights: weights.as_ptr() as u64,
            bias: bias.as_ptr() as u64,
            multiplier,
            shift,
            flags,
            reserved: 0,
        }
        .to_bytes();
        let id = tensor_value(
            abi::TensorOp::UploadLayerI8 as u64,
            abi::tensor_shape(1, rows, columns),
            [upload.as_ptr() as u64, 0, 0],
            0,
        )?;
        Ok(Self { id, rows, columns })
    }

    /// Returns the kernel's ID of the tensor.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Returns `(rows, columns)`.
    pub fn shape(&self) -> (u64, u64) {
        (self.rows, self.columns)
    }
}

impl Drop for ResidentTensor {
    fn drop(&mut self) {
        // Only an ID that is not ours fails, and this one is.
        let _ = tensor_value(abi::TensorOp::Release as u64, self.id, [0; 3], 0);
    }
}

/// Computes `c[m x n] = a[m x k] * b` for `i8` `a` and a resident `i8` `b`
/// (`k x n`) into `i32` `c` through the `tensor` syscall.
pub fn matmul_i8_resident(
    m: u64,
    a: &[i8],
    b: &ResidentTensor,
    c: &mut [i32],
    flags: u64,
) -> Result<TensorRoute, Error> {
    let a = (a.as_ptr() as u64, a.len());
    let c = (c.as_mut_ptr() as u64, c.len());
    with_resident(abi::TensorOp::MatmulI8Resident, m, a, b, c, flags)
}

/// Computes `c[m x n] = a[m x k] * b` in `f32` with a resident `f32` `b`.
pub fn matmul_f32_resident(
    m: u64,
    a: &[f32],
    b: &ResidentTensor,
    c: &mut [f32],
    flags: u64,
) -> Result<TensorRoute, Error> {
    let a = (a.as_ptr() as u64, a.len());
    let c = (c.as_mut_ptr() as u64, c.len());
    with_resident(abi::TensorOp::MatmulF32Resident, m, a, b, c, flags)
}

/// Runs fused layer `layer` (uploaded with [`ResidentTensor::upload_layer_i8`]
/// without [`abi::LAYER_ACCUMULATORS`]) on `m` rows of `a`: `c` gets the
/// `m x n` `i8` codes.
pub fn layer_i8_codes(
    m: u64,
    a: &[i8],
    layer: &ResidentTensor,
    c: &mut [i8],
    flags: u64,
) -> Result<TensorRoute, Error> {
    let a = (a.as_ptr() as u64, a.len());
    let c = (c.as_mut_ptr() as u64, c.len());
    with_resident(abi::TensorOp::LayerI8, m, a, layer, c, flags)
}

/// Runs fused layer `layer` (uploaded with [`abi::LAYER_ACCUMULATORS`]): `c`
/// gets the `m x n` biased `i32` accumulators.
pub fn layer_i8_accumulators(
    m: u64,
    a: &[i8],
    layer: &ResidentTensor,
    c: &mut [i32],
    flags: u64,
) -> Result<TensorRoute, Error> {
    let a = (a.as_ptr() as u64, a.len());
    let c = (c.as_mut_ptr() as u64, c.len());
    with_resident(abi::TensorOp::LayerI8, m, a, layer, c, flags)
}

/// A `tensor` call whose B is resident tensor `b` (`k x n`), after checking
/// that A (pointer, elements) has `m x k` and C `m x n` elements.
fn with_resident(
    operation: abi::TensorOp,
    m: u64,
    (a, a_len): (u64, usize),
    b: &ResidentTensor,
    (c, c_len): (u64, usize),
    flags: u64,
) -> Result<TensorRoute, Error> {
    let (k, n) = b.shape();
    if m.checked_mul(k) != Some(a_len as u64) || m.checked_mul(n) != Some(c_len as u64) {
        return Err(Error::InvalidArgument);
    }
    tensor_raw(
        operation as u64,
        abi::tensor_shape(m, k, n),
        [a, b.id, c],
        flags,
    )
}

/// Formats and logs one line (cut at `abi::MAX_LOG_BYTES`).
pub fn print(arguments: fmt::Arguments<'_>) {
    let mut line = LineBuffer::new();
    let _ = line.write_fmt(arguments);
    let _ = log(line.as_str());
}

/// Logs a formatted line through the kernel console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => ($crate::print(format_args!($($arg)*)));
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    print(format_args!("panic: {info}"));
    exit(PANIC_STATUS)
}
