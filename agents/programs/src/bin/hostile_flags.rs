//! Hostile: syscalls with RFLAGS DF, AC, NT and then TF set. The kernel
//! clears them on entry (SFMASK), so its copies stay correct (the stats it
//! writes with DF set match those written without), and TF makes only one
//! single-step trap in ring 3, which the kernel answers by clearing TF.
//! Exits 0 when every answer was right, else the number of the failed check.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Syscall, abi, raw};

agent_lib::agent_main!(main);

/// RFLAGS.TF, DF, AC, NT.
const TF: u64 = 1 << 8;
const DF: u64 = 1 << 10;
const AC: u64 = 1 << 18;
const NT: u64 = 1 << 14;

/// Reads the agent's own stats with `flags` set during the syscall.
fn agent_stats(flags: u64) -> Option<abi::AgentStats> {
    let mut words = [0u64; abi::MAX_STATS_WORDS];
    let bytes = raw::syscall_with_flags(
        Syscall::Stats as u64,
        abi::StatsKind::Agent as u64,
        words.as_mut_ptr() as u64,
        words.len() as u64 * abi::STATS_WORD_BYTES,
        flags,
    );
    let count = usize::try_from(bytes).ok()? / abi::STATS_WORD_BYTES as usize;
    use abi::StatsReply;
    abi::AgentStats::from_words(words.get(..count)?).ok()
}

fn main() -> i64 {
    let Some(plain) = agent_stats(0) else {
        return 10;
    };
    for (check, flags) in [(11, DF), (12, AC), (13, NT), (14, DF | AC | NT), (15, TF)] {
        let Some(hostile) = agent_stats(flags) else {
            return check;
        };
        if hostile.id != plain.id || hostile.syscalls <= plain.syscalls {
            return check + 10;
        }
    }
    let before = agent_lib::clock_us();
    let clock = raw::syscall_with_flags(Syscall::Clock as u64, 0, 0, 0, TF | DF | AC | NT);
    if clock < before as i64 {
        return 30;
    }
    0
}
