//! The local APIC, software-enabled so it can receive MSIs from PCI devices.
//!
//! The kernel keeps the 8259 PICs for the timer and legacy device lines;
//! they keep reaching the CPU through the APIC's LINT0 pin in virtual-wire
//! mode (ExtINT), which [`init`] programs explicitly. A message-signalled
//! interrupt is a write to `0xFEE0_0000`: the local APIC takes it only when
//! software-enabled (spurious-vector register bit 8), and it must be ended
//! with an EOI at the APIC ([`end_of_interrupt`]), not at the PIC.

use core::ptr::NonNull;

use spin::Once;
use x86_64::{PhysAddr, registers::model_specific::Msr};

/// Model-specific register holding the APIC base address.
const IA32_APIC_BASE: u32 = 0x1B;
/// Address bits of the APIC base in `IA32_APIC_BASE`.
const APIC_BASE_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// Bytes of APIC registers.
const APIC_MMIO_SIZE: u64 = 4096;
/// Register: local APIC ID (bits 24..32).
const REGISTER_ID: usize = 0x20;
/// Register: task priority.
const REGISTER_TASK_PRIORITY: usize = 0x80;
/// Register: end of interrupt.
const REGISTER_EOI: usize = 0xB0;
/// Register: spurious-interrupt vector and software enable.
const REGISTER_SPURIOUS: usize = 0xF0;
/// Register: local vector table entry of LINT0.
const REGISTER_LVT_LINT0: usize = 0x350;
/// Register: local vector table entry of LINT1.
const REGISTER_LVT_LINT1: usize = 0x360;
/// Spurious-vector register bit: APIC software-enabled.
const SOFTWARE_ENABLE: u32 = 1 << 8;
/// Delivery mode ExtINT: the 8259 supplies the vector (virtual wire).
const DELIVERY_EXTINT: u32 = 0b111 << 8;
/// Delivery mode NMI.
const DELIVERY_NMI: u32 = 0b100 << 8;
/// Vector the APIC reports spurious interrupts at (needs no EOI).
pub const SPURIOUS_VECTOR: u8 = 0xFF;

struct LocalApic {
    base: NonNull<u32>,
    id: u8,
}

// SAFETY: the register page is mapped for the kernel's lifetime; accesses
// are volatile word reads and writes, valid from this (only) CPU.
unsafe impl Send for LocalApic {}
// SAFETY: as above.
unsafe impl Sync for LocalApic {}

impl LocalApic {
    fn read(&self, register: usize) -> u32 {
        // SAFETY: `register` is one of the constants above, inside the
        // mapped 4 KiB page, 16-byte aligned as the APIC requires.
        unsafe { self.base.byte_add(register).read_volatile() }
    }

    fn write(&self, register: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { self.base.byte_add(register).write_volatile(value) }
    }
}

static APIC: Once<Option<LocalApic>> = Once::new();

/// Maps and software-enables the local APIC (once); returns its ID, or
/// `None` when its registers could not be mapped.
pub fn init() -> Option<u8> {
    APIC.call_once(|| {
        // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has
        // no side effects.
        let base = unsafe { Msr::new(IA32_APIC_BASE).read() } & APIC_BASE_MASK;
        let mapped = crate::memory::mmio::map(PhysAddr::new(base), APIC_MMIO_SIZE).ok()?;
        let apic = LocalApic {
            base: mapped.cast::<u32>(),
            id: 0,
        };
        let id = (apic.read(REGISTER_ID) >> 24) as u8;
        super::cpu::without_interrupts(|| {
            apic.write(REGISTER_LVT_LINT0, DELIVERY_EXTINT);
            apic.write(REGISTER_LVT_LINT1, DELIVERY_NMI);
            apic.write(REGISTER_TASK_PRIORITY, 0);
            apic.write(
                REGISTER_SPURIOUS,
                SOFTWARE_ENABLE | u32::from(SPURIOUS_VECTOR),
            );
        });
        log::info!("local APIC {id} at {base:#x} enabled (LINT0 virtual wire for the PICs)");
        Some(LocalApic { id, ..apic })
    })
    .as_ref()
    .map(|apic| apic.id)
}

/// Signals end of interrupt to the local APIC (for MSI vectors).
pub fn end_of_interrupt() {
    if let Some(Some(apic)) = APIC.get() {
        apic.write(REGISTER_EOI, 0);
    }
}
