//! Two tensor accelerators, each with its own `tensor-backend` on the host:
//! `ivshmem-plain` (`accel_tensor`) or `ivshmem-doorbell` (`accel_tensor_doorbell`).
//!
//! - Both attach at boot; with doorbells both have a routed MSI-X vector and
//!   a backend serving doorbells, without neither.
//! - `f32` and `i8` matmuls of many shapes through every route (the CPU,
//!   each device polled and, with doorbells, by interrupt, the adaptive
//!   table) equal the scalar reference: `i8` exactly, `f32` within the
//!   reference's tolerance.
//! - While a caller polls a device job, another agent keeps running; with
//!   doorbells the same while a caller is blocked for completion
//!   interrupts, and the interrupt jobs got their interrupts. Without
//!   doorbells, interrupt completion is refused.
//! - Resident tensors: an uploaded B gives the reference's results on every
//!   route, is copied into a device's data area once and reused there, and
//!   is copied again after that device's backend restarts.
//! - Two callers at once use both devices.
//! - Bad shapes and lengths are refused before any route runs.
//! - The backend of device 1 is killed (`HARNESS tensor-backend kill 1`):
//!   device-1 jobs (by interrupt, with doorbells) fail within the heartbeat
//!   bound and the device is marked lost; adaptive calls go on, on the CPU
//!   or device 0, and none hangs. Restarted (`HARNESS tensor-backend
//!   restart 1`), it is attached again and serves correct results; with
//!   doorbells it serves them by completion interrupt too: the ivshmem
//!   server (`tensor-doorbell`) outlived the backend and gave the new one
//!   the eventfds QEMU holds.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bootloader_api::BootInfo;
use kernel::accel::{
    self, AccelError, Completion, JobOptions, Route,
    tensor::{self, MatmulShape, TensorState},
};
use kernel::{task, testing, time};
use sched_rl::ClassHint;
use tensor_ring::reference::{self, Shape};

/// Loops of the spinner agent.
static SPINS: AtomicU64 = AtomicU64::new(0);
/// Agents of the concurrent phase that finished.
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// Shapes tried on every route: tiny, odd, square, wider than a chunk.
const SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (3, 5, 7),
    (17, 33, 9),
    (1, 64, 1),
    (64, 64, 64),
    (100, 3, 130),
    (96, 128, 80),
];
/// A device job must fail this soon after its backend died (µs): the
/// heartbeat bound plus scheduling slack under TCG.
const LOSS_LIMIT_US: u64 = tensor::HEARTBEAT_STALL_US + 4_000_000;
/// How long the harness may take to restart a backend and the kernel to attach it (µs).
const RESTART_LIMIT_US: u64 = 30_000_000;

/// Runs the scenario `name`; `doorbells` says which device the manifest attaches.
pub fn run(boot_info: &'static mut BootInfo, name: &str, doorbells: bool) -> ! {
    kernel_tests::start(boot_info, name);
    task::init(task::policy_by_name("round-robin").expect("policy"));
    task::spawn("spinner", ClassHint::Batch, || {
        loop {
            SPINS.fetch_add(1, Ordering::Relaxed);
            core::hint::spin_loop();
        }
    })
    .expect("spawn");
    task::spawn("checker", ClassHint::Interactive, move || {
        match checker(doorbells) {
            Ok(()) => testing::pass(),
            Err(reason) => testing::fail(reason),
        }
    })
    .expect("spawn");
    task::run()
}

/// A deterministic pseudo-random sequence (xorshift).
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn i8s(&mut self, count: usize) -> Vec<i8> {
        (0..count).map(|_| self.next() as i8).collect()
    }

    /// Values in [-4, 4) with a few exact zeros and some tiny ones.
    fn f32s(&mut self, count: usize) -> Vec<f32> {
        (0..count)
            .map(|_| {
                let raw = self.next();
                match raw % 16 {
                    0 => 0.0,
                    1 => (raw >> 40) as f32 * 1e-9,
                    _ => ((raw >> 40) % 8000) as f32 / 1000.0 - 4.0,
                }
            })
            .collect()
    }
}

