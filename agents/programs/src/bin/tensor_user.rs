//! The `tensor` syscall from ring 3. Exit status tells what it found:
//! 0: a tensor device served device-only matmuls, the adaptive table
//! served the rest, all results right (`i8` exact, `f32` within the
//! documented tolerance), resident tensors (uploaded once, named as B)
//! gave the same results on both, and every bad argument refused with its
//! error; 10: no device, `NoDevice` without the CPU flag and right results
//! (resident ones too) with it; 20: no accelerator capability
//! (`PermissionDenied`); anything else: the number of the check that failed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::{vec, vec::Vec};

use agent_lib::{
    Error, ResidentTensor, TensorRoute, abi, matmul_f32, matmul_f32_resident, matmul_i8,
    matmul_i8_resident, println, tensor_raw, tensor_value,
};

agent_lib::agent_main!(main);

/// Shapes tried: tiny, odd, and large enough for the device to pay off.
const SHAPES: [(u64, u64, u64); 5] = [(1, 1, 1), (2, 3, 4), (7, 19, 5), (33, 64, 17), (64, 96, 64)];

struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn reference_i8((m, k, n): (u64, u64, u64), a: &[i8], b: &[i8]) -> Vec<i32> {
    let (m, k, n) = (m as usize, k as usize, n as usize);
    let mut c = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k)
                .map(|p| i32::from(a[i * k + p]) * i32::from(b[p * n + j]))
                .sum();
        }
    }
    c
}

/// Whether `c` is within `2 k eps sum |a b|` of the product (the ABI's tolerance).
fn close_f32((m, k, n): (u64, u64, u64), a: &[f32], b: &[f32], c: &[f32]) -> bool {
    let (m, k, n) = (m as usize, k as usize, n as usize);
    (0..m * n).all(|index| {
        let (i, j) = (index / n, index % n);
        let (mut sum, mut magnitude) = (0.0f32, 0.0f32);
        for p in 0..k {
            let product = a[i * k + p] * b[p * n + j];
            sum += product;
            magnitude += if product < 0.0 { -product } else { product };
        }
        let error = c[index] - sum;
        let error = if error < 0.0 { -error } else { error };
        error <= 2.0 * k as f32 * f32::EPSILON * magnitude + f32::MIN_POSITIVE
    })
}

/// Runs every shape in both types with `flags`; returns the routes taken,
/// or the number of the failed check.
fn run_shapes(flags: u64, numbers: &mut Numbers) -> Result<Vec<TensorRoute>, i64> {
    let mut routes = Vec::new();
    for dims in SHAPES {
        let (m, k, n) = dims;
        let (m, k, n) = (m as usize, k as usize, n as usize);
        let a: Vec<i8> = (0..m * k).map(|_| numbers.next() as i8).collect();
        let b: Vec<i8> = (0..k * n).map(|_| numbers.next() as i8).collect();
        let mut c = vec![0i32; m * n];
        let route = matmul_i8(dims, &a, &b, &mut c, flags).map_err(|error| {
            println!("tensor_user: i8 {dims:?} flags {flags}: {error:?}");
            30
        })?;
        if c != reference_i8(dims, &a, &b) {
            println!("tensor_user: i8 {dims:?} on {route:?}: wrong");
            return Err(31);
        }
        routes.push(route);
        let a: Vec<f32> = (0..m * k)
            .map(|_| (numbers.next() % 2000) as f32 / 500.0 - 2.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|_| (numbers.next() % 2000) as f32 / 500.0 - 2.0)
            .collect();
        let mut c = vec![f32::NAN; m * n];
        let route = matmul_f32(dims, &a, &b, &mut c, flags).map_err(|error| {
            println!("tensor_user: f32 {dims:?} flags {flags}: {error:?}");
            32
        })?;
        if !close_f32(dims, &a, &b, &c) {
            println!("tensor_user: f32 {dims:?} on {route:?}: outside the tolerance");
            return Err(33);
        }
        routes.push(route);
    }
    Ok(routes)
}

