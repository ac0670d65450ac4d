//! virtio-gpu 2D: display info, one scanout resource, and per-rectangle transfer and flush.
//!
//! Built on `virtio-drivers`: its transport (PCI here) negotiates features
//! and its [`VirtQueue`] carries the commands; this module speaks the 2D
//! command set of the virtio specification (5.7.6). `virtio-drivers`' own
//! `VirtIOGpu` can only transfer and flush the whole screen, so the commands
//! are built here to send just the damaged rectangles.
//!
//! The flow: [`VirtioGpu::new`] brings the device up; [`VirtioGpu::display_size`]
//! reads scanout 0's size; [`VirtioGpu::attach`] creates a B8G8R8X8 resource
//! of that size backed by guest memory the caller owns and shows it on the
//! scanout; after drawing into that memory, [`VirtioGpu::flush_rect`]
//! transfers one rectangle to the host and flushes it to the screen.

use virtio_drivers::{
    Error as VirtioError, Hal,
    device::common::Feature,
    queue::VirtQueue,
    transport::{DeviceType, Transport},
};

/// Entries in the control queue.
const QUEUE_SIZE: usize = 4;
/// Index of the control queue.
const CONTROL_QUEUE: u16 = 0;
/// The resource the driver creates for the scanout.
const RESOURCE_ID: u32 = 1;
/// The scanout (head) used.
const SCANOUT_ID: u32 = 0;
/// Bytes per pixel of [`FORMAT_B8G8R8X8`].
pub const BYTES_PER_PIXEL: usize = 4;
/// Scanouts the display-info answer describes.
const MAX_SCANOUTS: usize = 16;

/// Command and answer types (virtio 1.2, 5.7.6.7).
mod command {
    pub const GET_DISPLAY_INFO: u32 = 0x0100;
    pub const RESOURCE_CREATE_2D: u32 = 0x0101;
    pub const SET_SCANOUT: u32 = 0x0103;
    pub const RESOURCE_FLUSH: u32 = 0x0104;
    pub const TRANSFER_TO_HOST_2D: u32 = 0x0105;
    pub const RESOURCE_ATTACH_BACKING: u32 = 0x0106;
    pub const OK_NODATA: u32 = 0x1100;
    pub const OK_DISPLAY_INFO: u32 = 0x1101;
}

/// Pixel format: bytes blue, green, red, unused.
const FORMAT_B8G8R8X8: u32 = 2;
/// Size of the common command header.
const HEADER_BYTES: usize = 24;
/// Size of one scanout entry in the display-info answer.
const DISPLAY_ENTRY_BYTES: usize = 24;
/// Size of the display-info answer.
const DISPLAY_INFO_BYTES: usize = HEADER_BYTES + MAX_SCANOUTS * DISPLAY_ENTRY_BYTES;
/// Largest command sent.
const MAX_COMMAND_BYTES: usize = 64;

/// Why a GPU operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuError {
    /// The transport is not a GPU.
    NotAGpu,
    /// The device answered a command with this type instead of success.
    Refused(u32),
    /// Scanout 0 is disabled or has no size.
    NoDisplay,
    /// The backing memory is smaller than the display.
    BackingTooSmall,
    /// No resource is attached yet.
    NotAttached,
    /// The rectangle leaves the screen or is empty.
    BadRectangle,
    /// The queue or transport failed.
    Virtio(VirtioError),
}

impl From<VirtioError> for GpuError {
    fn from(error: VirtioError) -> Self {
        Self::Virtio(error)
    }
}

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// A command being built: little-endian fields after a header.
struct CommandBuffer {
    bytes: [u8; MAX_COMMAND_BYTES],
    length: usize,
}

impl CommandBuffer {
    fn new(kind: u32) -> Self {
        let mut buffer = Self {
            bytes: [0; MAX_COMMAND_BYTES],
            length: HEADER_BYTES,
        };
        buffer.bytes[..4].copy_from_slice(&kind.to_le_bytes());
        buffer
    }

    fn u32(mut self, value: u32) -> Self {
        self.bytes[self.length..self.length + 4].copy_from_slice(&value.to_le_bytes());
        self.length += 4;
        self
    }

    fn u64(mut self, value: u64) -> Self {
        self.bytes[self.length..self.length + 8].copy_from_slice(&value.to_le_bytes());
        self.length += 8;
        self
    }

    fn rect(self, rect: Rect) -> Self {
        self.u32(rect.x)
            .u32(rect.y)
            .u32(rect.width)
            .u32(rect.height)
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.length]
    }
}

fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

/// A virtio-gpu device driven in 2D mode.
pub struct VirtioGpu<H: Hal, T: Transport> {
    transport: T,
    control: VirtQueue<H, QUEUE_SIZE>,
    /// Size of the attached resource (0 before `attach`).
    width: u32,
    height: u32,
    /// Commands sent since start.
    commands: u64,
}

