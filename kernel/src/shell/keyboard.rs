//! The PS/2 keyboard: scancodes queued by the IRQ 1 handler, decoded into shell keys by `pc-keyboard`.
//!
//! The handler only reads the byte and queues it (no decoding, no output,
//! no allocation); the shell agent drains the queue and decodes with a
//! US layout.

use kernel_core::line_editor::Key;
use pc_keyboard::{
    DecodedKey, HandleControl, KeyCode, PS2Keyboard, ScancodeSet1, layouts::Us104Key,
};
use spin::Mutex;

use crate::arch::{cpu::without_interrupts, device_interrupts};

/// The legacy line of the PS/2 keyboard.
const KEYBOARD_LINE: u8 = 1;
/// Scancodes queued at most; later ones are dropped until the shell reads.
const QUEUE_CAPACITY: usize = 64;

struct ScancodeQueue {
    bytes: [u8; QUEUE_CAPACITY],
    start: usize,
    length: usize,
}

/// Taken by the handler (interrupts off) and by the shell with interrupts disabled.
static QUEUE: Mutex<ScancodeQueue> = Mutex::new(ScancodeQueue {
    bytes: [0; QUEUE_CAPACITY],
    start: 0,
    length: 0,
});

fn on_interrupt(_vector: u8) {
    let scancode = drivers::ps2_keyboard::read_scancode();
    if let Some(mut queue) = QUEUE.try_lock()
        && queue.length < QUEUE_CAPACITY
    {
        let end = (queue.start + queue.length) % QUEUE_CAPACITY;
        queue.bytes[end] = scancode;
        queue.length += 1;
    }
}

/// Routes IRQ 1 to the queue; returns whether the line could be registered.
pub fn init() -> bool {
    match device_interrupts::register_legacy(KEYBOARD_LINE, on_interrupt) {
        Ok(_) => true,
        Err(error) => {
            log::warn!("keyboard: IRQ {KEYBOARD_LINE} unavailable ({error:?})");
            false
        }
    }
}

fn pop() -> Option<u8> {
    without_interrupts(|| {
        let mut queue = QUEUE.lock();
        if queue.length == 0 {
            return None;
        }
        let byte = queue.bytes[queue.start];
        queue.start = (queue.start + 1) % QUEUE_CAPACITY;
        queue.length -= 1;
        Some(byte)
    })
}

/// Decodes queued scancodes into shell keys.
pub struct KeyboardDecoder {
    keyboard: PS2Keyboard<Us104Key, ScancodeSet1>,
}

impl Default for KeyboardDecoder {
    fn default() -> Self {
        Self {
            keyboard: PS2Keyboard::new(
                ScancodeSet1::new(),
                Us104Key,
                HandleControl::MapLettersToUnicode,
            ),
        }
    }
}

/// Ctrl-U as `MapLettersToUnicode` delivers it.
const CONTROL_U: char = '\u{15}';
/// Backspace as the layout delivers it.
const BACKSPACE: char = '\u{8}';
/// Delete as the layout delivers it.
const DELETE: char = '\u{7f}';

impl KeyboardDecoder {
    /// Returns the next key typed, if a complete one is queued.
    pub fn next_key(&mut self) -> Option<Key> {
        while let Some(byte) = pop() {
            let Ok(Some(event)) = self.keyboard.add_byte(byte) else {
                continue;
            };
            let key = match self.keyboard.process_keyevent(event) {
                Some(DecodedKey::Unicode('\n' | '\r')) => Some(Key::Enter),
                Some(DecodedKey::Unicode(BACKSPACE | DELETE)) => Some(Key::Backspace),
                Some(DecodedKey::Unicode(CONTROL_U)) => Some(Key::ClearLine),
                Some(DecodedKey::Unicode(character)) if !character.is_control() => {
                    Some(Key::Character(character))
                }
                Some(DecodedKey::RawKey(KeyCode::ArrowUp)) => Some(Key::Up),
                Some(DecodedKey::RawKey(KeyCode::ArrowDown)) => Some(Key::Down),
                Some(DecodedKey::RawKey(KeyCode::ArrowLeft)) => Some(Key::Left),
                Some(DecodedKey::RawKey(KeyCode::ArrowRight)) => Some(Key::Right),
                _ => None,
            };
            if key.is_some() {
                return key;
            }
        }
        None
    }
}