fn pinned(route: Route) -> JobOptions {
    match route {
        Route::Cpu => JobOptions {
            completion: Completion::Cpu,
            ..JobOptions::default()
        },
        Route::Poll(device) => JobOptions {
            completion: Completion::Poll,
            allow_cpu: false,
            device: Some(usize::from(device)),
            ..JobOptions::default()
        },
        Route::Interrupt(device) => JobOptions {
            completion: Completion::Interrupt,
            allow_cpu: false,
            device: Some(usize::from(device)),
            ..JobOptions::default()
        },
    }
}

/// Runs one `i8` and one `f32` matmul of `dims` with `options`; checks the
/// results against the reference and, if `route` is given, the route taken.
/// Returns the route of the `f32` call.
fn check_shape(
    dims: (usize, usize, usize),
    options: &JobOptions,
    route: Option<Route>,
    numbers: &mut Numbers,
) -> Result<Route, &'static str> {
    let (m, k, n) = dims;
    let reference_shape = Shape { m, k, n };
    let a = numbers.i8s(m * k);
    let b = numbers.i8s(k * n);
    let mut c = alloc::vec![0i32; m * n];
    let mut expected = alloc::vec![0i32; m * n];
    reference::matmul_i8(reference_shape, &a, &b, &mut expected).map_err(|_| "reference")?;
    let shape = MatmulShape::new(m, k, n, 1, 4).map_err(|_| "shape refused")?;
    let outcome = tensor::matmul_i8(&shape, &a, &b, &mut c, options).map_err(|error| {
        log::error!("i8 {dims:?} with {options:?}: {error:?}");
        "an i8 matmul failed"
    })?;
    if route.is_some_and(|route| route != outcome.route) {
        log::error!("i8 {dims:?} took {:?}, wanted {route:?}", outcome.route);
        return Err("an i8 matmul took another route");
    }
    if c != expected {
        log::error!("i8 {dims:?} on {:?}: wrong result", outcome.route);
        return Err("an i8 matmul differs from the reference");
    }

    let a = numbers.f32s(m * k);
    let b = numbers.f32s(k * n);
    let mut c = alloc::vec![f32::NAN; m * n];
    let shape = MatmulShape::new(m, k, n, 4, 4).map_err(|_| "shape refused")?;
    let outcome = tensor::matmul_f32(&shape, &a, &b, &mut c, options).map_err(|error| {
        log::error!("f32 {dims:?} with {options:?}: {error:?}");
        "an f32 matmul failed"
    })?;
    if route.is_some_and(|route| route != outcome.route) {
        return Err("an f32 matmul took another route");
    }
    match reference::first_f32_mismatch(reference_shape, &a, &b, &c) {
        Ok(None) => Ok(outcome.route),
        Ok(Some(index)) => {
            log::error!(
                "f32 {dims:?} on {:?}: element {index} is {}",
                outcome.route,
                c[index]
            );
            Err("an f32 matmul is outside the reference's tolerance")
        }
        Err(_) => Err("reference shape"),
    }
}

/// Returns the device a route uses, if any.
fn device_of(route: Route) -> Option<u8> {
    match route {
        Route::Cpu => None,
        Route::Poll(device) | Route::Interrupt(device) => Some(device),
    }
}

