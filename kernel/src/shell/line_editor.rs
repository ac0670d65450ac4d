//! Line editing and history for the shell, independent of where keys come from.
//!
//! Keys arrive as [`Key`] values (decoded from serial escape sequences or
//! PS/2 scancodes); the editor keeps the line, the cursor and the last
//! [`HISTORY_LINES`] commands.

use alloc::{collections::VecDeque, string::String, vec::Vec};

/// Commands remembered for the up and down arrows.
pub const HISTORY_LINES: usize = 32;
/// Longest line accepted, in characters.
pub const MAX_LINE_CHARACTERS: usize = 160;

/// A key the shell understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Character(char),
    /// Run the line.
    Enter,
    /// Delete the character before the cursor.
    Backspace,
    /// Previous history entry.
    Up,
    /// Next history entry.
    Down,
    /// Cursor left.
    Left,
    /// Cursor right.
    Right,
    /// Clear the line (Ctrl-U).
    ClearLine,
}

/// The line being edited and the history.
#[derive(Debug, Default)]
pub struct LineEditor {
    line: Vec<char>,
    cursor: usize,
    history: VecDeque<String>,
    /// Position while browsing the history (`None`: editing a new line).
    browsing: Option<usize>,
}

impl LineEditor {
    /// Returns an empty editor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the line as typed so far.
    pub fn line(&self) -> String {
        self.line.iter().collect()
    }

    /// Returns the cursor position in characters.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Applies `key`; returns the finished line when it was Enter.
    pub fn apply(&mut self, key: Key) -> Option<String> {
        match key {
            Key::Character(character) => {
                if self.line.len() < MAX_LINE_CHARACTERS && !character.is_control() {
                    self.line.insert(self.cursor, character);
                    self.cursor += 1;
                }
            }
            Key::Backspace => {
                if self.cursor > 0 {
                    self.cursor -= 1;
                    self.line.remove(self.cursor);
                }
            }
            Key::Left => self.cursor = self.cursor.saturating_sub(1),
            Key::Right => self.cursor = (self.cursor + 1).min(self.line.len()),
            Key::ClearLine => {
                self.line.clear();
                self.cursor = 0;
            }
            Key::Up => {
                let next = match self.browsing {
                    None => self.history.len().checked_sub(1),
                    Some(index) => Some(index.saturating_sub(1)),
                };
                if let Some(index) = next {
                    self.browsing = Some(index);
                    self.show(index);
                }
            }
            Key::Down => match self.browsing {
                Some(index) if index + 1 < self.history.len() => {
                    self.browsing = Some(index + 1);
                    self.show(index + 1);
                }
                Some(_) => {
                    self.browsing = None;
                    self.line.clear();
                    self.cursor = 0;
                }
                None => {}
            },
            Key::Enter => {
                let line = self.line();
                self.line.clear();
                self.cursor = 0;
                self.browsing = None;
                let trimmed = line.trim();
                if !trimmed.is_empty() && self.history.back().map(String::as_str) != Some(trimmed) {
                    if self.history.len() == HISTORY_LINES {
                        self.history.pop_front();
                    }
                    self.history.push_back(String::from(trimmed));
                }
                return Some(line);
            }
        }
        None
    }

    fn show(&mut self, index: usize) {
        if let Some(entry) = self.history.get(index) {
            self.line = entry.chars().collect();
            self.cursor = self.line.len();
        }
    }
}

/// Turns serial bytes into keys: printable ASCII, CR/LF, DEL/BS, Ctrl-U and
/// the VT100 arrow sequences `ESC [ A..D`.
#[derive(Debug, Default)]
pub struct SerialDecoder {
    /// Bytes of an escape sequence seen so far (0: none, 1: ESC, 2: ESC [).
    escape: u8,
    /// The last byte was CR (a following LF is the same Enter).
    after_carriage_return: bool,
}

/// ASCII escape.
const ESCAPE: u8 = 0x1B;
/// ASCII delete, what terminals send for Backspace.
const DELETE: u8 = 0x7F;
/// ASCII backspace.
const BACKSPACE: u8 = 0x08;
/// Ctrl-U.
const CONTROL_U: u8 = 0x15;

impl SerialDecoder {
    /// Feeds one byte; returns the key it completes, if any.
    pub fn feed(&mut self, byte: u8) -> Option<Key> {
        let after_carriage_return = core::mem::take(&mut self.after_carriage_return);
        match (self.escape, byte) {
            (1, b'[') => {
                self.escape = 2;
                None
            }
            (2, code) => {
                self.escape = 0;
                match code {
                    b'A' => Some(Key::Up),
                    b'B' => Some(Key::Down),
                    b'C' => Some(Key::Right),
                    b'D' => Some(Key::Left),
                    _ => None,
                }
            }
            (1, _) => {
                self.escape = 0;
                None
            }
            (_, ESCAPE) => {
                self.escape = 1;
                None
            }
            (_, b'\r') => {
                self.after_carriage_return = true;
                Some(Key::Enter)
            }
            (_, b'\n') if after_carriage_return => None,
            (_, b'\n') => Some(Key::Enter),
            (_, DELETE | BACKSPACE) => Some(Key::Backspace),
            (_, CONTROL_U) => Some(Key::ClearLine),
            (_, printable @ 0x20..=0x7E) => Some(Key::Character(char::from(printable))),
            _ => None,
        }
    }
}
