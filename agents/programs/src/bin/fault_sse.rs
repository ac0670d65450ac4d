//! Faults on purpose: an SSE instruction (the kernel keeps SSE off, so no
//! agent can see another's vector registers).
#![no_std]
#![no_main]

agent_lib::agent_main!(main);

fn main() -> i64 {
    // SAFETY: none; with SSE disabled this raises #UD and ends this agent.
    unsafe { core::arch::asm!("xorps xmm0, xmm0") };
    1
}
