//! The virtio-gpu back end: finds the device, brings it up and keeps its scanout's backing memory.
//!
//! The device is found in the PCI list (vendor 0x1af4, device 0x1050:
//! `-device virtio-gpu-pci` or `virtio-vga`), reached through
//! `virtio-drivers`' PCI transport over our configuration accessor, with
//! the kernel's HAL ([`crate::memory::virtio_hal`]). The resource's backing
//! pages are one contiguous [`DmaRegion`] the CPU draws into.

use drivers::{
    pci::{
        FunctionInfo,
        virtio::{VirtioConfigAccess, device_function_of},
    },
    virtio_gpu::{GpuError, Rect, VirtioGpu},
};
use embedded_graphics::primitives::Rectangle;
use virtio_drivers::transport::pci::{PciTransport, bus::PciRoot};

use crate::{
    devices::pci,
    memory::{dma::DmaRegion, virtio_hal::KernelHal},
};

pub use drivers::virtio_gpu::BYTES_PER_PIXEL;

/// PCI vendor of virtio devices.
pub const VIRTIO_VENDOR: u16 = 0x1AF4;
/// PCI device ID of a modern virtio GPU (0x1040 + device type 16).
pub const VIRTIO_GPU_DEVICE: u16 = 0x1050;

/// Why the GPU could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// PCI was not enumerated.
    NoPci,
    /// The PCI transport refused the function (capabilities, BARs).
    Transport,
    /// The device refused a command.
    Gpu(GpuError),
    /// No contiguous memory for the screen.
    NoMemory,
}

impl From<GpuError> for OpenError {
    fn from(error: GpuError) -> Self {
        Self::Gpu(error)
    }
}

/// The driver type: our HAL over the PCI transport.
type Device = VirtioGpu<KernelHal, PciTransport>;

/// A virtio-gpu scanout with its backing memory.
pub struct GpuScreen {
    device: Device,
    backing: DmaRegion,
    width: usize,
    height: usize,
}

impl GpuScreen {
    /// Returns the first virtio-gpu function, if any.
    pub fn find() -> Option<&'static FunctionInfo> {
        pci::find(VIRTIO_VENDOR, VIRTIO_GPU_DEVICE).next()
    }

    /// Brings up the first virtio-gpu device; `Ok(None)` when there is none.
    pub fn open_first() -> Result<Option<Self>, OpenError> {
        match Self::find() {
            Some(function) => Self::open(function).map(Some),
            None => Ok(None),
        }
    }

    /// Brings up `function`: transport, display size, resource, scanout.
    pub fn open(function: &FunctionInfo) -> Result<Self, OpenError> {
        let access = pci::access().ok_or(OpenError::NoPci)?;
        pci::enable(function, true).map_err(|_| OpenError::NoPci)?;
        let mut root = PciRoot::new(VirtioConfigAccess(access));
        let transport =
            PciTransport::new::<KernelHal, _>(&mut root, device_function_of(function.address))
                .map_err(|error| {
                    log::warn!("virtio-gpu {}: transport: {error}", function.address);
                    OpenError::Transport
                })?;
        let mut device = Device::new(transport)?;
        let (width, height) = device.display_size()?;
        let bytes = width as usize * height as usize * BYTES_PER_PIXEL;
        let backing = DmaRegion::new(bytes).ok_or(OpenError::NoMemory)?;
        device.attach(width, height, backing.bus_address(), backing.len())?;
        log::info!(
            "display: virtio-gpu {} scanout {width}x{height}, {} KiB backing at {:#x}",
            function.address,
            bytes / 1024,
            backing.bus_address()
        );
        Ok(Self {
            device,
            backing,
            width: width as usize,
            height: height as usize,
        })
    }

    /// Returns the scanout's size in pixels.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Returns the backing memory (B8G8R8X8, `width * 4` bytes per row).
    pub fn pixels_mut(&mut self) -> &mut [u8] {
        let bytes = self.width * self.height * BYTES_PER_PIXEL;
        &mut self.backing.bytes_mut()[..bytes]
    }

    /// Transfers and flushes `area` (already clipped to the screen).
    pub fn flush(&mut self, area: &Rectangle) -> Result<(), GpuError> {
        self.device.flush_rect(Rect {
            x: area.top_left.x as u32,
            y: area.top_left.y as u32,
            width: area.size.width,
            height: area.size.height,
        })
    }

    /// Returns the number of commands the device answered.
    pub fn commands(&self) -> u64 {
        self.device.commands()
    }
}
