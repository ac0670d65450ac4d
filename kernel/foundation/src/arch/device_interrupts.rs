//! Interrupt vectors for devices: legacy PIC lines and MSI vectors, each with a registered handler.
//!
//! Vectors 33..48 are the PIC lines 1..16 (the timer on line 0 has its own
//! entry); vectors [`FIRST_MSI_VECTOR`]..=[`LAST_MSI_VECTOR`] are handed out
//! for MSI through the local APIC. Every one has a tiny stub that calls the
//! handler registered for its vector and then ends the interrupt at the
//! right controller: the PIC for line vectors, the local APIC for MSI.
//!
//! A handler runs with interrupts disabled; it must only take locks that are
//! held with interrupts disabled (see [`super::interrupts`]) and must not
//! print (the console defers). Several devices may share a legacy line: the
//! one handler registered for it checks each of them.

use super::pic::{PIC_1_OFFSET, PIC_2_OFFSET};
use spin::Mutex;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame};

use super::{apic, cpu::without_interrupts};

/// A device interrupt handler; gets the vector it was called for.
pub type DeviceHandler = fn(u8);

/// First MSI vector.
pub const FIRST_MSI_VECTOR: u8 = 48;
/// Last MSI vector.
pub const LAST_MSI_VECTOR: u8 = 63;
/// PIC line of the cascade from the secondary PIC (never a device).
const CASCADE_LINE: u8 = 2;
/// Legacy lines on the two PICs.
const PIC_LINES: u8 = 16;

/// Handlers indexed by vector.
static HANDLERS: Mutex<[Option<DeviceHandler>; 64]> = Mutex::new([None; 64]);

/// Why a vector could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorError {
    /// The legacy line is the timer's, the cascade, or above 15.
    BadLine,
    /// The vector already has a different handler.
    Taken,
    /// All MSI vectors are in use.
    Exhausted,
    /// The local APIC could not be enabled, so MSI cannot be received.
    NoLocalApic,
}

/// Registers `handler` for legacy PIC `line` and unmasks the line; returns
/// the vector. Registering the same handler again (a shared line) is fine.
pub fn register_legacy(line: u8, handler: DeviceHandler) -> Result<u8, VectorError> {
    if line == 0 || line == CASCADE_LINE || line >= PIC_LINES {
        return Err(VectorError::BadLine);
    }
    let vector = PIC_1_OFFSET + line;
    without_interrupts(|| {
        let mut handlers = HANDLERS.lock();
        match handlers[usize::from(vector)] {
            Some(existing) if !core::ptr::fn_addr_eq(existing, handler) => Err(VectorError::Taken),
            _ => {
                handlers[usize::from(vector)] = Some(handler);
                Ok(())
            }
        }
    })?;
    // The PIC lock is also taken by the timer's end of interrupt: hold it
    // with interrupts disabled, or a tick arriving meanwhile deadlocks.
    without_interrupts(|| super::pic::unmask_line(line));
    Ok(vector)
}

/// Enables the local APIC if needed, takes a free MSI vector for `handler`;
/// returns the vector and the APIC ID to address the message to.
pub fn register_msi(handler: DeviceHandler) -> Result<(u8, u8), VectorError> {
    let apic_id = apic::init().ok_or(VectorError::NoLocalApic)?;
    without_interrupts(|| {
        let mut handlers = HANDLERS.lock();
        let vector = (FIRST_MSI_VECTOR..=LAST_MSI_VECTOR)
            .find(|vector| handlers[usize::from(*vector)].is_none())
            .ok_or(VectorError::Exhausted)?;
        handlers[usize::from(vector)] = Some(handler);
        Ok((vector, apic_id))
    })
}

fn dispatch(vector: u8) {
    let handler = HANDLERS
        .try_lock()
        .and_then(|handlers| handlers[usize::from(vector)]);
    let Some(handler) = handler else {
        // Nothing registered: a spurious PIC interrupt (no EOI wanted) or a
        // masked line; an MSI vector without handler is never programmed.
        if vector >= FIRST_MSI_VECTOR {
            apic::end_of_interrupt();
        }
        return;
    };
    handler(vector);
    if vector >= FIRST_MSI_VECTOR {
        apic::end_of_interrupt();
    } else {
        super::pic::end_of_interrupt(vector);
    }
}

extern "x86-interrupt" fn spurious(_frame: InterruptStackFrame) {}

macro_rules! device_stubs {
    ($($name:ident = $vector:expr),* $(,)?) => {
        $(
            extern "x86-interrupt" fn $name(_frame: InterruptStackFrame) {
                dispatch($vector);
            }
        )*
        /// Every device vector with its stub.
        const STUBS: &[(u8, extern "x86-interrupt" fn(InterruptStackFrame))] =
            &[$(($vector, $name)),*];
    };
}

device_stubs!(
    line_1 = 33,
    line_3 = 35,
    line_4 = 36,
    line_5 = 37,
    line_6 = 38,
    line_7 = 39,
    line_8 = 40,
    line_9 = 41,
    line_10 = 42,
    line_11 = 43,
    line_12 = 44,
    line_13 = 45,
    line_14 = 46,
    line_15 = 47,
    msi_48 = 48,
    msi_49 = 49,
    msi_50 = 50,
    msi_51 = 51,
    msi_52 = 52,
    msi_53 = 53,
    msi_54 = 54,
    msi_55 = 55,
    msi_56 = 56,
    msi_57 = 57,
    msi_58 = 58,
    msi_59 = 59,
    msi_60 = 60,
    msi_61 = 61,
    msi_62 = 62,
    msi_63 = 63,
);

const _: () = assert!(PIC_2_OFFSET + 8 == FIRST_MSI_VECTOR);

/// Installs the device stubs and the APIC's spurious vector in `idt`.
pub fn install(idt: &mut InterruptDescriptorTable) {
    for (vector, stub) in STUBS {
        idt[*vector].set_handler_fn(*stub);
    }
    idt[apic::SPURIOUS_VECTOR].set_handler_fn(spurious);
}