/// Resident tensors with `flags`: products with an uploaded B equal the
/// reference (twice, with new A: the B stays), then the resident calls'
/// refusals and the per-agent limit.
fn check_residents(flags: u64, numbers: &mut Numbers) -> Result<(), i64> {
    for dims in [(3u64, 5u64, 7u64), (33, 64, 17)] {
        let (m, k, n) = dims;
        let (mu, ku, nu) = (m as usize, k as usize, n as usize);
        let b: Vec<i8> = (0..ku * nu).map(|_| numbers.next() as i8).collect();
        let tensor = ResidentTensor::upload_i8(k, n, &b).map_err(|error| {
            println!("tensor_user: upload i8 {dims:?}: {error:?}");
            60
        })?;
        for _ in 0..2 {
            let a: Vec<i8> = (0..mu * ku).map(|_| numbers.next() as i8).collect();
            let mut c = vec![0i32; mu * nu];
            let route = matmul_i8_resident(m, &a, &tensor, &mut c, flags).map_err(|error| {
                println!("tensor_user: resident i8 {dims:?} flags {flags}: {error:?}");
                61
            })?;
            if c != reference_i8(dims, &a, &b) {
                println!("tensor_user: resident i8 {dims:?} on {route:?}: wrong");
                return Err(62);
            }
        }
        let b: Vec<f32> = (0..ku * nu)
            .map(|_| (numbers.next() % 2000) as f32 / 500.0 - 2.0)
            .collect();
        let tensor = ResidentTensor::upload_f32(k, n, &b).map_err(|_| 63)?;
        let a: Vec<f32> = (0..mu * ku)
            .map(|_| (numbers.next() % 2000) as f32 / 500.0 - 2.0)
            .collect();
        let mut c = vec![f32::NAN; mu * nu];
        let route = matmul_f32_resident(m, &a, &tensor, &mut c, flags).map_err(|error| {
            println!("tensor_user: resident f32 {dims:?} flags {flags}: {error:?}");
            64
        })?;
        if !close_f32(dims, &a, &b, &c) {
            println!("tensor_user: resident f32 {dims:?} on {route:?}: outside the tolerance");
            return Err(65);
        }
    }

    let data = [1i8; 16];
    let a = [1i8; 16];
    let mut c = [0i32; 16];
    let upload = abi::TensorOp::UploadI8 as u64;
    let resident_i8 = abi::TensorOp::MatmulI8Resident as u64;
    let release = abi::TensorOp::Release as u64;
    let pointer = data.as_ptr() as u64;
    let expect = |got: Result<u64, Error>, wanted: Error, code: i64| {
        if got == Err(wanted) {
            Ok(())
        } else {
            println!("tensor_user: resident check {code} gave {got:?}, not {wanted:?}");
            Err(code)
        }
    };
    let shape_4x4 = abi::tensor_shape(1, 4, 4);
    expect(
        tensor_value(upload, abi::tensor_shape(2, 4, 4), [pointer, 0, 0], 0),
        Error::InvalidArgument,
        70,
    )?;
    expect(
        tensor_value(upload, shape_4x4, [pointer, 0, 0], abi::ACCEL_POLL),
        Error::InvalidArgument,
        71,
    )?;
    expect(
        tensor_value(upload, shape_4x4, [0, 0, 0], 0),
        Error::NullPointer,
        72,
    )?;
    let call = |id: u64, shape: u64, c: &mut [i32; 16]| {
        tensor_value(
            resident_i8,
            shape,
            [a.as_ptr() as u64, id, c.as_mut_ptr() as u64],
            flags,
        )
    };
    expect(
        call(0xDEAD_BEEF, abi::tensor_shape(4, 4, 4), &mut c),
        Error::NotFound,
        73,
    )?;
    let tensor = ResidentTensor::upload_i8(4, 4, &data).map_err(|_| 74)?;
    // The tensor is 4 x 4: a product that says k = 2 does not fit it.
    expect(
        call(tensor.id(), abi::tensor_shape(4, 2, 4), &mut c),
        Error::InvalidArgument,
        75,
    )?;
    let floats = ResidentTensor::upload_f32(4, 4, &[1.0; 16]).map_err(|_| 76)?;
    expect(
        call(floats.id(), abi::tensor_shape(4, 4, 4), &mut c),
        Error::InvalidArgument,
        77,
    )?;
    let id = tensor.id();
    drop(tensor);
    expect(
        call(id, abi::tensor_shape(4, 4, 4), &mut c),
        Error::NotFound,
        78,
    )?;
    expect(tensor_value(release, id, [0; 3], 0), Error::NotFound, 79)?;
    drop(floats);
    // The per-agent limit, and room again once they are gone.
    let mut held = Vec::new();
    for _ in 0..abi::MAX_RESIDENT_TENSORS {
        held.push(ResidentTensor::upload_i8(1, 1, &[3]).map_err(|_| 80)?);
    }
    match ResidentTensor::upload_i8(1, 1, &[3]) {
        Err(Error::Exhausted) => {}
        other => {
            println!("tensor_user: upload past the limit gave {other:?}");
            return Err(81);
        }
    }
    drop(held);
    ResidentTensor::upload_i8(1, 1, &[3]).map_err(|_| 82)?;
    check_layers(flags, numbers)
}

