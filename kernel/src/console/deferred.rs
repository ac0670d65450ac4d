//! Text written while the console was busy, kept until a writer can print it.
//!
//! A fixed buffer of [`DEFERRED_CAPACITY`] bytes; when it is full, further
//! text is dropped and the number of dropped bytes is printed with the rest.

use core::fmt::{self, Write};

use spin::Mutex;

use crate::arch::cpu::without_interrupts;

/// Bytes of deferred text kept at most.
const DEFERRED_CAPACITY: usize = 4096;

struct Deferred {
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

static DEFERRED: Mutex<Deferred> = Mutex::new(Deferred {
    bytes: [0; DEFERRED_CAPACITY],
    length: 0,
    dropped: 0,
});

/// Keeps `arguments` for the next writer.
pub fn push(arguments: fmt::Arguments<'_>) {
    without_interrupts(|| {
        if let Some(mut deferred) = DEFERRED.try_lock() {
            let _ = deferred.write_fmt(arguments);
        }
    });
}

/// Hands the kept text to `write` and empties the buffer.
pub fn drain(mut write: impl FnMut(&str)) {
    without_interrupts(|| {
        let Some(mut deferred) = DEFERRED.try_lock() else {
            return;
        };
        if deferred.length == 0 && deferred.dropped == 0 {
            return;
        }
        let text =
            core::str::from_utf8(&deferred.bytes[..deferred.length]).unwrap_or_else(|error| {
                // A cut in the middle of a character: print up to the cut.
                core::str::from_utf8(&deferred.bytes[..error.valid_up_to()]).unwrap_or("")
            });
        write(text);
        if deferred.dropped > 0 {
            let mut line = [0u8; 64];
            let mut cursor = LineBuffer {
                bytes: &mut line,
                length: 0,
            };
            let _ = writeln!(
                cursor,
                "[console: {} deferred bytes dropped]",
                deferred.dropped
            );
            let length = cursor.length;
            write(core::str::from_utf8(&line[..length]).unwrap_or(""));
        }
        deferred.length = 0;
        deferred.dropped = 0;
    });
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
