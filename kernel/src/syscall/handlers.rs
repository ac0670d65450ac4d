//! The syscall implementations (see `agent-abi` for the ABI).

use alloc::{vec, vec::Vec};

use agent_abi::{
    ACCEL_ALLOW_CPU, ACCEL_INTERRUPT, ACCEL_POLL, AgentStats, CAPABILITY_SET_BYTES, CapabilitySet,
    DEVICE_ACCELERATOR, Error, FILE_DIRECTORY, FIXED_POINT_ONE, MAP_EXECUTE, MAP_WRITE,
    MAX_ACCEL_COPY_BYTES, MAX_ENDPOINTS, MAX_LOG_BYTES, MAX_MAP_BYTES, MAX_MESSAGE_BYTES,
    MAX_NAME_BYTES, MAX_READ_BYTES, MAX_SLEEP_US, ObjectiveOp, SchedulerStats, StatsKind,
    StatsReply,
};
use x86_64::structures::paging::PageTableFlags;

use super::{Arguments, Outcome};
use crate::{
    accel::{self, Completion, JobOptions},
    memory::{
        address_space::PAGE_SIZE,
        user::{self, UserMemoryError, UserRange},
    },
    task, time,
    user::{budget, ipc},
};
use kernel_core::{
    deadline::Deadline,
    map_window::{BYTES_PER_WINDOW, MapWindowError, pages_for_bytes},
    spawn_rights,
};

/// Returns the syscall error for a refused user pointer: each refusal is
/// the ABI error of the same name (a function: both types are foreign here).
fn user_error(error: UserMemoryError) -> Error {
    match error {
        UserMemoryError::Null => Error::NullPointer,
        UserMemoryError::NotCanonical => Error::NotCanonical,
        UserMemoryError::KernelAddress => Error::KernelAddress,
        UserMemoryError::Overflow => Error::Overflow,
        UserMemoryError::TooLarge => Error::TooLarge,
        UserMemoryError::NotMapped => Error::NotMapped,
        UserMemoryError::ReadOnly => Error::ReadOnly,
    }
}

/// Copies `length` bytes (at most `max`) from user `address` into `buffer`.
fn read_user(address: u64, length: u64, max: u64, buffer: &mut [u8]) -> Result<usize, Error> {
    let range = UserRange::new(address, length, max).map_err(user_error)?;
    let length = range.len() as usize;
    let buffer = buffer.get_mut(..length).ok_or(Error::TooLarge)?;
    crate::user::with_current_process(|process| {
        user::copy_from_user(&mut process.address_space, range, buffer)
    })
    .ok_or(Error::PermissionDenied)?
    .map_err(user_error)?;
    Ok(length)
}

/// Copies `data` to user `address`.
fn write_user(address: u64, data: &[u8]) -> Result<(), Error> {
    let range = UserRange::new(address, data.len() as u64, u64::MAX).map_err(user_error)?;
    crate::user::with_current_process(|process| {
        user::copy_to_user(&mut process.address_space, range, data)
    })
    .ok_or(Error::PermissionDenied)?
    .map_err(user_error)?;
    Ok(())
}

/// Checks that `length` bytes at `address` could be written, without
/// writing (and without the heap: blocking syscalls call this before they
/// block, and a killed agent's stack is freed without unwinding).
fn check_writable(address: u64, length: u64) -> Result<(), Error> {
    let range = UserRange::new(address, length, u64::MAX).map_err(user_error)?;
    crate::user::with_current_process(|process| {
        user::check_writable(&mut process.address_space, range)
    })
    .ok_or(Error::PermissionDenied)?
    .map_err(user_error)?;
    Ok(())
}

fn capabilities() -> Result<CapabilitySet, Error> {
    crate::user::with_current_process(|process| process.capabilities).ok_or(Error::PermissionDenied)
}

fn endpoint_bit(endpoint: u64) -> Result<u64, Error> {
    if endpoint < MAX_ENDPOINTS {
        Ok(1 << endpoint)
    } else {
        Err(Error::InvalidArgument)
    }
}

pub(super) fn exit(arguments: &Arguments) -> Outcome {
    task::exit(arguments[0] as i64)
}

pub(super) fn null(_: &Arguments) -> Outcome {
    Ok(0)
}

