//! Every pointer-validation case returns its documented error: null, kernel
//! address, non-canonical, unmapped, read-only for a write, length overflow,
//! over-long length. Exits with the number of the first wrong answer.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Error, Syscall, abi, check, println, raw};

agent_lib::agent_main!(main);

/// A read-only byte in this program's image.
static READ_ONLY: [u8; 16] = *b"read-only data!!";

fn expect(step: i64, result: i64, wanted: Error) -> Result<(), i64> {
    if check(result) == Err(wanted) {
        Ok(())
    } else {
        println!("pointers: step {step}: got {result}, wanted {wanted:?}");
        Err(step)
    }
}

fn run() -> Result<(), i64> {
    let log = |address: u64, length: u64| raw::syscall2(Syscall::Log, address, length);
    expect(1, log(0, 4), Error::NullPointer)?;
    expect(2, log(0xFFFF_8000_0000_1000, 8), Error::KernelAddress)?;
    expect(3, log(0x0000_9000_0000_0000, 8), Error::NotCanonical)?;
    expect(4, log(0x0000_5555_0000_0000, 8), Error::NotMapped)?;
    expect(5, log(u64::MAX - 4, 16), Error::Overflow)?;
    expect(
        6,
        log(READ_ONLY.as_ptr() as u64, abi::MAX_LOG_BYTES + 1),
        Error::TooLarge,
    )?;
    // A range that starts in a mapped page and runs into an unmapped one.
    let page = agent_lib::map(4096, abi::MAP_WRITE).map_err(|_| 7)?;
    expect(7, log(page.address() + 4096 - 8, 16), Error::NotMapped)?;
    // Writes: `wait`'s status pointer and `stats`' buffer are written.
    let read_only = READ_ONLY.as_ptr() as u64;
    expect(
        8,
        raw::syscall3(Syscall::Stats, 0, read_only, 64),
        Error::ReadOnly,
    )?;
    expect(
        9,
        raw::syscall3(Syscall::Stats, 0, 0, 64),
        Error::NullPointer,
    )?;
    expect(
        10,
        raw::syscall3(Syscall::Stats, 0, 0xFFFF_FFFF_FFFF_F000, 64),
        Error::KernelAddress,
    )?;
    expect(
        11,
        raw::syscall2(Syscall::Wait, 12345, read_only),
        Error::ReadOnly,
    )?;
    // A buffer too small for the stats record.
    let mut small = [0u64; 2];
    expect(
        12,
        raw::syscall3(Syscall::Stats, 0, small.as_mut_ptr() as u64, 16),
        Error::TooLarge,
    )?;
    // Unknown syscall numbers and bad arguments.
    expect(13, raw::raw6(999, 0, 0, 0, 0, 0, 0), Error::NoSuchSyscall)?;
    expect(
        14,
        raw::raw6(u64::MAX, 1, 2, 3, 4, 5, 6),
        Error::NoSuchSyscall,
    )?;
    expect(
        15,
        raw::syscall1(Syscall::Sleep, abi::MAX_SLEEP_US + 1),
        Error::InvalidArgument,
    )?;
    expect(
        16,
        raw::syscall3(Syscall::Map, 0, 4096, abi::MAP_WRITE | abi::MAP_EXECUTE),
        Error::InvalidArgument,
    )?;
    expect(
        17,
        raw::syscall2(Syscall::Unmap, 0x1000, 4096),
        Error::InvalidArgument,
    )?;
    expect(
        18,
        raw::syscall2(Syscall::Wait, 424242, small.as_ptr() as u64),
        Error::NotFound,
    )?;
    let name = "no-such-program";
    expect(
        19,
        raw::syscall3(Syscall::Spawn, name.as_ptr() as u64, name.len() as u64, 0),
        Error::NotFound,
    )?;
    expect(
        20,
        raw::syscall3(Syscall::Send, 99, read_only, 4),
        Error::InvalidArgument,
    )?;
    Ok(())
}

fn main() -> i64 {
    match run() {
        Ok(()) => {
            println!("pointers: every case answered as documented");
            0
        }
        Err(step) => step,
    }
}
