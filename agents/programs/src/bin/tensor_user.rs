//! The `tensor` syscall from ring 3. Exit status tells what it found:
//! 0: a tensor device served device-only matmuls, the adaptive table
//! served the rest, all results right (`i8` exact, `f32` within the
//! documented tolerance) and every bad argument refused with its error;
//! 10: no device, `NoDevice` without the CPU flag and right results with
//! it; 20: no accelerator capability (`PermissionDenied`); anything else:
//! the number of the check that failed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::{vec, vec::Vec};

use agent_lib::{Error, TensorRoute, abi, matmul_f32, matmul_i8, println, tensor_raw};

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
                Ok(routes) if routes.iter().all(|route| *route == TensorRoute::Cpu) => 10,
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