/// Returns the job options the accelerator `flags` ask for.
fn accel_options(flags: u64) -> Result<JobOptions, Error> {
    if flags & !(ACCEL_ALLOW_CPU | ACCEL_POLL | ACCEL_INTERRUPT) != 0 {
        return Err(Error::InvalidArgument);
    }
    if capabilities()?.devices & DEVICE_ACCELERATOR == 0 {
        return Err(Error::PermissionDenied);
    }
    let completion = match (flags & ACCEL_POLL != 0, flags & ACCEL_INTERRUPT != 0) {
        (false, false) => Completion::Adaptive,
        (true, false) => Completion::Poll,
        (false, true) => Completion::Interrupt,
        (true, true) => return Err(Error::InvalidArgument),
    };
    Ok(JobOptions {
        completion,
        allow_cpu: flags & ACCEL_ALLOW_CPU != 0,
        capped: true,
        ..JobOptions::default()
    })
}

pub(super) fn accel_factorial(arguments: &Arguments) -> Outcome {
    let input = u32::try_from(arguments[0]).map_err(|_| Error::InvalidArgument)?;
    let options = accel_options(arguments[1])?;
    let outcome = accel::factorial(input, &options)?;
    Ok(u64::from(outcome.value))
}

pub(super) fn accel_copy(arguments: &Arguments) -> Outcome {
    let (source, length, destination) = (arguments[0], arguments[1], arguments[2]);
    let options = accel_options(arguments[3])?;
    if length == 0 {
        return Err(Error::InvalidArgument);
    }
    // On the agent's kernel stack, not the heap: an agent killed while it
    // waits for the DMA leaves nothing behind (its stack is freed).
    let mut data = [0u8; MAX_ACCEL_COPY_BYTES as usize];
    // `read_user` refuses a length above the limit.
    let length = read_user(source, length, MAX_ACCEL_COPY_BYTES, &mut data)? as u64;
    let data = &data[..length as usize];
    check_writable(destination, length)?;
    let buffer = accel::copy_to_device(data, &options)?.value;
    let mut back = [0u8; MAX_ACCEL_COPY_BYTES as usize];
    let back = &mut back[..length as usize];
    accel::copy_from_device(&buffer, back, &options)?;
    drop(buffer);
    write_user(destination, back)?;
    Ok(length)
}

/// Returns the bytes of user memory `pointer..pointer + bytes` as a range
/// for overlap checks (`None` when it wraps: `read_user` refuses it anyway).
fn user_span(pointer: u64, bytes: u64) -> Option<core::ops::Range<u64>> {
    Some(pointer..pointer.checked_add(bytes)?)
}

