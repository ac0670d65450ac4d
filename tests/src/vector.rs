//! The vector-state test (`user_vector`, and `user_vector_xsave` under
//! `-cpu max`): copies of `vector_isolation` keep values of their own in
//! every xmm/ymm register and MXCSR across thousands of switches between
//! them (and through kernel agents), while agents that trip an unmasked SSE
//! or x87 divide by zero end with #XM/#MF and nothing else does.

use agent_abi::CapabilitySet;
use kernel::{arch::vector, task, testing, user::FAULT_STATUS_BASE};
use sched_rl::ClassHint;

/// Copies of `vector_isolation` running at once.
const COPIES: usize = 3;
/// Vector hand-overs (save + restore) the run must at least make.
const MIN_VECTOR_SWITCHES: u64 = 2_000;
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
        // disturb the user agents' registers.
        task::spawn("kernel-spinner", ClassHint::Batch, || {
            while task::live_agents() > 2 {
                core::hint::spin_loop();
                task::yield_now();
            }
        })
        .expect("spawn spinner");
        let mut copies = [0u64; COPIES];
        for copy in copies.iter_mut() {
            *copy = kernel::user::spawn("vector_isolation", CapabilitySet::ALL, parent)
                .expect("spawn vector_isolation");
        }
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
