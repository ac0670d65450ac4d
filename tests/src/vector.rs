//! The vector-state test (`user_vector`, and `user_vector_xsave` under
//! `-cpu max`): copies of `vector_isolation` keep values of their own in
//! every xmm/ymm register and MXCSR across thousands of switches between
//! them (and through kernel agents), while agents that trip an unmasked SSE
//! or x87 divide by zero end with #XM/#MF and nothing else does. A kernel
//! agent in the rotation uses the vector unit through the kernel's bracket
//! (`task::with_kernel_vector`) and scrambles every register inside it.

use core::sync::atomic::{AtomicBool, Ordering};

use agent_abi::CapabilitySet;
use kernel::{arch::vector, task, testing, user::FAULT_STATUS_BASE};
use sched_rl::ClassHint;

/// Copies of `vector_isolation` running at once.
const COPIES: usize = 3;
/// Vector hand-overs (save + restore) the run must at least make.
const MIN_VECTOR_SWITCHES: u64 = 2_000;
/// Set once the `vector_isolation` copies run: the kernel agent runs its
/// sections until they and the controller's other children have ended.
static COPIES_STARTED: AtomicBool = AtomicBool::new(false);
/// Floats in the kernel agent's dot products (not a multiple of four:
/// the SSE loop and the tail both run).
const KERNEL_DOT_LENGTH: usize = 37;
/// Kernel vector sections the kernel agent must at least run.
const MIN_KERNEL_SECTIONS: u64 = 200;
/// Faulting programs run meanwhile, and the vector each must end with.
const FAULTS: [(&str, i64); 3] = [
    ("fault_x87", 16),
    ("fault_sse_align", 13),
    ("fault_sse", 19),
];
/// `fault_sse`'s status where the CPU records the SIMD exception in MXCSR
/// but raises no #XM (QEMU's TCG): accepted, and reported.
const SSE_FLAGGED_WITHOUT_TRAP: i64 = 4;

/// Runs the test; `xsave`: whether the CPU must offer XSAVE (and AVX).
pub fn run(xsave: bool) -> ! {
    task::init(task::policy_by_name("round-robin").expect("policy"));
    let unit = vector::unit();
    kernel::println!("{unit}");
    let wanted = if xsave {
        vector::SaveMode::Xsave
    } else {
        vector::SaveMode::Fxsave
    };
    if unit.mode != wanted || (xsave && !unit.has_avx()) {
        testing::fail("the vector unit is not what this CPU model offers");
    }
    task::spawn("controller", ClassHint::Interactive, || {
        let parent = task::current_pid();
        let before = task::counters().vector_switches;
        // A kernel agent in the rotation: switches through it must not
        // disturb the user agents' registers, and neither may its use of
        // the vector unit (dot products, then every register scrambled)
        // inside the kernel's bracket, which holds the last user agent's
        // live values at that moment.
        task::spawn("kernel-vector", ClassHint::Batch, || {
            let a: [f32; KERNEL_DOT_LENGTH] = core::array::from_fn(|i| i as f32 + 1.0);
            let b: [f32; KERNEL_DOT_LENGTH] = core::array::from_fn(|i| (i % 7) as f32 - 3.0);
            // Exact in f32: every product and partial sum is a small integer.
            let expected: i64 = (0..KERNEL_DOT_LENGTH as i64)
                .map(|i| (i + 1) * (i % 7 - 3))
                .sum();
            let mut sections = 0u64;
            while !COPIES_STARTED.load(Ordering::Acquire) || task::live_agents() > 2 {
                let dot = task::with_kernel_vector(|unit| {
                    let dot = unit.dot_f32(&a, &b);
                    unit.scramble(sections);
                    dot
                });
                match dot {
                    Some(dot) if dot == expected as f32 => sections += 1,
                    other => {
                        kernel::println!("kernel dot product {other:?}, expected {expected}");
                        testing::fail("the kernel's vector section computed a wrong result");
                    }
                }
                task::yield_now();
            }
            kernel::println!("kernel vector sections: {sections}, each result exact");
            if sections < MIN_KERNEL_SECTIONS {
                testing::fail("too few kernel vector sections to show the bracket");
            }
        })
        .expect("spawn kernel-vector");
        let mut copies = [0u64; COPIES];
        for copy in copies.iter_mut() {
            *copy = kernel::user::spawn("vector_isolation", CapabilitySet::ALL, parent)
                .expect("spawn vector_isolation");
        }
        COPIES_STARTED.store(true, Ordering::Release);
        for (program, fault) in FAULTS {
            let status = crate::run_program(program, CapabilitySet::ALL);
            kernel::println!("{program}: exit status {status}");
            if program == "fault_sse" && status == SSE_FLAGGED_WITHOUT_TRAP {
                kernel::println!(
                    "fault_sse: this CPU model sets MXCSR.ZE without raising #XM (QEMU TCG)"
                );
                continue;
            }
            if status != FAULT_STATUS_BASE - fault {
                testing::fail("a vector fault did not end its agent with its vector");
            }
        }
        for copy in copies {
            match task::wait_child(copy) {
                Some(0) => {}
                other => {
                    kernel::println!("vector_isolation ended with {other:?}");
                    testing::fail("an agent saw vector registers that were not its own");
                }
            }
        }
        let moved = task::counters().vector_switches - before;
        kernel::println!("vector state moved between user agents {moved} times");
        if moved < MIN_VECTOR_SWITCHES {
            testing::fail("too few vector hand-overs to show isolation");
        }
        testing::pass()
    })
    .expect("spawn controller");
    task::run()
}
