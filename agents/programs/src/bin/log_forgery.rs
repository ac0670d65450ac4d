//! Log-forgery attack: logs text with embedded newlines and a fake kernel
//! line, carriage returns, ANSI escapes and every byte 0x00-0x1F (the kernel
//! shows each call as one escaped line after the agent prefix, see
//! `kernel_core::log_line`), then floods. Exits 0 when the forgeries were
//! accepted as lines and the flood was cut by the rate limit in lines
//! (50 a second: of 200 immediate lines some get `Exhausted`); 1 when a
//! forgery was refused, 2 when the flood was not limited.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::Error;

agent_lib::agent_main!(main);

/// The forged texts, each one `log` call.
const FORGERIES: [&str; 4] = [
    "ok\n[kernel] panic: forged by an agent\n",
    "\r[kernel] overwritten prefix",
    "\x1b[2K\x1b[1A\x1b[31m[kernel] red\x1b[0m",
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f",
];

fn main() -> i64 {
    for forgery in FORGERIES {
        if agent_lib::log(forgery).is_err() {
            return 1;
        }
    }
    let mut limited = 0;
    for _ in 0..200 {
        if agent_lib::log("flood\n\n\n\n") == Err(Error::Exhausted) {
            limited += 1;
        }
    }
    if limited == 0 { 2 } else { 0 }
}
