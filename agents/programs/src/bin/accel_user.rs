//! Accelerator syscalls from ring 3. Exit status tells what it found:
//! 0: a device served factorials (adaptive, polling, interrupt) and copy
//! round trips, all correct; 10: no device, `NoDevice` without the CPU
//! flag and correct results with it; 20: no accelerator capability
//! (`PermissionDenied`); anything else: a wrong answer.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{Error, abi, accel_copy as copy, accel_factorial as factorial, println};

agent_lib::agent_main!(main);

fn expected_factorial(input: u64) -> u64 {
    u64::from((1..=input as u32).fold(1u32, |product, factor| product.wrapping_mul(factor)))
}

fn check_factorials(flags: u64) -> bool {
    (0..=20).all(|input| {
        let answer = factorial(input, flags);
        let good = answer == Ok(expected_factorial(input));
        if !good {
            println!("accel_user: {input}! with flags {flags} gave {answer:?}");
        }
        good
    })
}

fn check_copies(flags: u64) -> bool {
    let mut source = [0u8; 4095];
    for (index, byte) in source.iter_mut().enumerate() {
        *byte = (index * 7 + 3) as u8;
    }
    [1usize, 100, 777, 4095].iter().all(|length| {
        let mut destination = [0u8; 4095];
        let copied = copy(&source[..*length], &mut destination[..*length], flags);
        let good = copied == Ok(*length as u64) && source[..*length] == destination[..*length];
        if !good {
            println!("accel_user: copy of {length} bytes with flags {flags} gave {copied:?}");
        }
        good
    })
}

fn main() -> i64 {
    match factorial(5, 0) {
        Err(Error::PermissionDenied) => 20,
        Err(Error::NoDevice) => {
            if copy(b"abc", &mut [0; 3], 0) != Err(Error::NoDevice) {
                return 2;
            }
            if check_factorials(abi::ACCEL_ALLOW_CPU) && check_copies(abi::ACCEL_ALLOW_CPU) {
                println!("accel_user: no device; the CPU path served every call");
                10
            } else {
                3
            }
        }
        Ok(120) => {
            let modes = [0, abi::ACCEL_POLL, abi::ACCEL_INTERRUPT];
            if modes
                .iter()
                .all(|flags| check_factorials(*flags) && check_copies(*flags))
            {
                // Bad arguments are refused, not fatal.
                if factorial(1 << 40, 0) != Err(Error::InvalidArgument)
                    || factorial(3, abi::ACCEL_POLL | abi::ACCEL_INTERRUPT)
                        != Err(Error::InvalidArgument)
                    || copy(&[0; 0], &mut [0; 0], 0) != Err(Error::InvalidArgument)
                {
                    return 4;
                }
                // The adaptive table's state is visible through `stats`.
                let table: abi::AcceleratorTableStats = match agent_lib::stats() {
                    Ok(table) => table,
                    Err(error) => {
                        println!("accel_user: accelerator stats failed: {error:?}");
                        return 6;
                    }
                };
                let handlers = table.handlers();
                let records = handlers.len();
                let served: u64 = handlers.iter().map(|handler| handler.calls).sum();
                let learned = handlers
                    .iter()
                    .any(|handler| handler.calls > 0 && handler.weight_constant != 0);
                if records < 3 || served < 3 * 21 || !learned {
                    println!("accel_user: stats show {records} handlers, {served} calls");
                    return 7;
                }
                println!(
                    "accel_user: every device result correct; {records} handlers, {served} calls"
                );
                0
            } else {
                5
            }
        }
        other => {
            println!("accel_user: 5! gave {other:?}");
            1
        }
    }
}
