//! One drawing surface, two back ends: a virtio-gpu scanout or the bootloader's framebuffer.
//!
//! [`Display`] is an `embedded-graphics` [`DrawTarget`]: the dashboard draws
//! on it with that crate's primitives and fonts, whichever back end is
//! underneath. Pixels go into memory the CPU owns: the virtio-gpu
//! resource's backing pages ([`gpu`]), or the framebuffer the bootloader
//! mapped (taken over from the text console). Drawing code declares what it
//! changed with [`Display::damage`]; [`Display::present`] then sends only
//! those rectangles to the device (transfer plus flush on virtio-gpu;
//! nothing on the framebuffer, whose writes are already visible).

pub mod gpu;

use alloc::vec::Vec;
use core::convert::Infallible;

use bootloader_api::info::{FrameBufferInfo, PixelFormat};
use embedded_graphics::{
    Pixel,
    pixelcolor::{Rgb888, RgbColor},
    prelude::{DrawTarget, OriginDimensions, Point, Size},
    primitives::Rectangle,
};

/// Damaged rectangles kept before they are merged into their bounding box.
const MAX_DAMAGE_RECTANGLES: usize = 32;

/// How pixels are laid out in the memory drawn into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Bytes red, green, blue (and an unused fourth).
    Rgb,
    /// Bytes blue, green, red (and an unused fourth).
    Bgr,
    /// One grey byte.
    Grey,
}

/// Where the pixels go.
enum Backend {
    /// A virtio-gpu scanout (boxed: the driver state is large).
    Gpu(alloc::boxed::Box<gpu::GpuScreen>),
    /// The bootloader's framebuffer.
    Framebuffer(&'static mut [u8]),
}

/// Which back end a display draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// virtio-gpu.
    VirtioGpu,
    /// The bootloader's framebuffer.
    Framebuffer,
}

/// Counters about what a display sent to its device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PresentStats {
    /// `present` calls that had damage.
    pub presents: u64,
    /// Rectangles flushed.
    pub rectangles: u64,
    /// Pixels flushed.
    pub pixels: u64,
    /// Flushes the device refused.
    pub errors: u64,
}

/// A drawing surface with damage tracking.
pub struct Display {
    backend: Backend,
    width: usize,
    height: usize,
    /// Pixels per row in memory.
    stride: usize,
    bytes_per_pixel: usize,
    layout: Layout,
    damage: Vec<Rectangle>,
    stats: PresentStats,
}

impl Display {
    /// Returns a display on the first virtio-gpu device, else on the
    /// bootloader's framebuffer (taken from the console), else `None`.
    pub fn open() -> Option<Self> {
        match gpu::GpuScreen::open_first() {
            Ok(Some(screen)) => return Some(Self::on_gpu(screen)),
            Ok(None) => {}
            Err(error) => log::warn!("display: virtio-gpu unusable ({error:?}); framebuffer"),
        }
        Self::on_framebuffer()
    }

    /// Returns a display on the bootloader's framebuffer, taken from the
    /// text console (which stops drawing on the screen), or `None`.
    pub fn on_framebuffer() -> Option<Self> {
        let (buffer, info) = crate::console::take_framebuffer()?;
        Self::from_framebuffer(buffer, info)
    }

    fn from_framebuffer(buffer: &'static mut [u8], info: FrameBufferInfo) -> Option<Self> {
        let layout = match info.pixel_format {
            PixelFormat::Rgb => Layout::Rgb,
            PixelFormat::Bgr => Layout::Bgr,
            PixelFormat::U8 => Layout::Grey,
            _ => return None,
        };
        log::info!(
            "display: framebuffer {}x{} ({:?}, {} bytes per pixel)",
            info.width,
            info.height,
            info.pixel_format,
            info.bytes_per_pixel
        );
        Some(Self {
            backend: Backend::Framebuffer(buffer),
            width: info.width,
            height: info.height,
            stride: info.stride,
            bytes_per_pixel: info.bytes_per_pixel,
            layout,
            damage: Vec::with_capacity(MAX_DAMAGE_RECTANGLES),
            stats: PresentStats::default(),
        })
    }

    fn on_gpu(screen: gpu::GpuScreen) -> Self {
        let (width, height) = screen.size();
        Self {
            backend: Backend::Gpu(alloc::boxed::Box::new(screen)),
            width,
            height,
            stride: width,
            bytes_per_pixel: gpu::BYTES_PER_PIXEL,
            layout: Layout::Bgr,
            damage: Vec::with_capacity(MAX_DAMAGE_RECTANGLES),
            stats: PresentStats::default(),
        }
    }

    /// Returns the back end drawn on.
    pub fn backend(&self) -> BackendKind {
        match self.backend {
            Backend::Gpu(_) => BackendKind::VirtioGpu,
            Backend::Framebuffer(_) => BackendKind::Framebuffer,
        }
    }

    /// Returns the width and height in pixels.
    pub fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Returns the size as an `embedded-graphics` size.
    pub fn size_pixels(&self) -> Size {
        Size::new(self.width as u32, self.height as u32)
    }

    /// Returns what `present` has sent so far.
    pub fn stats(&self) -> PresentStats {
        self.stats
    }