fn checker(doorbells: bool) -> Result<(), &'static str> {
    let devices = tensor::devices();
    for device in &devices {
        log::info!("tensor device: {device:?}");
    }
    if devices.len() != 2 || tensor::ready_mask() != 0b11 {
        return Err("expected two attached tensor devices");
    }
    if devices
        .iter()
        .any(|device| device.serves_interrupts() != doorbells)
    {
        return Err(if doorbells {
            "a device has no routed interrupt or no doorbell backend"
        } else {
            "an ivshmem-plain device claims doorbells"
        });
    }
    let mut numbers = Numbers(0x7E45_0123_4567_89AB);

    // Every shape on every route.
    let mut routes = alloc::vec![Route::Cpu, Route::Poll(0), Route::Poll(1)];
    if doorbells {
        routes.extend([Route::Interrupt(0), Route::Interrupt(1)]);
    }
    for &route in &routes {
        for dims in SHAPES {
            check_shape(dims, &pinned(route), Some(route), &mut numbers)?;
        }
        log::info!(
            "route {route:?}: {} shapes right (i8 exact, f32 in tolerance)",
            SHAPES.len()
        );
    }
    for dims in SHAPES {
        check_shape(dims, &JobOptions::default(), None, &mut numbers)?;
    }
    let jobs: Vec<u64> = tensor::devices().iter().map(|device| device.jobs).collect();
    let pinned_routes = if doorbells { 2 } else { 1 };
    if jobs
        .iter()
        .any(|jobs| *jobs < 2 * pinned_routes * SHAPES.len() as u64)
    {
        log::error!("jobs per device: {jobs:?}");
        return Err("a device did not count its jobs");
    }

    // Others run while a caller polls a device.
    let spins_before = SPINS.load(Ordering::Relaxed);
    for _ in 0..20 {
        check_shape(
            (64, 64, 64),
            &pinned(Route::Poll(0)),
            Some(Route::Poll(0)),
            &mut numbers,
        )?;
    }
    let spins = SPINS.load(Ordering::Relaxed) - spins_before;
    log::info!("the spinner looped {spins} times during 20 device jobs");
    if spins == 0 {
        return Err("no other agent ran while device jobs were polled");
    }
    if doorbells {
        check_interrupts(&mut numbers)?;
    }

    check_residents(&routes, &mut numbers)?;
    check_refusals(doorbells)?;
    check_two_callers()?;
    check_backend_loss(&mut numbers, doorbells)?;
    Ok(())
}

/// Others run while a caller waits blocked for completion interrupts, and
/// the interrupt jobs got their interrupts (merged ones aside, see below).
fn check_interrupts(numbers: &mut Numbers) -> Result<(), &'static str> {
    const JOBS: u64 = 20;
    let spins_before = SPINS.load(Ordering::Relaxed);
    let interrupts_before = tensor::devices()[0].interrupts;
    for _ in 0..JOBS {
        check_shape(
            (64, 64, 64),
            &pinned(Route::Interrupt(0)),
            Some(Route::Interrupt(0)),
            numbers,
        )?;
    }
    let spins = SPINS.load(Ordering::Relaxed) - spins_before;
    // The backend posts a completion, then rings: a caller that looks at the
    // ring in between is done before its interrupt lands (the ring is the
    // truth, the doorbell only wakes), so interrupts may trail. And two rings
    // the backend makes before QEMU reads its eventfd merge into one
    // interrupt (a fast job submitted by a caller that did not need the last
    // one's interrupt): once the trailing ones land, every job but such
    // merged pairs has its own.
    let deadline = time::now_us() + 200_000;
    while tensor::devices()[0].interrupts - interrupts_before < 2 * JOBS
        && time::now_us() < deadline
    {
        task::sleep_us(1_000);
    }
    let interrupts = tensor::devices()[0].interrupts - interrupts_before;
    log::info!(
        "the spinner looped {spins} times during {} interrupt jobs; {interrupts} interrupts",
        2 * JOBS
    );
    if spins == 0 {
        return Err("no other agent ran while a caller waited for interrupts");
    }
    if interrupts < JOBS {
        return Err("fewer interrupts than half the interrupt jobs");
    }
    Ok(())
}

