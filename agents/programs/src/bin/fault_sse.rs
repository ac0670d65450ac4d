//! Faults on purpose: an SSE divide by zero with the exception unmasked
//! (#XM). Only this agent may end; the others keep their vector state.
//!
//! Exit status when the division did not trap: 4 if MXCSR shows the
//! divide-by-zero flag (a CPU model that records SIMD exceptions but does
//! not raise them: QEMU's TCG does this), 1 otherwise.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::vector;

agent_lib::agent_main!(main);

/// Exit status: the flag is set but no #XM came.
pub const FLAGGED_WITHOUT_TRAP: i64 = 4;

fn main() -> i64 {
    agent_lib::raw::fault::simd_divide_by_zero();
    if vector::mxcsr() & vector::MXCSR_ZERO_DIVIDE_FLAG != 0 {
        FLAGGED_WITHOUT_TRAP
    } else {
        1
    }
}
