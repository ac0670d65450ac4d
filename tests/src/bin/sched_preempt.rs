//! Preemption: an agent that spins forever cannot keep the others from running.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use bootloader_api::{BootInfo, entry_point};
use kernel::{task, testing, time};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

static SPINNER_LOOPS: AtomicU64 = AtomicU64::new(0);
static COUNTER_LOOPS: AtomicU64 = AtomicU64::new(0);
/// How long the controller lets the two agents compete.
const RUN_US: u64 = 500_000;

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "sched_preempt");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("spinner", ClassHint::Interactive, || {
        // Claims to be interactive, never yields: the hint must not help it.
        loop {
            SPINNER_LOOPS.fetch_add(1, Ordering::Relaxed);
        }
    })
    .expect("spawn spinner");
    task::spawn("counter", ClassHint::Batch, || {
        loop {
            COUNTER_LOOPS.fetch_add(1, Ordering::Relaxed);
        }
    })
    .expect("spawn counter");
    task::spawn("controller", ClassHint::Interactive, controller).expect("spawn controller");
    task::run()
}

fn controller() {
    let start = time::now_us();
    task::sleep_us(RUN_US);
    let slept = time::now_us() - start;
    let spinner = SPINNER_LOOPS.load(Ordering::Relaxed);
    let counter = COUNTER_LOOPS.load(Ordering::Relaxed);
    log::info!("after {slept} us: spinner {spinner} loops, counter {counter} loops");
    task::status::print();
    if spinner == 0 || counter == 0 {
        testing::fail("an agent never ran");
    }
    // Both CPU-bound agents should get a comparable share.
    if counter < spinner / 10 || spinner < counter / 10 {
        testing::fail("CPU shares of two spinning agents differ more than tenfold");
    }
    testing::pass()
}
