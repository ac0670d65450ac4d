//! Shared-memory devices for the tensor accelerator: every `ivshmem`
//! function found on PCI, its registers and shared memory mapped.
//!
//! The tensor accelerator of issue 13 is a backend process on the host that
//! maps the same memory as the guest's `ivshmem` BAR 2 and runs jobs from
//! rings in it. This module is its first layer: it finds the devices at
//! boot, maps both windows, turns memory decoding on and keeps them; the
//! ring protocol ([`super::tensor`]) builds on [`device`]. Without a device the list is
//! empty and nothing else changes.

use alloc::vec::Vec;

use drivers::ivshmem::{self, Ivshmem, IvshmemError};
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
}

struct SharedDevice {
    /// Kept for the kernel's whole life (the BARs stay mapped), so users
    /// such as the tensor accelerator may hold it without the lock.
    device: &'static Ivshmem,
    info: SharedDeviceInfo,
}

static DEVICES: Mutex<Vec<SharedDevice>> = Mutex::new(Vec::new());

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
        match probe(function) {
            Ok(device) => {
                log::info!(
                    "accel: shared memory #{} (ivshmem) at {}: {} KiB at bus address {:#x}",
                    count(),
                    function.address,
                    device.info.memory_size / 1024,
                    device.info.memory_address
                );
                without_interrupts(|| DEVICES.lock().push(device));
            }
            Err(error) => log::warn!("accel: ivshmem at {} unusable: {error:?}", function.address),
        }
    }
    count()
}

fn probe(function: &'static drivers::pci::FunctionInfo) -> Result<SharedDevice, ProbeError> {
    let registers = pci::map_bar(function, ivshmem::REGISTERS_BAR).map_err(ProbeError::Map)?;
    let memory = pci::map_bar(function, ivshmem::MEMORY_BAR).map_err(ProbeError::Map)?;
    let device: &'static Ivshmem = alloc::boxed::Box::leak(alloc::boxed::Box::new(
        Ivshmem::new(registers, memory).map_err(ProbeError::Device)?,
    ));
    pci::enable(function, false).map_err(ProbeError::Map)?;
    device.mask_interrupts();
    let info = SharedDeviceInfo {
        address: function.address,
        memory_size: device.memory_size(),
        memory_address: device.memory_address(),
    };
    Ok(SharedDevice { device, info })
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