/// Resident `i8` and `f32` B operands on every route in `routes`, each used
/// twice; returns after releasing them.
fn check_residents(routes: &[Route], numbers: &mut Numbers) -> Result<(), &'static str> {
    use kernel::accel::resident;
    use tensor_ring::Element;
    let (m, k, n) = (24, 80, 40);
    let pid = task::current_pid();
    let b8 = numbers.i8s(k * n);
    let i8_id = resident::upload(
        pid,
        Element::I8,
        (k, n),
        b8.iter().map(|value| *value as u8).collect(),
        None,
    )
    .map_err(|_| "an i8 upload failed")?;
    let b32 = numbers.f32s(k * n);
    let f32_id = resident::upload(
        pid,
        Element::F32,
        (k, n),
        b32.iter().flat_map(|value| value.to_le_bytes()).collect(),
        None,
    )
    .map_err(|_| "an f32 upload failed")?;
    let shape_i8 = MatmulShape::new(m, k, n, 1, 4).map_err(|_| "shape")?;
    let shape_f32 = MatmulShape::new(m, k, n, 4, 4).map_err(|_| "shape")?;
    let reference_shape = Shape { m, k, n };
    for &route in routes {
        for _ in 0..2 {
            // Looked up per call, as the syscall does: placements are recorded.
            let tensor = resident::lookup(pid, i8_id).map_err(|_| "lookup")?;
            let a = numbers.i8s(m * k);
            let mut c = alloc::vec![0i32; m * n];
            let mut expected = alloc::vec![0i32; m * n];
            reference::matmul_i8(reference_shape, &a, &b8, &mut expected)
                .map_err(|_| "reference")?;
            let outcome =
                tensor::matmul_i8_resident(&shape_i8, &a, &tensor, &mut c, &pinned(route))
                    .map_err(|error| {
                        log::error!("resident i8 on {route:?}: {error:?}");
                        "a resident i8 matmul failed"
                    })?;
            if outcome.route != route || c != expected {
                return Err("a resident i8 matmul is wrong or took another route");
            }
            let tensor = resident::lookup(pid, f32_id).map_err(|_| "lookup")?;
            let a = numbers.f32s(m * k);
            let mut c = alloc::vec![f32::NAN; m * n];
            tensor::matmul_f32_resident(&shape_f32, &a, &tensor, &mut c, &pinned(route))
                .map_err(|_| "a resident f32 matmul failed")?;
            if reference::first_f32_mismatch(reference_shape, &a, &b32, &c) != Ok(None) {
                return Err("a resident f32 matmul is outside the tolerance");
            }
        }
        if let Some(device) = device_of(route) {
            let placed = resident::residents()
                .iter()
                .filter(|info| info.placed_mask & (1 << device) != 0)
                .count();
            let bytes = tensor::devices()[usize::from(device)].resident_bytes;
            if placed != 2 || bytes < (k * n * 5) as u64 {
                log::error!("device {device}: {placed} placed, {bytes} resident bytes");
                return Err("resident tensors were not placed on the device");
            }
        }
    }
    // A wrong shape or element type is refused; a foreign or released ID is unknown.
    let tensor = resident::lookup(pid, i8_id).map_err(|_| "lookup")?;
    let wrong = MatmulShape::new(m, n, k, 1, 4).map_err(|_| "shape")?;
    let mut c = alloc::vec![0i32; m * k];
    if tensor::matmul_i8_resident(
        &wrong,
        &numbers.i8s(m * n),
        &tensor,
        &mut c,
        &JobOptions::default(),
    )
    .map(|_| ())
        != Err(AccelError::InvalidArgument)
    {
        return Err("a resident tensor of another shape was accepted");
    }
    let floats = resident::lookup(pid, f32_id).map_err(|_| "lookup")?;
    let mut c = alloc::vec![0i32; m * n];
    if tensor::matmul_i8_resident(
        &shape_i8,
        &numbers.i8s(m * k),
        &floats,
        &mut c,
        &JobOptions::default(),
    )
    .map(|_| ())
        != Err(AccelError::InvalidArgument)
    {
        return Err("an f32 resident tensor was accepted as i8");
    }
    if resident::lookup(pid + 1, i8_id).is_ok() {
        return Err("another agent found this agent's tensor");
    }
    let before: Vec<u64> = tensor::devices()
        .iter()
        .map(|device| device.resident_bytes)
        .collect();
    resident::release(pid, i8_id).map_err(|_| "release")?;
    resident::release(pid, f32_id).map_err(|_| "release")?;
    let after: Vec<u64> = tensor::devices()
        .iter()
        .map(|device| device.resident_bytes)
        .collect();
    if resident::release(pid, i8_id) != Err(AccelError::NotFound)
        || resident::lookup(pid, i8_id).is_ok()
        || after
            .iter()
            .zip(&before)
            .any(|(after, before)| after > before)
        || after.iter().sum::<u64>() != 0
    {
        log::error!("resident bytes before {before:?}, after {after:?}");
        return Err("a released tensor stayed");
    }
    log::info!(
        "resident tensors right on {} routes, placed once per device, released",
        routes.len()
    );
    Ok(())
}