pub(super) fn tensor(arguments: &Arguments) -> Outcome {
    use accel::tensor::{self as tensors, MatmulShape};
    use agent_abi::{MAX_TENSOR_OPERAND_BYTES, TensorOp};
    let [operation, shape, a_pointer, b_pointer, c_pointer, flags] = *arguments;
    let operation = TensorOp::from_number(operation).ok_or(Error::InvalidArgument)?;
    match operation {
        TensorOp::UploadF32 | TensorOp::UploadI8 => return tensor_upload(operation, arguments),
        TensorOp::UploadLayerI8 => return tensor_upload_layer(arguments),
        TensorOp::LayerI8 => return tensor_layer(arguments),
        TensorOp::Release => {
            if [a_pointer, b_pointer, c_pointer, flags] != [0; 4] {
                return Err(Error::InvalidArgument);
            }
            accel::resident::release(task::current_pid(), shape)?;
            return Ok(0);
        }
        _ => {}
    }
    // A resident B: the caller's own tensor of that ID (looked up before
    // anything is read or reserved).
    let resident = match operation {
        TensorOp::MatmulF32Resident | TensorOp::MatmulI8Resident => {
            Some(accel::resident::lookup(task::current_pid(), b_pointer)?)
        }
        _ => None,
    };
    let (m, k, n) = agent_abi::tensor_dimensions(shape).ok_or(Error::InvalidArgument)?;
    let options = accel_options(flags)?;
    let (input_bytes, output_bytes) = operation.element_bytes();
    let shape = MatmulShape::new(
        m as usize,
        k as usize,
        n as usize,
        input_bytes as usize,
        output_bytes as usize,
    )?;
    // Each at most MAX_TENSOR_OPERAND_BYTES (checked by `MatmulShape::new`).
    let [a_bytes, b_bytes, c_bytes] = [
        m * k * input_bytes,
        k * n * input_bytes,
        m * n * output_bytes,
    ];
    let spans = [
        user_span(a_pointer, a_bytes),
        // A resident B is not in the caller's memory.
        user_span(b_pointer, if resident.is_some() { 0 } else { b_bytes }),
        user_span(c_pointer, c_bytes),
    ];
    let [Some(a_span), Some(b_span), Some(c_span)] = spans else {
        return Err(Error::Overflow);
    };
    let overlaps =
        |x: &core::ops::Range<u64>, y: &core::ops::Range<u64>| x.start < y.end && y.start < x.end;
    if overlaps(&c_span, &a_span) || (resident.is_none() && overlaps(&c_span, &b_span)) {
        return Err(Error::InvalidArgument);
    }
    check_writable(c_pointer, c_bytes)?;
    // Kernel buffers: the typed operands and result, the bytes read, and
    // the CPU route's transposed B (f32): charged to the caller's budget and
    // held in the shared pool for the call.
    let held = 2 * (a_bytes + b_bytes + c_bytes);
    let deadline = time::now_us().saturating_add(options.timeout_us);
    let _reservation = tensors::reserve_buffers(held, deadline)?;
    let _charge = budget::charge_current(held)?;
    // The buffers are heap memory owned by this frame: a kill waits for the
    // call to end (bounded by its timeout) instead of leaking them.
    let _deferral = task::defer_kills();
    let read = |pointer: u64, bytes: u64| -> Result<Vec<u8>, Error> {
        let mut buffer = vec![0u8; bytes as usize];
        read_user(pointer, bytes, MAX_TENSOR_OPERAND_BYTES, &mut buffer)?;
        Ok(buffer)
    };
    let floats = |bytes: Vec<u8>| -> Vec<f32> {
        let (words, _) = bytes.as_chunks::<4>();
        words.iter().map(|word| f32::from_le_bytes(*word)).collect()
    };
    let signed = |bytes: Vec<u8>| -> Vec<i8> {
        bytes
            .iter()
            .map(|byte| i8::from_le_bytes([*byte]))
            .collect()
    };
    let (outcome, result) = match (operation, &resident) {
        (TensorOp::MatmulF32 | TensorOp::MatmulF32Resident, _) => {
            let a = floats(read(a_pointer, a_bytes)?);
            let mut c = vec![0.0f32; (m * n) as usize];
            let outcome = match &resident {
                Some(b) => tensors::matmul_f32_resident(&shape, &a, b, &mut c, &options)?,
                None => {
                    let b = floats(read(b_pointer, b_bytes)?);
                    tensors::matmul_f32(&shape, &a, &b, &mut c, &options)?
                }
            };
            drop(a);
            let bytes: Vec<u8> = c.iter().flat_map(|value| value.to_le_bytes()).collect();
            (outcome, bytes)
        }
        (TensorOp::MatmulI8 | TensorOp::MatmulI8Resident, _) => {
            let a = signed(read(a_pointer, a_bytes)?);
            let mut c = vec![0i32; (m * n) as usize];
            let outcome = match &resident {
                Some(b) => tensors::matmul_i8_resident(&shape, &a, b, &mut c, &options)?,
                None => {
                    let b = signed(read(b_pointer, b_bytes)?);
                    tensors::matmul_i8(&shape, &a, &b, &mut c, &options)?
                }
            };
            drop(a);
            let bytes: Vec<u8> = c.iter().flat_map(|value| value.to_le_bytes()).collect();
            (outcome, bytes)
        }
        (
            TensorOp::UploadF32
            | TensorOp::UploadI8
            | TensorOp::UploadLayerI8
            | TensorOp::LayerI8
            | TensorOp::Release,
            _,
        ) => {
            return Err(Error::InvalidArgument);
        }
    };
    write_user(c_pointer, &result)?;
    Ok(route_value(outcome.route))
}

/// A `tensor` product's value: 0 for the CPU, `d + 1` for tensor device `d`.
fn route_value(route: accel::Route) -> u64 {
    match route {
        accel::Route::Cpu => 0,
        accel::Route::Poll(device) | accel::Route::Interrupt(device) => u64::from(device) + 1,
    }
}

/// An upload's `(rows, columns)`: its shape word must be
/// `tensor_shape(1, rows, columns)` and B, C and the flags 0.
fn upload_shape(arguments: &Arguments) -> Result<(u64, u64), Error> {
    let [_, shape, _, b_pointer, c_pointer, flags] = *arguments;
    let (one, rows, columns) = agent_abi::tensor_dimensions(shape).ok_or(Error::InvalidArgument)?;
    if one != 1 || [b_pointer, c_pointer, flags] != [0; 3] {
        return Err(Error::InvalidArgument);
    }
    Ok((rows, columns))
}