impl<H: Hal, T: Transport> VirtioGpu<H, T> {
    /// Brings the device behind `transport` up (features, control queue).
    pub fn new(mut transport: T) -> Result<Self, GpuError> {
        if transport.device_type() != DeviceType::GPU {
            return Err(GpuError::NotAGpu);
        }
        transport.begin_init(Feature::VERSION_1);
        let control = VirtQueue::new(&mut transport, CONTROL_QUEUE, false, false)?;
        transport.finish_init();
        Ok(Self {
            transport,
            control,
            width: 0,
            height: 0,
            commands: 0,
        })
    }

    /// Sends `command` and waits for the answer in `answer`; returns the answer's type.
    fn request(&mut self, command: &[u8], answer: &mut [u8]) -> Result<u32, GpuError> {
        self.control
            .add_notify_wait_pop(&[command], &mut [answer], &mut self.transport)?;
        self.commands += 1;
        Ok(read_u32(answer, 0))
    }

    /// Sends `command`, expecting an empty success answer.
    fn request_ok(&mut self, command: &CommandBuffer) -> Result<(), GpuError> {
        let mut answer = [0u8; HEADER_BYTES];
        match self.request(command.as_bytes(), &mut answer)? {
            command::OK_NODATA => Ok(()),
            other => Err(GpuError::Refused(other)),
        }
    }

    /// Returns the size of scanout 0 in pixels, as the host's display reports it.
    pub fn display_size(&mut self) -> Result<(u32, u32), GpuError> {
        let command = CommandBuffer::new(command::GET_DISPLAY_INFO);
        let mut answer = [0u8; DISPLAY_INFO_BYTES];
        match self.request(command.as_bytes(), &mut answer)? {
            command::OK_DISPLAY_INFO => {}
            other => return Err(GpuError::Refused(other)),
        }
        let entry = HEADER_BYTES + SCANOUT_ID as usize * DISPLAY_ENTRY_BYTES;
        let width = read_u32(&answer, entry + 8);
        let height = read_u32(&answer, entry + 12);
        let enabled = read_u32(&answer, entry + 16);
        if enabled == 0 || width == 0 || height == 0 {
            return Err(GpuError::NoDisplay);
        }
        Ok((width, height))
    }

    /// Creates a `width` x `height` resource backed by `backing_length`
    /// bytes of guest memory at bus address `backing`, and shows it on
    /// scanout 0. The caller keeps that memory alive and unmoved while the
    /// device exists and draws B8G8R8X8 pixels into it, rows `width * 4`
    /// bytes apart.
    pub fn attach(
        &mut self,
        width: u32,
        height: u32,
        backing: u64,
        backing_length: usize,
    ) -> Result<(), GpuError> {
        let needed = width as usize * height as usize * BYTES_PER_PIXEL;
        if needed > backing_length || needed == 0 {
            return Err(GpuError::BackingTooSmall);
        }
        self.request_ok(
            &CommandBuffer::new(command::RESOURCE_CREATE_2D)
                .u32(RESOURCE_ID)
                .u32(FORMAT_B8G8R8X8)
                .u32(width)
                .u32(height),
        )?;
        self.request_ok(
            &CommandBuffer::new(command::RESOURCE_ATTACH_BACKING)
                .u32(RESOURCE_ID)
                .u32(1)
                .u64(backing)
                .u32(needed as u32)
                .u32(0),
        )?;
        let screen = Rect {
            x: 0,
            y: 0,
            width,
            height,
        };
        self.request_ok(
            &CommandBuffer::new(command::SET_SCANOUT)
                .rect(screen)
                .u32(SCANOUT_ID)
                .u32(RESOURCE_ID),
        )?;
        self.width = width;
        self.height = height;
        Ok(())
    }

    /// Copies `rect` of the backing memory to the host resource and shows it.
    pub fn flush_rect(&mut self, rect: Rect) -> Result<(), GpuError> {
        if self.width == 0 {
            return Err(GpuError::NotAttached);
        }
        let inside = rect.width > 0
            && rect.height > 0
            && rect
                .x
                .checked_add(rect.width)
                .is_some_and(|end| end <= self.width)
            && rect
                .y
                .checked_add(rect.height)
                .is_some_and(|end| end <= self.height);
        if !inside {
            return Err(GpuError::BadRectangle);
        }
        let offset = (u64::from(rect.y) * u64::from(self.width) + u64::from(rect.x))
            * BYTES_PER_PIXEL as u64;
        self.request_ok(
            &CommandBuffer::new(command::TRANSFER_TO_HOST_2D)
                .rect(rect)
                .u64(offset)
                .u32(RESOURCE_ID)
                .u32(0),
        )?;
        self.request_ok(
            &CommandBuffer::new(command::RESOURCE_FLUSH)
                .rect(rect)
                .u32(RESOURCE_ID)
                .u32(0),
        )
    }

    /// Returns the number of commands the device answered.
    pub fn commands(&self) -> u64 {
        self.commands
    }
}