fn check_refusals(doorbells: bool) -> Result<(), &'static str> {
    let refused = |dims: (usize, usize, usize), bytes: usize| {
        MatmulShape::new(dims.0, dims.1, dims.2, bytes, 4) == Err(AccelError::InvalidArgument)
    };
    let max = tensor::MAX_DIMENSION;
    if !(refused((0, 1, 1), 1)
        && refused((1, 0, 1), 4)
        && refused((1, 1, max + 1), 4)
        && refused((max, max, max), 1)
        && refused((1, usize::MAX, 1), 4))
    {
        return Err("a shape outside the limits was accepted");
    }
    let shape = MatmulShape::new(2, 2, 2, 1, 4).expect("2x2");
    let mut c = [0i32; 4];
    let short = tensor::matmul_i8(&shape, &[1; 3], &[1; 4], &mut c, &JobOptions::default());
    if short.map(|_| ()) != Err(AccelError::InvalidArgument) {
        return Err("an operand of the wrong length was accepted");
    }
    let interrupt = JobOptions {
        completion: Completion::Interrupt,
        ..JobOptions::default()
    };
    let by_interrupt = tensor::matmul_i8(&shape, &[1; 4], &[1; 4], &mut c, &interrupt);
    match (doorbells, by_interrupt) {
        (false, Err(AccelError::NoInterrupt)) => {}
        (false, _) => return Err("interrupt completion was accepted without doorbells"),
        (true, Ok(outcome)) if matches!(outcome.route, Route::Interrupt(_)) && c == [2; 4] => {}
        (true, _) => return Err("interrupt completion failed with doorbells"),
    }
    Ok(())
}

/// Two callers with large device-only jobs at once: both devices serve.
fn check_two_callers() -> Result<(), &'static str> {
    let before: Vec<u64> = tensor::devices().iter().map(|device| device.jobs).collect();
    FINISHED.store(0, Ordering::Relaxed);
    for caller in 0..2u64 {
        task::spawn("caller", ClassHint::Interactive, move || {
            let mut numbers = Numbers(0xC0FF_EE00 + caller);
            let options = JobOptions {
                allow_cpu: false,
                ..JobOptions::default()
            };
            // Large enough that the backend works longer than a caller's
            // first 200 us of spinning (it then yields, and the other caller
            // finds the device busy): 96^3 finished within the spin once
            // operands moved in bulk and the backend's i8 took the GEMM.
            // Whole results are checked elsewhere; here a row and a column
            // (a full reference of 256^3 would dwarf the device time).
            let n = 256;
            let shape = MatmulShape::new(n, n, n, 1, 4).unwrap_or_else(|_| testing::fail("shape"));
            for _ in 0..8 {
                let a = numbers.i8s(n * n);
                let b = numbers.i8s(n * n);
                let mut c = alloc::vec![0i32; n * n];
                if tensor::matmul_i8(&shape, &a, &b, &mut c, &options).is_err() {
                    testing::fail("a large i8 matmul failed");
                }
                let element = |row: usize, column: usize| -> i32 {
                    (0..n)
                        .map(|p| i32::from(a[row * n + p]) * i32::from(b[p * n + column]))
                        .sum()
                };
                let right = (0..n).all(|j| c[(n - 1) * n + j] == element(n - 1, j))
                    && (0..n).all(|i| c[i * n] == element(i, 0));
                if !right {
                    testing::fail("a large i8 matmul differs from the reference");
                }
            }
            FINISHED.fetch_add(1, Ordering::Relaxed);
        })
        .map_err(|_| "spawn")?;
    }
    while FINISHED.load(Ordering::Relaxed) < 2 {
        task::sleep_us(10_000);
    }
    let after: Vec<u64> = tensor::devices().iter().map(|device| device.jobs).collect();
    let served: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    log::info!("two callers: jobs per device {served:?}");
    if served.len() != 2 || served.contains(&0) {
        return Err("two callers did not use both devices");
    }
    Ok(())
}

