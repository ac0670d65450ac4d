//! Exercises the success path of every syscall; exits with the number of
//! the first check that failed (0 = all passed).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{
    Syscall,
    abi::{self, SyscallService},
    println,
};

agent_lib::agent_main!(main);

/// Bytes of a page.
const PAGE_BYTES: u64 = 4096;
/// Bytes of a word written to mapped memory.
const WORD_BYTES: usize = 8;
/// The word read back from mapped memory.
const SAMPLE_WORD: usize = 1000;

fn fail(step: i64, what: &str) -> i64 {
    println!("syscalls: step {step} failed: {what}");
    step
}

fn main() -> i64 {
    // clock + yield + sleep
    let before = agent_lib::clock_us();
    agent_lib::yield_now();
    if agent_lib::sleep_us(2_000).is_err() {
        return fail(1, "sleep");
    }
    let after = agent_lib::clock_us();
    if after < before + 2_000 {
        return fail(2, "clock did not advance by the sleep");
    }
    // log
    match agent_lib::log("syscalls: log works") {
        Ok(19) => {}
        _ => return fail(3, "log length"),
    }
    // map, write, read back after a switch, unmap
    let Ok(mut mapping) = agent_lib::map(3 * PAGE_BYTES, abi::MAP_WRITE) else {
        return fail(4, "map");
    };
    let Some(bytes) = mapping.bytes_mut() else {
        return fail(4, "mapping not writable");
    };
    for (index, word) in bytes.as_chunks_mut::<WORD_BYTES>().0.iter_mut().enumerate() {
        *word = (index as u64 * 3).to_le_bytes();
    }
    // Another agent may run meanwhile: the memory must keep what was written.
    agent_lib::yield_now();
    let sample = mapping
        .bytes()
        .as_chunks::<WORD_BYTES>()
        .0
        .get(SAMPLE_WORD)
        .map(|word| u64::from_le_bytes(*word));
    if sample != Some(SAMPLE_WORD as u64 * 3) {
        return fail(5, "mapped memory");
    }
    if mapping.unmap().is_err() {
        return fail(6, "unmap");
    }
    // stats
    match agent_lib::stats::<abi::AgentStats>() {
        Ok(stats) if stats.id != 0 && stats.syscalls >= 5 => {}
        other => {
            println!("syscalls: agent stats {other:?}");
            return fail(7, "agent stats");
        }
    }
    match agent_lib::stats::<abi::SchedulerStats>() {
        Ok(stats) if stats.decisions > 0 && stats.live_agents >= 1 => {}
        other => {
            println!("syscalls: scheduler stats {other:?}");
            return fail(8, "scheduler stats");
        }
    }
    match agent_lib::stats::<abi::SyscallTableStats>() {
        Ok(table)
            if table.get(Syscall::Map).calls >= 1
                && table.get(Syscall::Map).service == SyscallService::Direct
                && table.get(Syscall::AccelCopy).service == SyscallService::AdaptiveTable => {}
        other => {
            println!("syscalls: syscall table stats {other:?}");
            return fail(9, "syscall stats");
        }
    }
    // spawn + wait
    let Ok(child) = agent_lib::spawn("hello", None) else {
        return fail(10, "spawn");
    };
    match agent_lib::wait(child) {
        Ok(0) => {}
        _ => return fail(11, "wait"),
    }
    // send/receive/call/reply with a child: ipc_echo answers on endpoint 2.
    // Receive rights are granted, not inherited: ipc_echo gets endpoint 2.
    let Ok(echo) = agent_lib::spawn_granting("ipc_echo", 1 << 2) else {
        return fail(12, "spawn echo");
    };
    if agent_lib::send(2, b"ping").is_err() {
        return fail(13, "send");
    }
    let mut reply = [0u8; 64];
    match agent_lib::call(2, b"hello", &mut reply) {
        Ok(5) if &reply[..5] == b"HELLO" => {}
        _ => return fail(14, "call/reply"),
    }
    match agent_lib::wait(echo) {
        Ok(0) => {}
        _ => return fail(15, "echo exit"),
    }
    println!("syscalls: all passed");
    0
}
