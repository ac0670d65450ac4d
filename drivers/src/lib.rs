//! Device drivers in safe Rust: PCI, the `edu` accelerator, virtio-gpu, PS/2, QEMU's exit device,
//! and the text console on the boot framebuffer.
//!
//! Every driver reaches its device through the foundation's safe types: a
//! claimed [`foundation::io::IoPort`], a bounds-checked
//! [`foundation::io::IoMem`] window onto a BAR, DMA buffers with their bus
//! address, and the `virtio-drivers` HAL. The crate forbids `unsafe`; what
//! needs raw access (the PICs, the PIT, the UART, the virtio configuration
//! adapter) lives in the foundation.
#![no_std]
#![forbid(unsafe_code)]

pub mod edu;
pub mod framebuffer_console;
pub mod ivshmem;
pub mod pci;
pub mod ps2_keyboard;
pub mod qemu_exit;
pub mod tensor;
pub mod virtio_gpu;
