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

    /// Puts history entry `index` on the line, the cursor at its end.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the editor after typing `text` (without Enter).
    fn typed(text: &str) -> LineEditor {
        let mut editor = LineEditor::new();
        for character in text.chars() {
            assert_eq!(editor.apply(Key::Character(character)), None);
        }
        editor
    }

    /// Types `text` and Enter; returns the finished line.
    fn enter(editor: &mut LineEditor, text: &str) -> Option<String> {
        for character in text.chars() {
            editor.apply(Key::Character(character));
        }
        editor.apply(Key::Enter)
    }

    /// Returns the keys `bytes` decode to.
    fn decode(bytes: &[u8]) -> Vec<Key> {
        let mut decoder = SerialDecoder::default();
        bytes
            .iter()
            .filter_map(|byte| decoder.feed(*byte))
            .collect()
    }

    #[test]
    fn typing_inserts_at_the_cursor() {
        let mut editor = typed("hllo");
        assert_eq!(editor.cursor(), 4);
        for _ in 0..3 {
            editor.apply(Key::Left);
        }
        editor.apply(Key::Character('e'));
        assert_eq!(editor.line(), "hello");
        assert_eq!(editor.cursor(), 2);
    }

    #[test]
    fn the_cursor_stays_inside_the_line() {
        let mut editor = typed("ab");
        for _ in 0..5 {
            editor.apply(Key::Right);
        }
        assert_eq!(editor.cursor(), 2);
        for _ in 0..5 {
            editor.apply(Key::Left);
        }
        assert_eq!(editor.cursor(), 0);
        // Backspace at the start deletes nothing.
        editor.apply(Key::Backspace);
        assert_eq!(editor.line(), "ab");
        assert_eq!(editor.cursor(), 0);
    }

    #[test]
    fn backspace_deletes_before_the_cursor() {
        let mut editor = typed("abc");
        editor.apply(Key::Left);
        editor.apply(Key::Backspace);
        assert_eq!(editor.line(), "ac");
        assert_eq!(editor.cursor(), 1);
    }

    #[test]
    fn clear_line_empties_the_line() {
        let mut editor = typed("rm -rf");
        editor.apply(Key::ClearLine);
        assert_eq!(editor.line(), "");
        assert_eq!(editor.cursor(), 0);
    }

    #[test]
    fn control_characters_are_refused() {
        let editor = typed("a\tb\u{7}c\u{1b}");
        assert_eq!(editor.line(), "abc");
    }

    #[test]
    fn the_line_stops_at_its_limit() {
        let long: String = core::iter::repeat_n('x', MAX_LINE_CHARACTERS + 10).collect();
        let mut editor = typed(&long);
        assert_eq!(editor.line().chars().count(), MAX_LINE_CHARACTERS);
        assert_eq!(editor.cursor(), MAX_LINE_CHARACTERS);
        // Not even in the middle.
        editor.apply(Key::Left);
        editor.apply(Key::Character('y'));
        assert!(!editor.line().contains('y'));
    }

    #[test]
    fn the_cursor_counts_characters_not_bytes() {
        let mut editor = typed("ÄÖ€");
        assert_eq!(editor.cursor(), 3);
        editor.apply(Key::Left);
        editor.apply(Key::Backspace);
        assert_eq!(editor.line(), "Ä€");
    }

    #[test]
    fn enter_returns_the_line_untrimmed_and_resets() {
        let mut editor = LineEditor::new();
        assert_eq!(enter(&mut editor, "  ps  ").as_deref(), Some("  ps  "));
        assert_eq!(editor.line(), "");
        assert_eq!(editor.cursor(), 0);
        // The history holds the trimmed command.
        editor.apply(Key::Up);
        assert_eq!(editor.line(), "ps");
        assert_eq!(editor.cursor(), 2);
    }

    #[test]
    fn blank_and_repeated_lines_stay_out_of_the_history() {
        let mut editor = LineEditor::new();
        assert_eq!(enter(&mut editor, "").as_deref(), Some(""));
        assert_eq!(enter(&mut editor, "   ").as_deref(), Some("   "));
        editor.apply(Key::Up);
        assert_eq!(editor.line(), "", "blank lines are not remembered");
        editor.apply(Key::ClearLine);
        editor.apply(Key::Enter);
        enter(&mut editor, "ls");
        enter(&mut editor, "ls");
        enter(&mut editor, " ls ");
        enter(&mut editor, "ps");
        editor.apply(Key::Up);
        assert_eq!(editor.line(), "ps");
        editor.apply(Key::Up);
        assert_eq!(editor.line(), "ls");
        editor.apply(Key::Up);
        assert_eq!(editor.line(), "ls", "the oldest entry stays");
    }

    #[test]
    fn up_and_down_browse_the_history() {
        let mut editor = LineEditor::new();
        for command in ["one", "two", "three"] {
            enter(&mut editor, command);
        }
        editor.apply(Key::Up);
        assert_eq!(editor.line(), "three");
        editor.apply(Key::Up);
        editor.apply(Key::Up);
        editor.apply(Key::Up);
        assert_eq!(editor.line(), "one");
        editor.apply(Key::Down);
        assert_eq!(editor.line(), "two");
        editor.apply(Key::Down);
        assert_eq!(editor.line(), "three");
        editor.apply(Key::Down);
        assert_eq!(editor.line(), "", "past the newest entry: a new line");
        editor.apply(Key::Down);
        assert_eq!(editor.line(), "");
    }

    #[test]
    fn browsing_an_empty_history_changes_nothing() {
        let mut editor = typed("draft");
        editor.apply(Key::Up);
        editor.apply(Key::Down);
        assert_eq!(editor.line(), "draft");
        assert_eq!(editor.cursor(), 5);
    }

    #[test]
    fn an_edited_history_entry_runs_as_edited() {
        let mut editor = LineEditor::new();
        enter(&mut editor, "kill 3");
        editor.apply(Key::Up);
        editor.apply(Key::Backspace);
        assert_eq!(enter(&mut editor, "4").as_deref(), Some("kill 4"));
        editor.apply(Key::Up);
        assert_eq!(editor.line(), "kill 4");
        editor.apply(Key::Up);
        assert_eq!(editor.line(), "kill 3", "the entry itself was not changed");
    }

    #[test]
    fn the_history_keeps_only_the_newest_lines() {
        let mut editor = LineEditor::new();
        for number in 0..HISTORY_LINES + 5 {
            enter(&mut editor, &format!("command {number}"));
        }
        for _ in 0..HISTORY_LINES + 10 {
            editor.apply(Key::Up);
        }
        assert_eq!(editor.line(), "command 5");
    }

    #[test]
    fn serial_bytes_decode_to_keys() {
        assert_eq!(
            decode(b"a Z~"),
            [
                Key::Character('a'),
                Key::Character(' '),
                Key::Character('Z'),
                Key::Character('~')
            ]
        );
        assert_eq!(
            decode(&[DELETE, BACKSPACE, CONTROL_U]),
            [Key::Backspace, Key::Backspace, Key::ClearLine]
        );
        assert_eq!(
            decode(b"\x1b[A\x1b[B\x1b[C\x1b[D"),
            [Key::Up, Key::Down, Key::Right, Key::Left]
        );
    }

    #[test]
    fn line_endings_give_one_enter_each() {
        assert_eq!(decode(b"\r\n"), [Key::Enter]);
        assert_eq!(decode(b"\n"), [Key::Enter]);
        assert_eq!(decode(b"\r"), [Key::Enter]);
        assert_eq!(decode(b"\r\r"), [Key::Enter, Key::Enter]);
        assert_eq!(decode(b"\n\n"), [Key::Enter, Key::Enter]);
        assert_eq!(decode(b"\r\n\r\n"), [Key::Enter, Key::Enter]);
        // An LF after something else than CR is its own Enter.
        assert_eq!(
            decode(b"\rx\n"),
            [Key::Enter, Key::Character('x'), Key::Enter]
        );
    }

    #[test]
    fn unknown_and_broken_escape_sequences_are_dropped() {
        // An unknown final byte is swallowed with the sequence.
        assert_eq!(decode(b"\x1b[Zq"), [Key::Character('q')]);
        // ESC followed by anything but `[` swallows that byte too.
        assert_eq!(decode(b"\x1bxq"), [Key::Character('q')]);
        // A sequence split across calls still decodes.
        let mut decoder = SerialDecoder::default();
        assert_eq!(decoder.feed(ESCAPE), None);
        assert_eq!(decoder.feed(b'['), None);
        assert_eq!(decoder.feed(b'A'), Some(Key::Up));
        // ESC ESC [ A: the second ESC ends the first sequence unfinished.
        assert_eq!(
            decode(b"\x1b\x1b[A"),
            [Key::Character('['), Key::Character('A')]
        );
    }

    #[test]
    fn non_ascii_and_control_bytes_are_ignored() {
        let noise: Vec<u8> = (0x80..=0xFF)
            .chain([0x00, 0x01, 0x07, 0x09, 0x1F])
            .collect();
        assert_eq!(decode(&noise), []);
    }

    #[test]
    fn every_byte_sequence_decodes_without_panicking() {
        let mut decoder = SerialDecoder::default();
        let mut editor = LineEditor::new();
        let mut state = 1_u32;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if let Some(key) = decoder.feed(state.to_le_bytes()[0]) {
                editor.apply(key);
            }
            assert!(editor.cursor() <= editor.line().chars().count());
            assert!(editor.line().chars().count() <= MAX_LINE_CHARACTERS);
        }
    }
}
