//! The two cascaded 8259 programmable interrupt controllers (through `pic8259`).
//!
//! The PICs are remapped so that hardware interrupts 0..16 arrive at vectors
//! [`PIC_1_OFFSET`]..[`PIC_1_OFFSET`]+16, clear of the CPU exception vectors.

use pic8259::ChainedPics;
use spin::Mutex;

/// First vector used by the primary PIC (IRQ 0..8).
pub const PIC_1_OFFSET: u8 = 32;
/// First vector used by the secondary PIC (IRQ 8..16).
pub const PIC_2_OFFSET: u8 = PIC_1_OFFSET + 8;

/// Legacy interrupt request lines the kernel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Irq {
    /// Programmable interval timer, channel 0.
    Timer = 0,
    /// PS/2 keyboard.
    Keyboard = 1,
    /// Cascade from the secondary PIC.
    Cascade = 2,
    /// COM1 serial port.
    Com1 = 4,
}

impl Irq {
    /// Returns the interrupt vector this line is delivered at after remapping.
    pub const fn vector(self) -> u8 {
        PIC_1_OFFSET + self as u8
    }
}

static PICS: Mutex<ChainedPics> =
    // SAFETY: the offsets are outside the 0..32 exception range and do not
    // overlap each other; the PIC ports are owned by this module only.
    Mutex::new(unsafe { ChainedPics::new(PIC_1_OFFSET, PIC_2_OFFSET) });

/// Remaps both PICs and masks every line except those in `enabled`.
pub fn init(enabled: &[Irq]) {
    let mut primary_mask: u8 = 0xFF;
    for irq in enabled {
        primary_mask &= !(1 << (*irq as u8));
    }
    let mut pics = PICS.lock();
    // SAFETY: the PICs are remapped to the non-overlapping vectors above
    // before any line is unmasked; the caller installs IDT handlers for every
    // vector it unmasks before enabling interrupts.
    unsafe {
        pics.initialize();
        // The cascade line must stay open for any secondary line to arrive.
        pics.write_masks(primary_mask & !(1 << Irq::Cascade as u8), 0xFF);
    }
}

/// Unmasks one more line on the primary PIC.
pub fn unmask(irq: Irq) {
    let mut pics = PICS.lock();
    // SAFETY: reading and writing the mask registers has no side effect
    // besides masking; the kernel has a handler for every vector it unmasks.
    unsafe {
        let [primary, secondary] = pics.read_masks();
        pics.write_masks(primary & !(1 << irq as u8), secondary);
    }
}

/// Unmasks legacy line `line` (0..16) on whichever PIC serves it.
pub fn unmask_line(line: u8) {
    if line >= 16 {
        return;
    }
    let mut pics = PICS.lock();
    // SAFETY: as in `unmask`: the kernel registers a handler for a line's
    // vector before unmasking it.
    unsafe {
        let [primary, secondary] = pics.read_masks();
        if line < 8 {
            pics.write_masks(primary & !(1 << line), secondary);
        } else {
            pics.write_masks(primary, secondary & !(1 << (line - 8)));
        }
    }
}

/// Signals end of interrupt for `vector`.
///
/// Must be called from the handler of a PIC vector, with interrupts disabled.
pub fn end_of_interrupt(vector: u8) {
    // SAFETY: `vector` is checked to be one of the PICs' vectors before the
    // end-of-interrupt command is sent (`handles_interrupt`).
    unsafe {
        let mut pics = PICS.lock();
        if pics.handles_interrupt(vector) {
            pics.notify_end_of_interrupt(vector);
        }
    }
}
