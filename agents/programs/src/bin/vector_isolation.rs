//! Vector-register isolation: fills every xmm register (ymm with AVX) and
//! MXCSR with values of its own, gives the CPU away (a `yield`, then a spin
//! that preemption may cut), and checks that it reads back exactly its own
//! values, for [`ROUNDS`] rounds. Several copies run at once; exits 0 when
//! every round read back its own registers.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{
    println,
    raw::read_timestamp_counter,
    vector::{self, Pattern, REGISTERS},
};

agent_lib::agent_main!(main);

/// Rounds, each with a yield and a spin.
pub const ROUNDS: u64 = 3000;
/// MXCSR flag bits (sticky exception flags), which the probe may set.
const MXCSR_FLAGS: u32 = 0x3F;

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn main() -> i64 {
    let avx = vector::avx_usable();
    let lanes_checked = if avx { 4 } else { 2 };
    // Distinct per copy: the time it started and where its stack lies.
    let marker = 0u8;
    let mut state = read_timestamp_counter() ^ (&marker as *const u8 as u64).rotate_left(32);
    for round in 0..ROUNDS {
        let mut pattern = Pattern {
            lanes: [[0; 4]; REGISTERS],
            // Default masks, a rounding mode of its own (RC, bits 13-14).
            mxcsr: 0x1F80 | ((next(&mut state) as u32 & 3) << 13),
        };
        for row in pattern.lanes.iter_mut() {
            for lane in row.iter_mut() {
                *lane = next(&mut state);
            }
        }
        let spin = 100 + next(&mut state) % 4000;
        let seen = vector::hold_across_yield(&pattern, avx, spin);
        for register in 0..REGISTERS {
            let wanted = &pattern.lanes[register][..lanes_checked];
            let got = &seen.lanes[register][..lanes_checked];
            if wanted != got {
                println!(
                    "vector_isolation: round {round}: register {register} holds {got:x?}, expected {wanted:x?}"
                );
                return 2;
            }
        }
        if seen.mxcsr & !MXCSR_FLAGS != pattern.mxcsr {
            println!(
                "vector_isolation: round {round}: MXCSR {:#x}, expected {:#x}",
                seen.mxcsr, pattern.mxcsr
            );
            return 3;
        }
    }
    println!(
        "vector_isolation: {ROUNDS} rounds, {} registers of {} bits each read back",
        REGISTERS,
        lanes_checked * 64
    );
    0
}
