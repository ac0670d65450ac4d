//! The 8253/8254 programmable interval timer, channel 0, as the periodic tick.

use x86_64::instructions::port::Port;

/// Input clock of the PIT in hertz.
pub const PIT_INPUT_FREQUENCY_HZ: u32 = 1_193_182;
/// Mode/command register port.
const COMMAND_PORT: u16 = 0x43;
/// Channel 0 data port.
const CHANNEL_0_PORT: u16 = 0x40;
/// Channel 0, access low then high byte, mode 2 (rate generator), binary.
const CHANNEL_0_RATE_GENERATOR: u8 = 0b0011_0100;

/// Programs channel 0 to fire IRQ 0 at `frequency_hz`.
///
/// Returns the frequency really programmed (the divisor is an integer, so
/// `1_193_182 / divisor`), which may differ slightly from the request.
pub fn start_periodic(frequency_hz: u32) -> u32 {
    let divisor = divisor_for(frequency_hz);
    let mut command: Port<u8> = Port::new(COMMAND_PORT);
    let mut data: Port<u8> = Port::new(CHANNEL_0_PORT);
    // SAFETY: ports 0x43 and 0x40 are the PIT's architectural ports; writing
    // a mode byte followed by the two divisor bytes is the documented
    // programming sequence and touches no memory.
    unsafe {
        command.write(CHANNEL_0_RATE_GENERATOR);
        data.write((divisor & 0xFF) as u8);
        data.write((divisor >> 8) as u8);
    }
    PIT_INPUT_FREQUENCY_HZ / divisor
}

/// Returns the 16-bit reload value nearest to `frequency_hz`, clamped to the
/// range the counter can hold (2..=65535).
pub const fn divisor_for(frequency_hz: u32) -> u32 {
    let frequency = if frequency_hz == 0 { 1 } else { frequency_hz };
    let divisor = (PIT_INPUT_FREQUENCY_HZ + frequency / 2) / frequency;
    if divisor < 2 {
        2
    } else if divisor > 0xFFFF {
        0xFFFF
    } else {
        divisor
    }
}
