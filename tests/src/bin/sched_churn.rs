//! Churn: 100 000 context switches while agents are spawned and exit all the
//! time. Afterwards kernel heap usage is back at its starting level (no leak)
//! and the frame count is unchanged.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use kernel::{memory, task, testing};
use sched_rl::ClassHint;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// Context switches to reach.
const TARGET_SWITCHES: u64 = 100_000;
/// Agents spawned per round.
const AGENTS_PER_ROUND: usize = 8;
/// Yields each short-lived agent does before exiting.
const YIELDS_PER_AGENT: usize = 50;

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "sched_churn");
    task::init(task::policy_by_name("q-learning").expect("policy"));
    task::spawn("controller", ClassHint::Interactive, controller).expect("spawn controller");
    task::run()
}

fn round() {
    for index in 0..AGENTS_PER_ROUND {
        let spawned = task::spawn("churn", ClassHint::Unknown, move || {
            for _ in 0..YIELDS_PER_AGENT + index {
                task::yield_now();
            }
            if index % 2 == 1 {
                task::exit(index as i64);
            }
        });
        if let Err(error) = spawned {
            kernel::println!("spawn failed: {error:?}");
            testing::fail("spawn failed");
        }
    }
    while task::live_agents() > 1 {
        task::yield_now();
    }
    // Let the last exited agent be freed at the next switch.
    task::yield_now();
    task::yield_now();
}

fn controller() {
    round();
    let heap_start = memory::heap::stats().used;
    let frames_start = memory::frame::stats().allocated_frames;
    let stacks_start = memory::stack::live_stacks();
    let mut rounds = 1;
    while task::counters().switches < TARGET_SWITCHES {
        round();
        rounds += 1;
    }
    let counters = task::counters();
    let heap_end = memory::heap::stats().used;
    let frames_end = memory::frame::stats().allocated_frames;
    let stacks_end = memory::stack::live_stacks();
    kernel::println!(
        "{rounds} rounds, {} agents spawned, {} exited, {} switches; heap {heap_start} -> {heap_end} bytes, \
         frames {frames_start} -> {frames_end}, stacks {stacks_start} -> {stacks_end}",
        counters.spawned,
        counters.exited,
        counters.switches
    );
    if counters.exited + 1 != counters.spawned {
        testing::fail("not every spawned agent exited");
    }
    if heap_end != heap_start {
        testing::fail("kernel heap usage did not return to its starting level");
    }
    if frames_end != frames_start || stacks_end != stacks_start {
        testing::fail("frames or stacks leaked");
    }
    testing::pass()
}