/// Side of the square resident tensor of [`resident_product`].
const KEPT_SIDE: usize = 48;

/// One product with resident tensor `id` (`KEPT_SIDE` square, `i8`) on
/// device 1, polled, checked against the reference.
fn resident_product(id: u64, numbers: &mut Numbers) -> Result<(), &'static str> {
    use kernel::accel::resident;
    let tensor = resident::lookup(task::current_pid(), id).map_err(|_| "lookup")?;
    let b: Vec<i8> = tensor.bytes.iter().map(|byte| *byte as i8).collect();
    let side = KEPT_SIDE;
    let a = numbers.i8s(side * side);
    let mut c = alloc::vec![0i32; side * side];
    let mut expected = alloc::vec![0i32; side * side];
    let shape = Shape {
        m: side,
        k: side,
        n: side,
    };
    reference::matmul_i8(shape, &a, &b, &mut expected).map_err(|_| "reference")?;
    let checked = MatmulShape::new(side, side, side, 1, 4).map_err(|_| "shape")?;
    tensor::matmul_i8_resident(&checked, &a, &tensor, &mut c, &pinned(Route::Poll(1)))
        .map_err(|_| "a resident product on device 1 failed")?;
    if c != expected {
        return Err("a resident product on device 1 is wrong");
    }
    Ok(())
}

