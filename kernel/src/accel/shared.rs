//! Shared-memory devices for the tensor accelerator: every `ivshmem`
//! function found on PCI, its registers and shared memory mapped.
//!
//! The tensor accelerator of issue 13 is a backend process on the host that
//! maps the same memory as the guest's `ivshmem` BAR 2 and runs jobs from
//! rings in it. This module is its first layer: it finds the devices at
//! boot, maps both windows, turns memory decoding on and keeps them; the
//! ring protocol ([`super::tensor`]) builds on [`device`]. Without a device the list is
//! empty and nothing else changes.
//!
//! An `ivshmem-doorbell` function (it has MSI-X) also gets its MSI-X entry 0
//! routed to a local APIC vector; its interrupts go to
//! [`super::tensor::on_interrupt`]. `ivshmem-plain` has none.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, Ordering};

use drivers::ivshmem::{self, Ivshmem, IvshmemError};
use foundation::io::IoMem;
use spin::Mutex;

use crate::{arch::cpu::without_interrupts, devices::pci};

/// Most shared-memory devices kept.
pub const MAX_SHARED_DEVICES: usize = 4;

/// One shared-memory device as status views show it.
#[derive(Debug, Clone, Copy)]
pub struct SharedDeviceInfo {
    /// Its PCI address.
    pub address: drivers::pci::PciAddress,
    /// Bytes of shared memory.
    pub memory_size: usize,
    /// Bus address of the shared memory.
    pub memory_address: u64,
    /// The vector its MSI-X entry 0 is routed to (`ivshmem-doorbell`).
    pub interrupt_vector: Option<u8>,
}

struct SharedDevice {
    /// Kept for the kernel's whole life (the BARs stay mapped), so users
    /// such as the tensor accelerator may hold it without the lock.
    device: &'static Ivshmem,
    info: SharedDeviceInfo,
    /// The mapped MSI-X table, kept while the entry is in use.
    _msix_table: Option<IoMem>,
}

static DEVICES: Mutex<Vec<SharedDevice>> = Mutex::new(Vec::new());

/// The interrupt vector of each device by index (0: none), read by the
/// interrupt handler without a lock.
static VECTORS: [AtomicU8; MAX_SHARED_DEVICES] = [const { AtomicU8::new(0) }; MAX_SHARED_DEVICES];

/// Why a function could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeError {
    /// A BAR could not be mapped (missing, or no virtual space left).
    Map(pci::PciError),
    /// The device's windows are too small.
    Device(IvshmemError),
}

/// Finds and maps every `ivshmem` device (once; later calls return the
/// count); returns how many are kept.
pub fn init() -> usize {
    if count() > 0 {
        return count();
    }
    for function in pci::find(ivshmem::VENDOR_ID, ivshmem::DEVICE_ID) {
        if count() == MAX_SHARED_DEVICES {
            log::warn!(
                "accel: more than {MAX_SHARED_DEVICES} shared-memory devices; {} ignored",
                function.address
            );
            continue;
        }
        match probe(function, count()) {
            Ok(device) => {
                log::info!(
                    "accel: shared memory #{} (ivshmem) at {}: {} KiB at bus address {:#x}{}",
                    count(),
                    function.address,
                    device.info.memory_size / 1024,
                    device.info.memory_address,
                    match device.info.interrupt_vector {
                        Some(vector) => alloc::format!(", doorbell interrupts on vector {vector}"),
                        None => alloc::string::String::new(),
                    }
                );
                without_interrupts(|| DEVICES.lock().push(device));
            }
            Err(error) => log::warn!("accel: ivshmem at {} unusable: {error:?}", function.address),
        }
    }
    count()
}

fn probe(
    function: &'static drivers::pci::FunctionInfo,
    index: usize,
) -> Result<SharedDevice, ProbeError> {
    let registers = pci::map_bar(function, ivshmem::REGISTERS_BAR).map_err(ProbeError::Map)?;
    let memory = pci::map_bar(function, ivshmem::MEMORY_BAR).map_err(ProbeError::Map)?;
    let device: &'static Ivshmem = alloc::boxed::Box::leak(alloc::boxed::Box::new(
        Ivshmem::new(registers, memory).map_err(ProbeError::Device)?,
    ));
    pci::enable(function, false).map_err(ProbeError::Map)?;
    device.mask_interrupts();
    let mut msix_table = None;
    let mut interrupt_vector = None;
    if function.msix_capability.is_some() {
        match pci::route_msix(function, 0, on_interrupt) {
            Ok((vector, table)) => {
                if let Some(slot) = VECTORS.get(index) {
                    slot.store(vector, Ordering::Release);
                }
                interrupt_vector = Some(vector);
                msix_table = Some(table);
            }
            Err(error) => log::warn!(
                "accel: ivshmem at {}: MSI-X not routed ({error:?}); polling only",
                function.address
            ),
        }
    }
    let info = SharedDeviceInfo {
        address: function.address,
        memory_size: device.memory_size(),
        memory_address: device.memory_address(),
        interrupt_vector,
    };
    Ok(SharedDevice {
        device,
        info,
        _msix_table: msix_table,
    })
}

/// The MSI-X handler (interrupts off): tells the tensor layer which device rang.
fn on_interrupt(vector: u8) {
    for (index, routed) in VECTORS.iter().enumerate() {
        if routed.load(Ordering::Acquire) == vector {
            super::tensor::on_interrupt(index);
        }
    }
}

/// Returns how many shared-memory devices are kept.
pub fn count() -> usize {
    without_interrupts(|| DEVICES.lock().len())
}

/// Returns snapshots of the kept devices.
pub fn devices() -> Vec<SharedDeviceInfo> {
    without_interrupts(|| DEVICES.lock().iter().map(|device| device.info).collect())
}

/// Runs `action` on device `index` (interrupts off: keep it short);
/// `None` when there is no such device.
pub fn with_device<R>(index: usize, action: impl FnOnce(&Ivshmem) -> R) -> Option<R> {
    without_interrupts(|| {
        DEVICES
            .lock()
            .get(index)
            .map(|device| action(device.device))
    })
}

/// Returns device `index` (kept for the kernel's life), if there is one.
pub fn device(index: usize) -> Option<&'static Ivshmem> {
    without_interrupts(|| DEVICES.lock().get(index).map(|device| device.device))
}
