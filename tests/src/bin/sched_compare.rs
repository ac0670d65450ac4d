//! Q-learning against round robin on the demo workload, in one boot: the same
//! agents run for [`RUN_TICKS`] ticks under each policy. Under Q-learning the
//! interactive agents must get a better p99 response time, and no runnable
//! agent may wait past the watchdog's bound under either policy.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use bootloader_api::{BootInfo, entry_point};
use kernel::{demo, task, testing, time};
use sched_rl::{ClassHint, policy::watchdog::DEFAULT_WAIT_BOUND_US};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// Ticks each policy runs the workload.
const RUN_TICKS: u64 = 10_000;
/// Workload size.
const INFERENCE_AGENTS: u64 = 3;
/// Workload size.
const TRAINING_AGENTS: u64 = 3;

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel_tests::start(boot_info, "sched_compare");
    task::init(task::policy_by_name("round-robin").expect("policy"));
    demo::calibrate_work();
    task::spawn("controller", ClassHint::Interactive, controller).expect("spawn controller");
    task::run()
}

/// Result of one policy's run.
struct Outcome {
    p50_us: u64,
    p99_us: u64,
    samples: u64,
    longest_wait_us: u64,
    fallbacks: u32,
}

fn run_workload(policy: &str) -> Outcome {
    task::replace_policy(task::policy_by_name(policy).expect("policy"));
    task::reset_statistics();
    demo::allow();
    demo::spawn_workload(INFERENCE_AGENTS, TRAINING_AGENTS);
    let start = time::ticks();
    while time::ticks() < start + RUN_TICKS {
        task::sleep_us(100_000);
    }
    let (responses, longest_wait_us) =
        task::response_times(|class| class == ClassHint::Interactive);
    let fallbacks = task::policy_stats().map_or(0, |stats| stats.fallbacks);
    kernel::println!("--- {policy} after {} ticks ---", time::ticks() - start);
    task::status::print();
    demo::stop();
    // Wait for the workload to wind down (the controller stays).
    while task::live_agents() > 1 {
        task::sleep_us(10_000);
    }
    Outcome {
        p50_us: responses.percentile(50),
        p99_us: responses.percentile(99),
        samples: responses.count(),
        longest_wait_us,
        fallbacks,
    }
}

fn controller() {
    let round_robin = run_workload("round-robin");
    let learned = run_workload("q-learning");
    kernel::println!(
        "interactive response: round-robin p50 {} us p99 {} us ({} bursts); \
         q-learning p50 {} us p99 {} us ({} bursts)",
        round_robin.p50_us,
        round_robin.p99_us,
        round_robin.samples,
        learned.p50_us,
        learned.p99_us,
        learned.samples
    );
    kernel::println!(
        "longest wait: round-robin {} us, q-learning {} us (bound {DEFAULT_WAIT_BOUND_US} us)",
        round_robin.longest_wait_us,
        learned.longest_wait_us
    );
    if round_robin.samples < 100 || learned.samples < 100 {
        testing::fail("too few interactive bursts measured");
    }
    if learned.longest_wait_us > DEFAULT_WAIT_BOUND_US || learned.fallbacks > 0 {
        testing::fail("q-learning let a runnable agent wait past the bound");
    }
    if round_robin.longest_wait_us > DEFAULT_WAIT_BOUND_US {
        testing::fail("round robin let a runnable agent wait past the bound");
    }
    if learned.p99_us >= round_robin.p99_us {
        testing::fail("q-learning did not beat round robin on interactive p99");
    }
    testing::pass()
}