/// Fused int8 layers with `flags`: the codes (ReLU and not) and the
/// accumulators equal the agent's own epilogue on the reference product.
fn check_layers(flags: u64, numbers: &mut Numbers) -> Result<(), i64> {
    use agent_lib::ai::agent_tensor::Requant;
    use agent_lib::{layer_i8_accumulators, layer_i8_codes};
    let (m, k, n) = (9u64, 40u64, 24u64);
    let (mu, ku, nu) = (m as usize, k as usize, n as usize);
    let weights: Vec<i8> = (0..ku * nu).map(|_| numbers.next() as i8).collect();
    let bias: Vec<i32> = (0..nu)
        .map(|_| (numbers.next() % 20_001) as i32 - 10_000)
        .collect();
    let requant = Requant::from_real(0.0047);
    let a: Vec<i8> = (0..mu * ku).map(|_| numbers.next() as i8).collect();
    let mut acc = reference_i8((m, k, n), &a, &weights);
    for row in acc.chunks_exact_mut(nu) {
        for (value, bias) in row.iter_mut().zip(&bias) {
            *value = value.wrapping_add(*bias);
        }
    }
    for (layer_flags, code) in [
        (abi::LAYER_RELU, 90),
        (0, 92),
        (abi::LAYER_ACCUMULATORS, 94),
    ] {
        let layer = ResidentTensor::upload_layer_i8(
            (k, n),
            &weights,
            &bias,
            (requant.multiplier, requant.shift),
            layer_flags,
        )
        .map_err(|error| {
            println!("tensor_user: layer upload {layer_flags}: {error:?}");
            code
        })?;
        if layer_flags == abi::LAYER_ACCUMULATORS {
            let mut c = vec![0i32; mu * nu];
            layer_i8_accumulators(m, &a, &layer, &mut c, flags).map_err(|_| code)?;
            if c != acc {
                return Err(code + 1);
            }
        } else {
            let low = if layer_flags == abi::LAYER_RELU {
                0
            } else {
                -127
            };
            let expected: Vec<i8> = acc
                .iter()
                .map(|value| requant.apply(*value).clamp(low, 127) as i8)
                .collect();
            let mut c = vec![0i8; mu * nu];
            let route = layer_i8_codes(m, &a, &layer, &mut c, flags).map_err(|error| {
                println!("tensor_user: layer {layer_flags} flags {flags}: {error:?}");
                code
            })?;
            if c != expected {
                println!("tensor_user: layer {layer_flags} on {route:?}: wrong codes");
                return Err(code + 1);
            }
        }
    }
    // A bad requantization, flag or reserved word is refused; a plain
    // resident tensor is no layer.
    let bad = |multiplier: i32, shift: i32, layer_flags: u32| {
        ResidentTensor::upload_layer_i8((k, n), &weights, &bias, (multiplier, shift), layer_flags)
            .map(|_| ())
    };
    if bad(1 << 29, 0, 0) != Err(Error::InvalidArgument)
        || bad(1 << 30, 31, 0) != Err(Error::InvalidArgument)
        || bad(1 << 30, 0, 1 << 5) != Err(Error::InvalidArgument)
    {
        return Err(96);
    }
    let plain = ResidentTensor::upload_i8(k, n, &weights).map_err(|_| 97)?;
    let mut c = vec![0i8; mu * nu];
    if layer_i8_codes(m, &a, &plain, &mut c, flags) != Err(Error::InvalidArgument) {
        return Err(98);
    }
    Ok(())
}