fn check_backend_loss(numbers: &mut Numbers, doorbells: bool) -> Result<(), &'static str> {
    let losses_before = tensor::devices()[1].losses;
    // A resident tensor placed on device 1 before its backend dies.
    let kept = kernel::accel::resident::upload(
        task::current_pid(),
        tensor_ring::Element::I8,
        (KEPT_SIDE, KEPT_SIDE),
        numbers
            .i8s(KEPT_SIDE * KEPT_SIDE)
            .iter()
            .map(|value| *value as u8)
            .collect(),
        None,
    )
    .map_err(|_| "upload")?;
    resident_product(kept, numbers)?;
    let on_device_1 = if doorbells {
        Route::Interrupt(1)
    } else {
        Route::Poll(1)
    };
    kernel::println!("HARNESS tensor-backend kill 1");
    let started = time::now_us();
    // Device-1 jobs until one fails (the kill lands a little later).
    let failed_after = loop {
        let call_start = time::now_us();
        let dims = (64, 64, 64);
        let shape = MatmulShape::new(dims.0, dims.1, dims.2, 1, 4).expect("shape");
        let a = numbers.i8s(dims.0 * dims.1);
        let b = numbers.i8s(dims.1 * dims.2);
        let mut c = alloc::vec![0i32; dims.0 * dims.2];
        let result = tensor::matmul_i8(&shape, &a, &b, &mut c, &pinned(on_device_1));
        let took = time::now_us() - call_start;
        match result {
            Ok(_) => {
                if time::now_us() - started > LOSS_LIMIT_US {
                    return Err("device 1 still answered long after its backend was killed");
                }
                task::sleep_us(20_000);
            }
            Err(error) => {
                log::info!("device 1 after the kill: {error:?} after {took} us");
                if took > LOSS_LIMIT_US {
                    return Err("a job on a dead backend took longer than the heartbeat bound");
                }
                if !matches!(
                    error,
                    AccelError::Timeout | AccelError::DeviceFault | AccelError::NoDevice
                ) {
                    return Err("a job on a dead backend failed with an unexpected error");
                }
                break time::now_us() - started;
            }
        }
    };
    let state = tensor::devices()[1].state;
    log::info!("device 1 failed {failed_after} us after the kill line; state {state:?}");
    if state != TensorState::Lost || tensor::devices()[1].losses != losses_before + 1 {
        return Err("device 1 was not marked lost");
    }
    // Adaptive calls go on without it, quickly, and right.
    for _ in 0..10 {
        let call_start = time::now_us();
        check_shape((64, 64, 64), &JobOptions::default(), None, numbers)?;
        if time::now_us() - call_start > tensor::HEARTBEAT_STALL_US {
            return Err("an adaptive call waited for the dead device");
        }
    }
    let device_only = JobOptions {
        allow_cpu: false,
        ..JobOptions::default()
    };
    if device_of(check_shape((64, 64, 64), &device_only, None, numbers)?) != Some(0) {
        return Err("a device-only call did not go to the live device");
    }

    kernel::println!("HARNESS tensor-backend restart 1");
    let restart = time::now_us();
    loop {
        accel::recover();
        let info = tensor::devices()[1];
        if info.state == TensorState::Ready && info.attaches == 2 {
            break;
        }
        if time::now_us() - restart > RESTART_LIMIT_US {
            log::error!("device 1: {info:?}");
            return Err("the restarted backend was not attached again");
        }
        task::sleep_us(tensor::CHECK_INTERVAL_US);
    }
    log::info!(
        "device 1 attached again {} us after the restart line",
        time::now_us() - restart
    );
    for dims in SHAPES {
        check_shape(dims, &pinned(Route::Poll(1)), Some(Route::Poll(1)), numbers)?;
    }
    // The restarted device starts with an empty resident area: the tensor
    // placed before the kill is copied in again on its next use there.
    if tensor::devices()[1].resident_bytes != 0 {
        return Err("the re-attached device kept resident placements");
    }
    resident_product(kept, numbers)?;
    if tensor::devices()[1].resident_bytes == 0 {
        return Err("the resident tensor was not placed again after the restart");
    }
    kernel::accel::resident::release(task::current_pid(), kept).map_err(|_| "release")?;
    check_residents(&[Route::Poll(1)], numbers)?;
    if doorbells {
        // The server outlived the backend and gave the restarted one the
        // eventfds QEMU holds: doorbells both ways work again.
        if !tensor::devices()[1].doorbell {
            return Err("the restarted backend serves no doorbells");
        }
        let interrupts_before = tensor::devices()[1].interrupts;
        for dims in SHAPES {
            check_shape(
                dims,
                &pinned(Route::Interrupt(1)),
                Some(Route::Interrupt(1)),
                numbers,
            )?;
        }
        check_residents(&[Route::Interrupt(1)], numbers)?;
        // Interrupts may trail their completions (see `check_interrupts`).
        let deadline = time::now_us() + 200_000;
        while tensor::devices()[1].interrupts == interrupts_before && time::now_us() < deadline {
            task::sleep_us(1_000);
        }
        let interrupts = tensor::devices()[1].interrupts - interrupts_before;
        log::info!("device 1 after the restart: {interrupts} completion interrupts");
        if interrupts == 0 {
            return Err("no completion interrupt from the restarted backend");
        }
        check_interrupts(numbers)?;
    }
    Ok(())
}