/// `tensor` uploads: the elements read from A, kept as a resident tensor of
/// the caller, their bytes charged to its budget while the tensor lives.
fn tensor_upload(operation: agent_abi::TensorOp, arguments: &Arguments) -> Outcome {
    use agent_abi::{MAX_TENSOR_OPERAND_BYTES, TensorOp};
    let pointer = arguments[2];
    let (rows, columns) = upload_shape(arguments)?;
    let element = match operation {
        TensorOp::UploadF32 => tensor_ring::Element::F32,
        _ => tensor_ring::Element::I8,
    };
    let (element_bytes, _) = operation.element_bytes();
    let bytes = rows
        .checked_mul(columns)
        .and_then(|count| count.checked_mul(element_bytes))
        .filter(|bytes| (1..=MAX_TENSOR_OPERAND_BYTES).contains(bytes))
        .ok_or(Error::InvalidArgument)?;
    let charge = budget::charge_current(bytes)?;
    let _deferral = task::defer_kills();
    let mut buffer = vec![0u8; bytes as usize];
    read_user(pointer, bytes, MAX_TENSOR_OPERAND_BYTES, &mut buffer)?;
    let id = accel::resident::upload(
        task::current_pid(),
        element,
        (rows as usize, columns as usize),
        buffer,
        charge,
    )?;
    Ok(id)
}

/// `tensor` `UploadLayerI8`: a [`agent_abi::LayerUpload`] read from A, then
/// the weights and the bias it names, kept as a fused layer of the caller.
fn tensor_upload_layer(arguments: &Arguments) -> Outcome {
    use agent_abi::{LAYER_ACCUMULATORS, LAYER_RELU, LAYER_UPLOAD_BYTES, LayerUpload};
    let pointer = arguments[2];
    let (rows, columns) = upload_shape(arguments)?;
    let mut header = [0u8; LAYER_UPLOAD_BYTES as usize];
    read_user(pointer, LAYER_UPLOAD_BYTES, LAYER_UPLOAD_BYTES, &mut header)?;
    let upload = LayerUpload::from_bytes(&header);
    if upload.reserved != 0 || upload.flags & !(LAYER_RELU | LAYER_ACCUMULATORS) != 0 {
        return Err(Error::InvalidArgument);
    }
    let weight_bytes = rows
        .checked_mul(columns)
        .filter(|bytes| (1..=agent_abi::MAX_TENSOR_OPERAND_BYTES).contains(bytes))
        .ok_or(Error::InvalidArgument)?;
    let bias_bytes = columns * 4;
    let charge = budget::charge_current(weight_bytes + bias_bytes)?;
    let _deferral = task::defer_kills();
    let mut weights = vec![0u8; weight_bytes as usize];
    read_user(upload.weights, weight_bytes, weight_bytes, &mut weights)?;
    let mut bias = vec![0u8; bias_bytes as usize];
    read_user(upload.bias, bias_bytes, bias_bytes, &mut bias)?;
    let bias: Vec<i32> = bias
        .as_chunks::<4>()
        .0
        .iter()
        .map(|word| i32::from_le_bytes(*word))
        .collect();
    let epilogue = accel::resident::Epilogue {
        bias: bias.into(),
        requant: (upload.multiplier, upload.shift),
        relu: upload.flags & LAYER_RELU != 0,
        accumulators: upload.flags & LAYER_ACCUMULATORS != 0,
    };
    let id = accel::resident::upload_layer(
        task::current_pid(),
        (rows as usize, columns as usize),
        weights,
        epilogue,
        charge,
    )?;
    Ok(id)
}

/// `tensor` `LayerI8`: the product with the layer's resident weights on the
/// route the table picks, then its epilogue here; C gets the `i8` codes or
/// the `i32` accumulators.
fn tensor_layer(arguments: &Arguments) -> Outcome {
    use accel::tensor::{self as tensors, MatmulShape};
    use agent_abi::MAX_TENSOR_OPERAND_BYTES;
    let [_, shape, a_pointer, id, c_pointer, flags] = *arguments;
    let layer = accel::resident::lookup(task::current_pid(), id)?;
    let epilogue = layer.epilogue.clone().ok_or(Error::InvalidArgument)?;
    let (m, k, n) = agent_abi::tensor_dimensions(shape).ok_or(Error::InvalidArgument)?;
    let options = accel_options(flags)?;
    let shape = MatmulShape::new(m as usize, k as usize, n as usize, 1, 4)?;
    let a_bytes = m * k;
    let c_bytes = m * n * if epilogue.accumulators { 4 } else { 1 };
    let (Some(a_span), Some(c_span)) =
        (user_span(a_pointer, a_bytes), user_span(c_pointer, c_bytes))
    else {
        return Err(Error::Overflow);
    };
    if c_span.start < a_span.end && a_span.start < c_span.end {
        return Err(Error::InvalidArgument);
    }
    check_writable(c_pointer, c_bytes)?;
    let held = 2 * a_bytes + 8 * m * n;
    let deadline = time::now_us().saturating_add(options.timeout_us);
    let _reservation = tensors::reserve_buffers(held, deadline)?;
    let _charge = budget::charge_current(held)?;
    let _deferral = task::defer_kills();
    let mut a = vec![0u8; a_bytes as usize];
    read_user(a_pointer, a_bytes, MAX_TENSOR_OPERAND_BYTES, &mut a)?;
    let a: Vec<i8> = a.iter().map(|byte| *byte as i8).collect();
    let mut acc = vec![0i32; (m * n) as usize];
    let outcome = tensors::matmul_i8_resident(&shape, &a, &layer, &mut acc, &options)?;
    epilogue.add_bias(&mut acc);
    if epilogue.accumulators {
        let bytes: Vec<u8> = acc.iter().flat_map(|value| value.to_le_bytes()).collect();
        write_user(c_pointer, &bytes)?;
    } else {
        let mut codes = vec![0i8; acc.len()];
        epilogue.codes(&acc, &mut codes);
        let bytes: Vec<u8> = codes.iter().map(|code| *code as u8).collect();
        write_user(c_pointer, &bytes)?;
    }
    Ok(route_value(outcome.route))
}