    fn pixels_mut(&mut self) -> &mut [u8] {
        match &mut self.backend {
            Backend::Gpu(screen) => screen.pixels_mut(),
            Backend::Framebuffer(buffer) => buffer,
        }
    }

    fn encode(&self, color: Rgb888) -> [u8; 4] {
        match self.layout {
            Layout::Rgb => [color.r(), color.g(), color.b(), 0],
            Layout::Bgr => [color.b(), color.g(), color.r(), 0],
            Layout::Grey => {
                let luma = (u32::from(color.r()) * 77
                    + u32::from(color.g()) * 150
                    + u32::from(color.b()) * 29)
                    >> 8;
                [luma as u8, 0, 0, 0]
            }
        }
    }

    /// Returns the colour at (`x`, `y`) as stored (for tests and checks).
    pub fn pixel(&mut self, x: usize, y: usize) -> Option<Rgb888> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let offset = (y * self.stride + x) * self.bytes_per_pixel;
        let layout = self.layout;
        let bytes = self.pixels_mut().get(offset..offset + 3)?;
        Some(match layout {
            Layout::Rgb => Rgb888::new(bytes[0], bytes[1], bytes[2]),
            Layout::Bgr => Rgb888::new(bytes[2], bytes[1], bytes[0]),
            Layout::Grey => Rgb888::new(bytes[0], bytes[0], bytes[0]),
        })
    }

    /// Records that `area` changed and must reach the screen at the next `present`.
    pub fn damage(&mut self, area: Rectangle) {
        let screen = Rectangle::new(Point::zero(), self.size());
        let area = area.intersection(&screen);
        if area.is_zero_sized() {
            return;
        }
        if self.damage.len() == MAX_DAMAGE_RECTANGLES {
            let bounding = self.damage.drain(..).fold(area, bounding_box);
            self.damage.push(bounding);
        } else {
            self.damage.push(area);
        }
    }

    /// Sends every damaged rectangle to the screen and forgets the damage.
    /// Returns the number of rectangles sent.
    pub fn present(&mut self) -> usize {
        if self.damage.is_empty() {
            return 0;
        }
        let damage = core::mem::take(&mut self.damage);
        let count = damage.len();
        self.stats.presents += 1;
        for area in &damage {
            self.stats.rectangles += 1;
            self.stats.pixels += u64::from(area.size.width) * u64::from(area.size.height);
            if let Backend::Gpu(screen) = &mut self.backend
                && screen.flush(area).is_err()
            {
                self.stats.errors += 1;
            }
        }
        self.damage = damage;
        self.damage.clear();
        count
    }
}

/// Returns the smallest rectangle holding `first` and `second`.
fn bounding_box(first: Rectangle, second: Rectangle) -> Rectangle {
    let (Some(first_end), Some(second_end)) = (first.bottom_right(), second.bottom_right()) else {
        return if first.is_zero_sized() { second } else { first };
    };
    let top_left = Point::new(
        first.top_left.x.min(second.top_left.x),
        first.top_left.y.min(second.top_left.y),
    );
    let bottom_right = Point::new(first_end.x.max(second_end.x), first_end.y.max(second_end.y));
    Rectangle::with_corners(top_left, bottom_right)
}

impl OriginDimensions for Display {
    fn size(&self) -> Size {
        Size::new(self.width as u32, self.height as u32)
    }
}

impl DrawTarget for Display {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let (width, height, stride, size) =
            (self.width, self.height, self.stride, self.bytes_per_pixel);
        for Pixel(point, color) in pixels {
            let (Ok(x), Ok(y)) = (usize::try_from(point.x), usize::try_from(point.y)) else {
                continue;
            };
            if x >= width || y >= height {
                continue;
            }
            let encoded = self.encode(color);
            let offset = (y * stride + x) * size;
            if let Some(target) = self.pixels_mut().get_mut(offset..offset + size.min(4)) {
                target.copy_from_slice(&encoded[..size.min(4)]);
            }
        }
        Ok(())
    }

    fn fill_solid(&mut self, area: &Rectangle, color: Self::Color) -> Result<(), Self::Error> {
        let screen = Rectangle::new(Point::zero(), self.size());
        let area = area.intersection(&screen);
        if area.is_zero_sized() {
            return Ok(());
        }
        let encoded = self.encode(color);
        let (stride, size) = (self.stride, self.bytes_per_pixel);
        let size_used = size.min(4);
        let x = area.top_left.x as usize;
        let top = area.top_left.y as usize;
        let row_bytes = area.size.width as usize * size;
        let first = (top * stride + x) * size;
        let pixels = self.pixels_mut();
        // One row pixel by pixel, then the other rows copied from it (a
        // memory copy per row instead of a loop per pixel).
        let Some(row) = pixels.get_mut(first..first + row_bytes) else {
            return Ok(());
        };
        for pixel in row.chunks_exact_mut(size) {
            pixel[..size_used].copy_from_slice(&encoded[..size_used]);
        }
        for y in top + 1..top + area.size.height as usize {
            let start = (y * stride + x) * size;
            if start + row_bytes <= pixels.len() {
                pixels.copy_within(first..first + row_bytes, start);
            }
        }
        Ok(())
    }
}
