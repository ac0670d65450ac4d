//! Capability checks. The kernel spawns this agent without `sleep` and
//! without endpoint 3: both must be refused; a child it spawns asking for
//! everything must be refused the same (children get at most the parent's
//! capabilities). Exits 0 when every refusal happened.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use agent_lib::{CapabilitySet, Error, println};

agent_lib::agent_main!(main);

fn main() -> i64 {
    if agent_lib::sleep_us(10) != Err(Error::PermissionDenied) {
        println!("denied: sleep was allowed");
        return 1;
    }
    if agent_lib::send(3, b"x") != Err(Error::PermissionDenied) {
        println!("denied: send to endpoint 3 was allowed");
        return 2;
    }
    let Ok(child) = agent_lib::spawn("denied_child", Some(&CapabilitySet::ALL)) else {
        println!("denied: spawn failed");
        return 3;
    };
    match agent_lib::wait(child) {
        Ok(0) => {
            println!("denied: every refusal happened, in the child too");
            0
        }
        other => {
            println!("denied: child ended with {other:?}");
            4
        }
    }
}