const _: () = assert!(agent_abi::MAX_RESIDENT_TENSORS as usize == accel::resident::MAX_PER_AGENT);

pub(super) fn yield_now(_: &Arguments) -> Outcome {
    task::yield_now();
    Ok(0)
}

pub(super) fn sleep(arguments: &Arguments) -> Outcome {
    let duration = arguments[0];
    if duration > MAX_SLEEP_US {
        return Err(Error::InvalidArgument);
    }
    task::sleep_us(duration);
    Ok(0)
}

pub(super) fn clock(_: &Arguments) -> Outcome {
    Ok(time::now_us())
}

pub(super) fn log(arguments: &Arguments) -> Outcome {
    let mut buffer = [0u8; MAX_LOG_BYTES as usize];
    let length = read_user(arguments[0], arguments[1], MAX_LOG_BYTES, &mut buffer)?;
    let now = time::now_us();
    if crate::user::with_current_process(|process| process.take_log_token(now)) != Some(true) {
        return Err(Error::Exhausted);
    }
    // One call is one line: kernel-core escapes newlines, CR, ESC and every
    // other control byte, so the line always starts with the agent prefix.
    // The line lives on the heap while it is printed: a kill meanwhile
    // waits, so it is freed.
    task::with_kill_deferred(|| {
        let (pid, name) = task::current_identity();
        let line = kernel_core::log_line::format_agent_line(
            pid,
            &name,
            &buffer[..length],
            MAX_LOG_BYTES as usize,
        );
        crate::println!("{line}");
    });
    Ok(length as u64)
}

pub(super) fn spawn(arguments: &Arguments) -> Outcome {
    let mut name = [0u8; MAX_NAME_BYTES as usize];
    let length = read_user(arguments[0], arguments[1], MAX_NAME_BYTES, &mut name)?;
    let name = core::str::from_utf8(&name[..length]).map_err(|_| Error::InvalidArgument)?;
    if name.is_empty() || name.contains('/') {
        return Err(Error::InvalidArgument);
    }
    let own = capabilities()?;
    // Receive rights come only by explicit grant (see `spawn_rights`).
    let requested = if arguments[2] == 0 {
        None
    } else {
        let mut words = [0u8; CAPABILITY_SET_BYTES as usize];
        read_user(
            arguments[2],
            CAPABILITY_SET_BYTES,
            CAPABILITY_SET_BYTES,
            &mut words,
        )?;
        let mut set = [0u64; 4];
        for (index, chunk) in words.as_chunks::<8>().0.iter().enumerate() {
            set[index] = u64::from_le_bytes(*chunk);
        }
        Some(set)
    };
    let granted = CapabilitySet::from_words(spawn_rights::child_rights(own.to_words(), requested));
    let parent = task::current_pid();
    // A spawn owns the new image, process and stack through this stack
    // until the child is in the table: a kill of the caller meanwhile waits
    // for it to end (and a doomed caller's spawn starts no child).
    let child = task::with_kill_deferred(|| crate::user::spawn(name, granted, parent))?;
    Ok(child)
}

pub(super) fn read_file(arguments: &Arguments) -> Outcome {
    let mut name = [0u8; MAX_NAME_BYTES as usize];
    let length = read_user(arguments[0], arguments[1], MAX_NAME_BYTES, &mut name)?;
    let name = core::str::from_utf8(&name[..length]).map_err(|_| Error::InvalidArgument)?;
    let Some(file) = name
        .strip_prefix(FILE_DIRECTORY)
        .filter(|rest| !rest.is_empty())
        .and_then(|_| crate::boot_args::indexed_file(name))
    else {
        return Err(Error::NotFound);
    };
    let offset = usize::try_from(arguments[2]).unwrap_or(usize::MAX);
    let rest = file.get(offset..).unwrap_or(&[]);
    let wanted = usize::try_from(arguments[4].min(MAX_READ_BYTES)).unwrap_or(0);
    let chunk = &rest[..rest.len().min(wanted)];
    if chunk.is_empty() {
        return Ok(0);
    }
    // Straight from the ramdisk (no kernel buffer): a bad destination is
    // refused by the checked copy, and the file is never changed.
    write_user(arguments[3], chunk)?;
    Ok(chunk.len() as u64)
}

