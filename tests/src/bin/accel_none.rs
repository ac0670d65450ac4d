//! No `edu` device and no tensor device: operations report the documented
//! error, the CPU path serves when allowed (factorials, copies, matmuls), and a kill of an agent holding a CPU-route copy
//! buffer waits until the buffer is dropped, so no heap byte is lost.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_abi::Error;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bootloader_api::{BootInfo, entry_point};
use kernel::accel::{self, AccelError, Completion, JobOptions, Route};
use kernel::task;
use kernel::{memory, testing, time};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "accel_none");
    if !accel::devices().is_empty() {
        testing::fail("no edu device expected");
    }
    let device_only = JobOptions {
        allow_cpu: false,
        ..JobOptions::default()
    };
    if accel::factorial(5, &device_only) != Err(AccelError::NoDevice) {
        testing::fail("factorial without device and CPU path did not say NoDevice");
    }
    // The documented ABI code: `NoDevice` is -14 (see `agent_abi::Error`).
    if Error::from(AccelError::NoDevice) != Error::NoDevice || Error::NoDevice as i64 != -14 {
        testing::fail("NoDevice does not map to the ABI's NoDevice (-14)");
    }
    if !matches!(
        accel::copy_to_device(&[1, 2, 3], &device_only),
        Err(AccelError::NoDevice)
    ) {
        testing::fail("copy without device did not say NoDevice");
    }
    match accel::factorial(10, &JobOptions::default()) {
        Ok(outcome) if outcome.value == 3_628_800 && outcome.route == Route::Cpu => {}
        other => {
            log::error!("{other:?}");
            testing::fail("CPU path did not serve the factorial");
        }
    }
    let data = [9u8; 300];
    let cpu_only = cpu_only();
    let buffer = match accel::copy_to_device(&data, &cpu_only) {
        Ok(outcome) => outcome.value,
        Err(error) => {
            log::error!("{error:?}");
            testing::fail("CPU path did not take the copy");
        }
    };
    let mut back = [0u8; 300];
    if accel::copy_from_device(&buffer, &mut back, &cpu_only).is_err() || back != data {
        testing::fail("CPU-side buffer lost data");
    }
    drop(buffer);
    check_matmuls();
    task::init(task::policy_by_name("round-robin").expect("policy"));
    task::spawn("killer", ClassHint::Interactive, || match kill_holder() {
        Ok(()) => testing::pass(),
        Err(reason) => testing::fail(reason),
    })
    .expect("spawn killer");
    task::run()
}

/// Matmuls without a tensor device: on the CPU when allowed (and right),
/// `NoDevice` when not.
fn check_matmuls() {
    use accel::tensor::{self, MatmulShape};
    if tensor::count() != 0 {
        testing::fail("no tensor device expected");
    }
    let shape = MatmulShape::new(2, 3, 2, 1, 4).expect("small shape");
    let (a, b) = ([1i8, -2, 3, -128, 127, 0], [4i8, 5, -6, 7, -128, -128]);
    let mut c = [0i32; 4];
    match tensor::matmul_i8(&shape, &a, &b, &mut c, &JobOptions::default()) {
        Ok(outcome) if outcome.route == Route::Cpu && c == [-368, -393, -1274, 249] => {}
        other => {
            log::error!("{other:?} {c:?}");
            testing::fail("the CPU did not serve the matmul without a device");
        }
    }
    let device_only = JobOptions {
        allow_cpu: false,
        ..JobOptions::default()
    };
    if tensor::matmul_i8(&shape, &a, &b, &mut c, &device_only).map(|_| ())
        != Err(AccelError::NoDevice)
    {
        testing::fail("a device-only matmul without a device did not say NoDevice");
    }
}

/// The holder's pid once it holds a CPU-route buffer.
static HOLDER: AtomicU64 = AtomicU64::new(0);
/// Set by the killer after its kill: the holder may drop the buffer.
static RELEASE: AtomicBool = AtomicBool::new(false);
/// Set by the holder if it runs on past the drop of the buffer.
static SURVIVED: AtomicBool = AtomicBool::new(false);

fn cpu_only() -> JobOptions {
    JobOptions {
        completion: Completion::Cpu,
        ..JobOptions::default()
    }
}

/// Holds a CPU-route copy buffer (heap memory its stack frame owns) until
/// the killer has killed it, spinning (it must not block while it holds
/// one), then drops it.
fn holder() {
    let data = [5u8; 1024];
    let buffer = match accel::copy_to_device(&data, &cpu_only()) {
        Ok(outcome) => outcome.value,
        Err(_) => testing::fail("CPU path did not take the copy"),
    };
    HOLDER.store(task::current_pid(), Ordering::Release);
    let deadline = time::now_us() + 5_000_000;
    while !RELEASE.load(Ordering::Acquire) && time::now_us() < deadline {
        core::hint::spin_loop();
    }
    drop(buffer);
    SURVIVED.store(true, Ordering::Release);
}

fn kill_holder() -> Result<(), &'static str> {
    let heap_before = memory::heap::stats().used;
    task::spawn("holder", ClassHint::Batch, holder).map_err(|_| "cannot spawn the holder")?;
    let deadline = time::now_us() + 5_000_000;
    let pid = loop {
        match HOLDER.load(Ordering::Acquire) {
            0 if time::now_us() > deadline => return Err("the holder never held a buffer"),
            0 => task::sleep_us(1_000),
            pid => break pid,
        }
    };
    task::kill(pid).map_err(|_| "the kill of the holder was refused")?;
    task::sleep_us(20_000);
    if !task::agents().iter().any(|agent| agent.pid == pid) {
        return Err("the holder ended while it held a CPU-route buffer (its bytes leak)");
    }
    RELEASE.store(true, Ordering::Release);
    match task::wait_child(pid) {
        Some(task::KILLED_STATUS) => {}
        Some(_) => return Err("the holder ended, but not by the kill"),
        None => return Err("lost the holder"),
    }
    if SURVIVED.load(Ordering::Acquire) {
        return Err("the holder ran on after its deferred kill");
    }
    let deadline = time::now_us() + 1_000_000;
    while memory::heap::stats().used != heap_before {
        if time::now_us() > deadline {
            kernel::println!(
                "heap: {} bytes before the holder, {} after its kill",
                heap_before,
                memory::heap::stats().used
            );
            return Err("heap bytes were lost to the kill");
        }
        task::sleep_us(10_000);
    }
    kernel::println!("accel_none: a kill waited for the CPU-route buffer; heap back");
    Ok(())
}
