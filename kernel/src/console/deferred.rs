//! Text kept until a writer can print it: [`BUSY`] holds text written while
//! the console was busy (for both sinks), [`SCREEN`] text that went to the
//! serial line with interrupts off and still has to be drawn.
//!
//! Each is a fixed buffer of [`DEFERRED_CAPACITY`] bytes; when it is full,
//! further text is dropped and the number of dropped bytes is printed with
//! the rest.

use core::fmt::{self, Write};

use spin::Mutex;

use crate::arch::cpu::without_interrupts;

/// Bytes of deferred text kept at most.
const DEFERRED_CAPACITY: usize = 4096;

pub struct Deferred {
    bytes: [u8; DEFERRED_CAPACITY],
    length: usize,
    dropped: usize,
}

impl Write for Deferred {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = DEFERRED_CAPACITY - self.length;
        let taken = text.len().min(room);
        self.bytes[self.length..self.length + taken].copy_from_slice(&text.as_bytes()[..taken]);
        self.length += taken;
        self.dropped += text.len() - taken;
        Ok(())
    }
}

/// An empty buffer.
const EMPTY: Deferred = Deferred {
    bytes: [0; DEFERRED_CAPACITY],
    length: 0,
    dropped: 0,
};

/// Text written while the console was busy, for both sinks.
pub static BUSY: Mutex<Deferred> = Mutex::new(EMPTY);

/// Text printed on the serial line with interrupts off, for the screen:
/// drawing glyphs costs far more than sending bytes, so it waits until a
/// writer with interrupts enabled draws it.
pub static SCREEN: Mutex<Deferred> = Mutex::new(EMPTY);

/// Keeps `arguments` in `buffer` for the next writer.
pub fn push(buffer: &Mutex<Deferred>, arguments: fmt::Arguments<'_>) {
    without_interrupts(|| {
        if let Some(mut deferred) = buffer.try_lock() {
            let _ = deferred.write_fmt(arguments);
        }
    });
}

/// Hands the text kept in `buffer` to `write` and empties it.
///
/// The text is taken out with interrupts off and written with them as the
/// caller had them: writing it (drawing, above all) may take long.
pub fn drain(buffer: &Mutex<Deferred>, mut write: impl FnMut(&str)) {
    let mut taken = [0u8; DEFERRED_CAPACITY];
    let Some((length, dropped)) = without_interrupts(|| {
        let mut deferred = buffer.try_lock()?;
        if deferred.length == 0 && deferred.dropped == 0 {
            return None;
        }
        let length = deferred.length;
        taken[..length].copy_from_slice(&deferred.bytes[..length]);
        let dropped = deferred.dropped;
        deferred.length = 0;
        deferred.dropped = 0;
        Some((length, dropped))
    }) else {
        return;
    };
    let text = core::str::from_utf8(&taken[..length]).unwrap_or_else(|error| {
        // A cut in the middle of a character: print up to the cut.
        core::str::from_utf8(&taken[..error.valid_up_to()]).unwrap_or("")
    });
    write(text);
    if dropped > 0 {
        let mut line = [0u8; 64];
        let mut cursor = LineBuffer {
            bytes: &mut line,
            length: 0,
        };
        let _ = writeln!(cursor, "[console: {dropped} deferred bytes dropped]");
        let length = cursor.length;
        write(core::str::from_utf8(&line[..length]).unwrap_or(""));
    }
}

struct LineBuffer<'a> {
    bytes: &'a mut [u8],
    length: usize,
}

impl Write for LineBuffer<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let taken = text.len().min(self.bytes.len() - self.length);
        self.bytes[self.length..self.length + taken].copy_from_slice(&text.as_bytes()[..taken]);
        self.length += taken;
        Ok(())
    }
}