/// Returns the deadline of a blocking call's timeout argument (µs, 0 = none).
fn deadline(timeout_us: u64) -> Deadline {
    Deadline::after(time::now_us(), timeout_us)
}

pub(super) fn wait(arguments: &Arguments) -> Outcome {
    let (child, status_address) = (arguments[0], arguments[1]);
    let deadline = deadline(arguments[2]);
    check_writable(status_address, 8)?;
    let status = task::wait_child_until(child, deadline.at_us()).map_err(|error| match error {
        task::WaitChildError::NotChild => Error::NotFound,
        task::WaitChildError::TimedOut => Error::TimedOut,
    })?;
    write_user(status_address, &status.to_le_bytes())?;
    Ok(0)
}

fn read_message(address: u64, length: u64) -> Result<ipc::Message, Error> {
    let mut buffer = [0u8; MAX_MESSAGE_BYTES as usize];
    let length = read_user(address, length, MAX_MESSAGE_BYTES, &mut buffer)?;
    Ok(ipc::Message::new(&buffer[..length]))
}

pub(super) fn send(arguments: &Arguments) -> Outcome {
    let endpoint = arguments[0];
    if capabilities()?.send_endpoints & endpoint_bit(endpoint)? == 0 {
        return Err(Error::PermissionDenied);
    }
    let deadline = deadline(arguments[3]);
    let message = read_message(arguments[1], arguments[2])?;
    let me = task::current_pid();
    let tree = crate::user::current_tree().unwrap_or(me);
    ipc::send(me, tree, endpoint, message, false, deadline)?;
    Ok(0)
}

pub(super) fn receive(arguments: &Arguments) -> Outcome {
    let (endpoint, buffer, capacity) = (arguments[0], arguments[1], arguments[2]);
    if capabilities()?.receive_endpoints & endpoint_bit(endpoint)? == 0 {
        return Err(Error::PermissionDenied);
    }
    let deadline = deadline(arguments[3]);
    let capacity = capacity.min(MAX_MESSAGE_BYTES);
    check_writable(buffer, capacity)?;
    let (sender, message) = ipc::receive(task::current_pid(), endpoint, deadline)?;
    let copied = message.length.min(capacity as usize);
    write_user(buffer, &message.payload()[..copied])?;
    Ok((sender << 32) | message.length as u64)
}

pub(super) fn call(arguments: &Arguments) -> Outcome {
    let endpoint = arguments[0];
    if capabilities()?.send_endpoints & endpoint_bit(endpoint)? == 0 {
        return Err(Error::PermissionDenied);
    }
    let deadline = deadline(arguments[5]);
    let message = read_message(arguments[1], arguments[2])?;
    let (reply_buffer, capacity) = (arguments[3], arguments[4].min(MAX_MESSAGE_BYTES));
    check_writable(reply_buffer, capacity)?;
    let me = task::current_pid();
    let tree = crate::user::current_tree().unwrap_or(me);
    task::note_call_start();
    let reply = ipc::send(me, tree, endpoint, message, true, deadline)?;
    let copied = reply.length.min(capacity as usize);
    write_user(reply_buffer, &reply.payload()[..copied])?;
    Ok(reply.length as u64)
}

pub(super) fn reply(arguments: &Arguments) -> Outcome {
    let caller = arguments[0];
    let me = task::current_pid();
    let endpoint = ipc::awaited_endpoint(me, caller).ok_or(Error::NotFound)?;
    if capabilities()?.receive_endpoints & (1 << endpoint) == 0 {
        return Err(Error::PermissionDenied);
    }
    let message = read_message(arguments[1], arguments[2])?;
    // Taken before the reply wakes the caller (which may then end at once).
    let started = task::take_call_start(caller);
    ipc::reply(me, caller, message)?;
    if let Some(started) = started {
        task::request_served(started);
    }
    Ok(0)
}

const _: () = assert!(
    agent_abi::LOSS_ONE == sched_rl::objective::LOSS_ONE
        && agent_abi::MAX_LATENCY_TARGET_US == sched_rl::objective::MAX_LATENCY_TARGET_US
        && agent_abi::MAX_OBJECTIVE_DEADLINE_US == sched_rl::objective::MAX_DEADLINE_US,
    "the ABI's objective limits must be the scheduler's"
);