/// Bad arguments, each with the error the ABI documents.
fn check_refusals() -> Result<(), i64> {
    let a = [1i8; 64];
    let b = [1i8; 64];
    let mut c = [0i32; 64];
    let pointers = [a.as_ptr() as u64, b.as_ptr() as u64, c.as_mut_ptr() as u64];
    let op = abi::TensorOp::MatmulI8 as u64;
    let shape = abi::tensor_shape(8, 8, 8);
    let kernel = 0xFFFF_8000_0000_0000u64;
    let code = main as *const () as usize as u64;
    let max = abi::MAX_TENSOR_DIMENSION;
    let cases: [(u64, u64, [u64; 3], u64, Error); 12] = [
        (7, shape, pointers, 0, Error::InvalidArgument),
        (op, shape | (1 << 62), pointers, 0, Error::InvalidArgument),
        (
            op,
            abi::tensor_shape(0, 8, 8),
            pointers,
            0,
            Error::InvalidArgument,
        ),
        (
            op,
            abi::tensor_shape(8, max + 1, 8),
            pointers,
            0,
            Error::InvalidArgument,
        ),
        // 1024 x 1024 x 1024: over the operand and work limits.
        (
            op,
            abi::tensor_shape(max, max, max),
            pointers,
            0,
            Error::InvalidArgument,
        ),
        (op, shape, pointers, 1 << 9, Error::InvalidArgument),
        (op, shape, pointers, abi::ACCEL_INTERRUPT, Error::NoDevice),
        (
            op,
            shape,
            [0, pointers[1], pointers[2]],
            0,
            Error::NullPointer,
        ),
        (
            op,
            shape,
            [kernel, pointers[1], pointers[2]],
            0,
            Error::KernelAddress,
        ),
        (
            op,
            shape,
            [pointers[0], pointers[1], kernel],
            0,
            Error::KernelAddress,
        ),
        // C over A.
        (
            op,
            shape,
            [pointers[2], pointers[1], pointers[2]],
            0,
            Error::InvalidArgument,
        ),
        // C in the program's (read-only) code.
        (
            op,
            shape,
            [pointers[0], pointers[1], code],
            0,
            Error::ReadOnly,
        ),
    ];
    for (index, (operation, shape, pointers, flags, expected)) in cases.into_iter().enumerate() {
        let got = tensor_raw(operation, shape, pointers, flags | abi::ACCEL_ALLOW_CPU);
        if got != Err(expected) {
            println!("tensor_user: bad call {index} gave {got:?}, not {expected:?}");
            return Err(40 + index as i64);
        }
    }
    Ok(())
}

fn main() -> i64 {
    let mut numbers = Numbers(0x7E45_5EED);
    let a = [1.0f32; 4];
    let mut c = [0.0f32; 4];
    match matmul_f32((2, 2, 2), &a, &a, &mut c, abi::ACCEL_POLL) {
        Err(Error::PermissionDenied) => return 20,
        Err(Error::NoDevice) => {
            return match run_shapes(abi::ACCEL_ALLOW_CPU, &mut numbers) {
                Ok(routes) if routes.iter().all(|route| *route == TensorRoute::Cpu) => {
                    match check_residents(abi::ACCEL_ALLOW_CPU, &mut numbers) {
                        Ok(()) => 10,
                        Err(code) => code,
                    }
                }
                Ok(_) => 11,
                Err(code) => code,
            };
        }
        Ok(TensorRoute::Device(_)) if c == [2.0; 4] => {}
        other => {
            println!("tensor_user: the first device call gave {other:?} {c:?}");
            return 1;
        }
    }
    if let Err(code) = check_refusals() {
        return code;
    }
    match run_shapes(abi::ACCEL_POLL, &mut numbers) {
        Ok(routes)
            if routes
                .iter()
                .all(|route| matches!(route, TensorRoute::Device(_))) => {}
        Ok(_) => return 2,
        Err(code) => return code,
    }
    let adaptive = match run_shapes(abi::ACCEL_ALLOW_CPU, &mut numbers) {
        Ok(routes) => routes,
        Err(code) => return code,
    };
    for flags in [abi::ACCEL_POLL, abi::ACCEL_ALLOW_CPU] {
        if let Err(code) = check_residents(flags, &mut numbers) {
            return code;
        }
    }
    let on_devices = adaptive
        .iter()
        .filter(|route| matches!(route, TensorRoute::Device(_)))
        .count();
    println!(
        "tensor_user: right on every route; adaptive calls: {} on the CPU, {on_devices} on devices",
        adaptive.len() - on_devices
    );
    0
}
