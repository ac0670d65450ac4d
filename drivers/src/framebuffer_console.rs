//! A text console drawn on the linear framebuffer the bootloader hands over.
//!
//! Glyphs come from the `noto-sans-mono-bitmap` crate (anti-aliased, so each
//! pixel is an intensity). When the text reaches the bottom it continues at
//! the top, clearing the line ahead of the cursor, instead of scrolling: a
//! scroll would copy the whole screen (megabytes, read back from slow video
//! memory on a real PC) for every line. A line longer than
//! [`MAX_ROWS_PER_LINE`] screen rows is cut on the screen.

use core::fmt;

use bootloader_api::info::{FrameBuffer, FrameBufferInfo, PixelFormat};
use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};

/// Glyph height in pixels.
const FONT_HEIGHT: RasterHeight = RasterHeight::Size16;
/// Glyph weight.
const FONT_WEIGHT: FontWeight = FontWeight::Regular;
/// Character drawn for anything the font lacks.
const REPLACEMENT_CHARACTER: char = '?';
/// Blank pixels around the text area.
const BORDER_PIXELS: usize = 4;
/// Extra pixels between two text lines.
const LINE_SPACING_PIXELS: usize = 2;

/// A scrolling text console on a framebuffer.
pub struct FramebufferConsole {
    buffer: &'static mut [u8],
    info: FrameBufferInfo,
    column_pixel: usize,
    row_pixel: usize,
    /// Screen rows the current line (since the last newline) took so far.
    line_rows: usize,
}

/// Screen rows one line of text may take; the rest of a longer line is
/// not drawn (the serial line has all of it). An agent's 512-byte log line
/// of escaped binary would otherwise fill a dozen rows, and the console lock
/// is held while drawing.
pub const MAX_ROWS_PER_LINE: usize = 3;

impl FramebufferConsole {
    /// Returns a console on `framebuffer`, cleared, or `None` when its pixel
    /// format is one this console cannot draw.
    pub fn new(framebuffer: &'static mut FrameBuffer) -> Option<Self> {
        let info = framebuffer.info();
        let supported = matches!(
            info.pixel_format,
            PixelFormat::Rgb | PixelFormat::Bgr | PixelFormat::U8
        );
        let expected_len = info
            .stride
            .checked_mul(info.height)?
            .checked_mul(info.bytes_per_pixel)?;
        if !supported || info.bytes_per_pixel == 0 || expected_len > info.byte_len {
            return None;
        }
        // The bootloader's mapping of the framebuffer lives for the whole run.
        let buffer: &'static mut [u8] = &mut framebuffer.buffer_mut()[..expected_len];
        let mut console = Self {
            buffer,
            info,
            column_pixel: BORDER_PIXELS,
            row_pixel: BORDER_PIXELS,
            line_rows: 1,
        };
        console.clear();
        Some(console)
    }

    /// Returns the screen size in pixels (width, height).
    pub fn size(&self) -> (usize, usize) {
        (self.info.width, self.info.height)
    }

    /// Gives the framebuffer's memory and layout back (for the dashboard).
    pub fn into_parts(self) -> (&'static mut [u8], FrameBufferInfo) {
        (self.buffer, self.info)
    }

    fn line_height() -> usize {
        FONT_HEIGHT.val() + LINE_SPACING_PIXELS
    }

    fn clear(&mut self) {
        self.buffer.fill(0);
        self.column_pixel = BORDER_PIXELS;
        self.row_pixel = BORDER_PIXELS;
    }

    fn new_line(&mut self) {
        self.column_pixel = BORDER_PIXELS;
        self.row_pixel += Self::line_height();
        if self.row_pixel + Self::line_height() + BORDER_PIXELS > self.info.height {
            self.row_pixel = BORDER_PIXELS;
        }
        self.clear_line(self.row_pixel);
        // Keep one blank line after the cursor so the newest text stands out.
        let next = self.row_pixel + Self::line_height();
        if next + Self::line_height() + BORDER_PIXELS <= self.info.height {
            self.clear_line(next);
        }
    }

    fn clear_line(&mut self, row_pixel: usize) {
        let row_bytes = self.info.stride * self.info.bytes_per_pixel;
        let start = row_pixel * row_bytes;
        let end = (start + Self::line_height() * row_bytes).min(self.buffer.len());
        if start < end {
            self.buffer[start..end].fill(0);
        }
    }

    fn write_char(&mut self, character: char) {
        match character {
            '\n' => {
                self.new_line();
                self.line_rows = 1;
            }
            '\r' => self.column_pixel = BORDER_PIXELS,
            character => {
                let width = get_raster_width(FONT_WEIGHT, FONT_HEIGHT);
                if self.column_pixel + width + BORDER_PIXELS > self.info.width {
                    if self.line_rows >= MAX_ROWS_PER_LINE {
                        return;
                    }
                    self.line_rows += 1;
                    self.new_line();
                }
                let raster = get_raster(character, FONT_WEIGHT, FONT_HEIGHT)
                    .or_else(|| get_raster(REPLACEMENT_CHARACTER, FONT_WEIGHT, FONT_HEIGHT));
                if let Some(raster) = raster {
                    for (y, row) in raster.raster().iter().enumerate() {
                        for (x, intensity) in row.iter().enumerate() {
                            self.write_pixel(self.column_pixel + x, self.row_pixel + y, *intensity);
                        }
                    }
                }
                self.column_pixel += width;
            }
        }
    }

    fn write_pixel(&mut self, x: usize, y: usize, intensity: u8) {
        if x >= self.info.width || y >= self.info.height {
            return;
        }
        let offset = (y * self.info.stride + x) * self.info.bytes_per_pixel;
        let color = match self.info.pixel_format {
            PixelFormat::Rgb | PixelFormat::Bgr => [intensity, intensity, intensity, 0],
            _ => [intensity, 0, 0, 0],
        };
        let bytes = self.info.bytes_per_pixel.min(color.len());
        if let Some(pixel) = self.buffer.get_mut(offset..offset + bytes) {
            pixel.copy_from_slice(&color[..bytes]);
        }
    }
}

impl fmt::Write for FramebufferConsole {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for character in text.chars() {
            self.write_char(character);
        }
        Ok(())
    }
}