pub(super) fn objective(arguments: &Arguments) -> Outcome {
    use sched_rl::Objective;
    let [operation, first, second, ..] = *arguments;
    let refused = |_| Error::InvalidArgument;
    match ObjectiveOp::from_number(operation).ok_or(Error::InvalidArgument)? {
        ObjectiveOp::Latency => {
            let objective = Objective::latency(first).map_err(refused)?;
            task::declare_objective(objective)
                .then_some(0)
                .ok_or(Error::PermissionDenied)
        }
        ObjectiveOp::Loss => {
            let objective = Objective::loss(first, second, time::now_us()).map_err(refused)?;
            task::declare_objective(objective)
                .then_some(0)
                .ok_or(Error::PermissionDenied)
        }
        ObjectiveOp::ReportLoss => {
            task::report_loss(first);
            Ok(0)
        }
        ObjectiveOp::ReportAccuracy => {
            if second == 0 || first > second {
                return Err(Error::InvalidArgument);
            }
            task::report_accuracy(first, second);
            Ok(0)
        }
    }
}

/// Pages `map` and `unmap` handle per visit to the process (one
/// interrupts-off stretch): a 16 MiB mapping is 256 short visits with
/// interrupts enabled between them instead of one long one.
const MAP_CHUNK_PAGES: usize = 16;

pub(super) fn map(arguments: &Arguments) -> Outcome {
    let (address, length, flags) = (arguments[0], arguments[1], arguments[2]);
    if length == 0 || length > MAX_MAP_BYTES || flags & !(MAP_WRITE | MAP_EXECUTE) != 0 {
        return Err(Error::InvalidArgument);
    }
    if flags & MAP_WRITE != 0 && flags & MAP_EXECUTE != 0 {
        return Err(Error::InvalidArgument);
    }
    let pages = length.div_ceil(PAGE_SIZE);
    let mut page_flags = PageTableFlags::empty();
    if flags & MAP_WRITE != 0 {
        page_flags |= PageTableFlags::WRITABLE;
    }
    if flags & MAP_EXECUTE == 0 {
        page_flags |= PageTableFlags::NO_EXECUTE;
    }
    // Reserve the window first: from here on no other `map` can be given
    // these addresses (the agent is in this syscall, and only it maps).
    // Its bookkeeping is charged to the agent's memory budget.
    let window = crate::user::with_current_process(|process| {
        let window = process
            .map_windows
            .reserve(address, pages)
            .map_err(map_window_error)?;
        if let Err(error) = budget::charge(process.account.id(), BYTES_PER_WINDOW) {
            let _ = process.map_windows.release(window.start, window.pages);
            return Err(error);
        }
        Ok(window)
    })
    .ok_or(Error::PermissionDenied)??;
    // Then fill it a chunk at a time.
    let mut mapped = 0usize;
    let mut failure = None;
    while mapped < window.pages as usize && failure.is_none() {
        // Computed here, not by skipping through the window's pages inside
        // the interrupts-off visit (that would cost O(mapped) per chunk).
        let first = window.start + mapped as u64 * PAGE_SIZE;
        let count = (window.pages as usize - mapped).min(MAP_CHUNK_PAGES);
        let chunk = (0..count as u64).map(move |index| first + index * PAGE_SIZE);
        // Each page is charged to the agent's memory budget with the page
        // tables it took (`OutOfMemory` over the budget of its tree).
        let done = crate::user::with_current_process(|process| {
            let mut done = 0;
            for page in chunk {
                if let Err(error) = process.map_page(page, page_flags) {
                    return (done, Some(error));
                }
                done += 1;
            }
            (done, None)
        });
        let Some((done, error)) = done else {
            failure = Some(Error::PermissionDenied);
            break;
        };
        mapped += done;
        failure = error;
    }
    let Some(error) = failure else {
        return Ok(window.start);
    };
    // Undo what was mapped, in chunks too, then give the window back.
    unmap_pages(window.page_addresses().take(mapped));
    let _ = crate::user::with_current_process(|process| {
        if process
            .map_windows
            .release(window.start, window.pages)
            .is_ok()
        {
            budget::release(process.account.id(), BYTES_PER_WINDOW);
        }
    });
    Err(error)
}

