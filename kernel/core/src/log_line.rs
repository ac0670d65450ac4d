//! Agent log hygiene: one `log` call becomes exactly one console line.
//!
//! [`format_agent_line`] renders the bytes an agent passed to `log` after its
//! prefix `[agent ID NAME] `: printable ASCII stays, a newline becomes the two
//! characters `\n`, carriage return `\r`, tab `\t`, a backslash `\\`, and every
//! other byte (control characters, ESC of ANSI sequences, DEL, bytes >= 0x80)
//! becomes `\xNN`. The result never holds a control character, so an agent
//! can neither start a second line, overwrite the prefix (CR, cursor moves),
//! nor print a line that looks like kernel output. Input past `max_bytes` is
//! cut and [`CUT_MARKER`] appended; a single trailing newline (what most
//! callers add) is dropped, not escaped.

use alloc::string::String;
use core::fmt::Write;

/// Appended when the agent's text was longer than the limit.
pub const CUT_MARKER: &str = " [...cut]";

/// Returns the console line for `text` logged by agent `pid` named `name`,
/// without the final newline; at most `max_bytes` of `text` are shown.
/// The name is escaped the same way as the text.
pub fn format_agent_line(pid: u64, name: &str, text: &[u8], max_bytes: usize) -> String {
    let mut line = String::with_capacity(text.len().min(max_bytes) + name.len() + 32);
    let _ = write!(line, "[agent {pid} ");
    escape_into(&mut line, name.as_bytes());
    line.push_str("] ");
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let cut = text.len() > max_bytes;
    escape_into(&mut line, &text[..text.len().min(max_bytes)]);
    if cut {
        line.push_str(CUT_MARKER);
    }
    line
}

/// Appends `bytes` to `out` escaped: printable ASCII as is (`\` doubled),
/// `\n`, `\r`, `\t` as two-character escapes, everything else as `\xNN`.
pub fn escape_into(out: &mut String, bytes: &[u8]) {
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7E => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
}

/// Returns whether `line` is a well-formed agent line: it starts with
/// `[agent ` and holds no control character (what tests check on output).
pub fn is_clean_agent_line(line: &str) -> bool {
    line.starts_with("[agent ") && line.bytes().all(|byte| (0x20..=0x7E).contains(&byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &[u8]) -> String {
        format_agent_line(7, "evil", text, 512)
    }

    #[test]
    fn plain_text_is_kept_and_trailing_newline_dropped() {
        assert_eq!(line(b"hello world\n"), "[agent 7 evil] hello world");
        assert_eq!(line(b"hello"), "[agent 7 evil] hello");
    }

    #[test]
    fn newline_injection_stays_on_one_line() {
        let out = line(b"ok\n[kernel] panic: forged\n");
        assert_eq!(out, "[agent 7 evil] ok\\n[kernel] panic: forged");
        assert!(!out.contains('\n'));
        assert!(is_clean_agent_line(&out));
    }

    #[test]
    fn carriage_return_and_ansi_escapes_are_escaped() {
        let out = line(b"\r[kernel] x\x1b[2K\x1b[1A");
        assert_eq!(out, "[agent 7 evil] \\r[kernel] x\\x1b[2K\\x1b[1A");
        assert!(is_clean_agent_line(&out));
    }

    #[test]
    fn every_control_byte_and_high_byte_is_escaped() {
        let bytes: alloc::vec::Vec<u8> = (0u8..=0x1F).chain([0x7F, 0x80, 0xFF]).collect();
        let out = line(&bytes);
        assert!(is_clean_agent_line(&out));
        assert!(out.contains("\\x00") && out.contains("\\x1f") && out.contains("\\x7f"));
        assert!(out.contains("\\xff") && out.contains("\\t") && out.contains("\\r"));
    }

    #[test]
    fn backslash_is_doubled_so_escapes_cannot_be_forged() {
        assert_eq!(line(b"a\\nb"), "[agent 7 evil] a\\\\nb");
    }

    #[test]
    fn long_lines_are_cut_with_a_marker() {
        let out = format_agent_line(1, "n", &[b'a'; 600], 512);
        assert!(out.ends_with(CUT_MARKER));
        assert_eq!(out.len(), "[agent 1 n] ".len() + 512 + CUT_MARKER.len());
        let exact = format_agent_line(1, "n", &[b'a'; 512], 512);
        assert!(!exact.ends_with(CUT_MARKER));
    }

    #[test]
    fn name_is_escaped_too() {
        assert!(is_clean_agent_line(&format_agent_line(
            1, "a\nb", b"x", 512
        )));
    }

    #[test]
    fn clean_line_check_rejects_forgeries() {
        assert!(!is_clean_agent_line("[kernel] panic"));
        assert!(!is_clean_agent_line("[agent 1 x] a\nb"));
    }
}
