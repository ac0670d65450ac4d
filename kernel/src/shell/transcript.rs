//! The shell's recent output and input line, kept for the dashboard's shell pane.

use alloc::{collections::VecDeque, format, string::String, vec::Vec};
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::arch::cpu::without_interrupts;

/// Output lines kept.
const TRANSCRIPT_LINES: usize = 200;

struct Transcript {
    lines: VecDeque<String>,
    input: String,
}

static TRANSCRIPT: Mutex<Transcript> = Mutex::new(Transcript {
    lines: VecDeque::new(),
    input: String::new(),
});
/// Bumped on every change, so the dashboard redraws only after one.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Appends output `text` (one or more lines).
pub fn push(text: &str) {
    without_interrupts(|| {
        let mut transcript = TRANSCRIPT.lock();
        for line in text.lines() {
            if transcript.lines.len() == TRANSCRIPT_LINES {
                transcript.lines.pop_front();
            }
            transcript.lines.push_back(String::from(line));
        }
    });
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Sets the line being typed (`prompt` included), with the cursor at `cursor`.
pub fn set_input(prompt: &str, line: &str, cursor: usize) {
    let mut shown = format!("{prompt}{line} ");
    // Mark the cursor with an underscore-like block after the prompt.
    let position = prompt.len() + line.chars().take(cursor).map(char::len_utf8).sum::<usize>();
    if position < shown.len() && shown.is_char_boundary(position) {
        shown.insert(position, '_');
    }
    without_interrupts(|| TRANSCRIPT.lock().input = shown);
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Returns a number that changes whenever the transcript does.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// Returns the last `count` lines, the input line last.
pub fn tail(count: usize) -> Vec<String> {
    without_interrupts(|| {
        let transcript = TRANSCRIPT.lock();
        let kept = count.saturating_sub(1).min(transcript.lines.len());
        let mut lines: Vec<String> = transcript
            .lines
            .iter()
            .skip(transcript.lines.len() - kept)
            .cloned()
            .collect();
        lines.push(transcript.input.clone());
        lines
    })
}