/// Unmaps `pages` of the current process, [`MAP_CHUNK_PAGES`] per visit.
fn unmap_pages(pages: impl Iterator<Item = u64>) {
    let mut pages = pages.peekable();
    while pages.peek().is_some() {
        let mut chunk = [0u64; MAP_CHUNK_PAGES];
        let mut count = 0;
        for (slot, page) in chunk.iter_mut().zip(pages.by_ref()) {
            *slot = page;
            count += 1;
        }
        let visited = crate::user::with_current_process(|process| {
            for page in &chunk[..count] {
                process.unmap_page(*page);
            }
        });
        if visited.is_none() {
            return;
        }
    }
}

/// Returns the syscall error for a refused `map` window (a function: both
/// types are foreign here).
fn map_window_error(error: MapWindowError) -> Error {
    match error {
        MapWindowError::QuotaExceeded => Error::OutOfMemory,
        MapWindowError::Overflow => Error::Overflow,
        MapWindowError::Empty
        | MapWindowError::Misaligned
        | MapWindowError::OutsideWindow
        | MapWindowError::Overlaps
        | MapWindowError::NoFreeWindow
        | MapWindowError::NotMapped => Error::InvalidArgument,
    }
}

pub(super) fn unmap(arguments: &Arguments) -> Outcome {
    let (address, length) = (arguments[0], arguments[1]);
    // Forget the window first (only exactly a window `map` gave out is
    // released), then unmap its pages a chunk at a time: the agent is in
    // this syscall, so nothing maps into the range meanwhile.
    let window = crate::user::with_current_process(|process| {
        let window = process
            .map_windows
            .release(address, pages_for_bytes(length))
            .map_err(map_window_error)?;
        budget::release(process.account.id(), BYTES_PER_WINDOW);
        Ok::<_, Error>(window)
    })
    .ok_or(Error::PermissionDenied)??;
    unmap_pages(window.page_addresses());
    Ok(0)
}

pub(super) fn stats(arguments: &Arguments) -> Outcome {
    let (kind, buffer, capacity) = (arguments[0], arguments[1], arguments[2]);
    let kind = StatsKind::from_number(kind).ok_or(Error::InvalidArgument)?;
    // The reply is built on the heap: a kill meanwhile waits, so it is freed.
    task::with_kill_deferred(|| match kind {
        StatsKind::Agent => write_stats(&agent_stats()?, buffer, capacity),
        StatsKind::Scheduler => write_stats(&scheduler_stats(), buffer, capacity),
        StatsKind::Syscalls => write_stats(&super::table_stats(), buffer, capacity),
        StatsKind::Accelerators => write_stats(&accel::dispatch::table_stats(), buffer, capacity),
    })
}

/// Writes `reply`'s words to user `buffer` of `capacity` bytes; returns the
/// bytes written.
fn write_stats(reply: &impl StatsReply, buffer: u64, capacity: u64) -> Outcome {
    let mut words = vec![0u64; reply.word_count()];
    // Cannot fail: `words` holds exactly `word_count()` words.
    let count = reply.to_words(&mut words).map_err(|_| Error::TooLarge)?;
    let bytes: Vec<u8> = words
        .iter()
        .take(count)
        .flat_map(|word| word.to_le_bytes())
        .collect();
    if capacity < bytes.len() as u64 {
        return Err(Error::TooLarge);
    }
    write_user(buffer, &bytes)?;
    Ok(bytes.len() as u64)
}

/// Returns the calling agent's statistics.
fn agent_stats() -> Result<AgentStats, Error> {
    let (id, _) = task::current_identity();
    let (syscalls, syscall_errors, user_pages) = crate::user::with_current_process(|process| {
        (
            process.syscalls,
            process.syscall_errors,
            process.address_space.user_pages(),
        )
    })
    .ok_or(Error::PermissionDenied)?;
    let (cpu_time_us, wait_time_us, runs, p99_response_us) =
        task::current_stats().unwrap_or_default();
    Ok(AgentStats {
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

/// Returns the scheduler's statistics.
fn scheduler_stats() -> SchedulerStats {
    let (decisions, exploration_rate, decision_cycles_p50, decision_cycles_p99) = task::scheduler()
        .map(|scheduler| {
            (
                scheduler.stats.decisions,
                // A probability: clamped to [0, 1] as the ABI promises.
                scheduler
                    .stats
                    .exploration_rate
                    .raw()
                    .clamp(0, FIXED_POINT_ONE as i64) as u64,
                scheduler.decision_cycles.percentile(50),
                scheduler.decision_cycles.percentile(99),
            )
        })
        .unwrap_or_default();
    let counters = task::counters();
    SchedulerStats {
        decisions,
        switches: counters.switches,
        live_agents: task::live_agents() as u64,
        fallbacks: u64::from(counters.fallbacks),
        exploration_rate,
        decision_cycles_p50,
        decision_cycles_p99,
        uptime_us: time::now_us(),
    }
}
