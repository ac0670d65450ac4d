//! The `unsafe-confined` check: the word `unsafe` appears only where it is allowed.
//!
//! Every `*.rs` file below [`SCANNED_DIRECTORIES`] is read as code only (see
//! [`crate::source_text::code_lines`]: comments, doc comments and literals do
//! not count), and every line holding the word `unsafe` (an `unsafe` block,
//! function, impl, trait, `extern` block or `#[unsafe(...)]` attribute) is
//! reported as `file:line` unless [`UNSAFE_ALLOWED`] allows it.

use std::{fs, path::Path};

use crate::{
    Result,
    source_text::{code_lines, is_identifier_character, relative_path, rust_files},
};

/// The directories scanned, relative to the repository root.
pub const SCANNED_DIRECTORIES: [&str; 7] = [
    "kernel", "drivers", "tests", "agents", "sched-rl", "boot", "xtask",
];

/// The word looked for.
const UNSAFE_WORD: &str = "unsafe";

/// One place where `unsafe` may appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// Every file below this directory (relative to the root, ending in `/`).
    Directory(&'static str),
    /// This one file (relative to the root).
    File(&'static str),
    /// A line that is exactly this, apart from indentation.
    Line(&'static str),
}

/// Where `unsafe` may appear. Edit this list (with a reason) to allow more.
///
/// - `kernel/foundation/`: the foundation crate, which holds every hardware
///   access and offers safe types to the rest of the kernel (as Asterinas's OSTD).
/// - `agents/lib/src/raw.rs`: the ring-3 `syscall` stub of the agent library
///   (inline assembly has no safe form), and `agents/lib/src/vector.rs`, the
///   vector-register probes (inline assembly, `xgetbv`).
/// - `agents/tensor/`: the tensor runtime's SIMD kernels (`core::arch`
///   intrinsics are `unsafe fn`s) and the tests that call the AVX2 ones
///   directly to check each against the scalar reference.
/// - `drivers/tensor-backend/src/mapping.rs`: the host tensor backend's view of
///   the mmap'ed ivshmem file as atomic words (one `slice::from_raw_parts`).
/// - `drivers/tensor-backend/src/sgemm.rs`: the backend's one call into
///   `matrixmultiply::sgemm`, a raw-pointer API, after checking slice lengths.
/// - The crate-level lint attributes that forbid or deny `unsafe_code`. They
///   are not the word `unsafe` (the scan matches whole words), but they are
///   listed so that nobody "fixes" the scanner into reporting them. The
///   `unsafe_code` entries of `Cargo.toml` lint tables are not scanned at all:
///   only `*.rs` files are.
///
/// Comments mentioning the word in prose are always allowed: the scan sees code only.
pub const UNSAFE_ALLOWED: &[Allowed] = &[
    Allowed::Directory("kernel/foundation/"),
    Allowed::File("agents/lib/src/raw.rs"),
    Allowed::File("agents/lib/src/vector.rs"),
    Allowed::Directory("agents/tensor/"),
    Allowed::File("drivers/tensor-backend/src/mapping.rs"),
    Allowed::File("drivers/tensor-backend/src/sgemm.rs"),
    Allowed::Line("#![forbid(unsafe_code)]"),
    Allowed::Line("#![deny(unsafe_code)]"),
];

/// Returns whether the whole word `unsafe` appears in `code`.
fn has_unsafe_word(code: &str) -> bool {
    code.match_indices(UNSAFE_WORD).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + UNSAFE_WORD.len()..].chars().next();
        !before.is_some_and(is_identifier_character) && !after.is_some_and(is_identifier_character)
    })
}

/// Returns whether `path` (relative, with `/`) is allowed as a whole.
fn file_allowed(path: &str, allowed: &[Allowed]) -> bool {
    allowed.iter().any(|entry| match entry {
        Allowed::Directory(directory) => path.starts_with(directory),
        Allowed::File(file) => path == *file,
        Allowed::Line(_) => false,
    })
}

/// Returns whether source line `line` is allowed as it stands.
fn line_allowed(line: &str, allowed: &[Allowed]) -> bool {
    allowed
        .iter()
        .any(|entry| matches!(entry, Allowed::Line(exact) if line.trim() == *exact))
}

/// Returns one `path:line: text` report for every line of `source` (the file
/// at relative `path`) that uses `unsafe` outside `allowed`.
pub fn scan_source(path: &str, source: &str, allowed: &[Allowed]) -> Vec<String> {
    if file_allowed(path, allowed) {
        return Vec::new();
    }
    let lines: Vec<&str> = source.lines().collect();
    code_lines(source)
        .iter()
        .enumerate()
        .filter(|(_, code)| has_unsafe_word(code))
        .filter_map(|(index, _)| {
            let line = lines.get(index).copied().unwrap_or_default();
            (!line_allowed(line, allowed)).then(|| format!("{path}:{}: {}", index + 1, line.trim()))
        })
        .collect()
}

/// Runs the check over the repository at `root`; returns the reports (none: passed).
pub fn check(root: &Path) -> Result<Vec<String>> {
    let mut reports = Vec::new();
    for directory in SCANNED_DIRECTORIES {
        for file in rust_files(&root.join(directory))? {
            let source = fs::read_to_string(&file)
                .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
            reports.extend(scan_source(
                &relative_path(root, &file),
                &source,
                UNSAFE_ALLOWED,
            ));
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Source using `unsafe` in several ways, some of them not code.
    const SOURCE: &str = r#"//! Mentions unsafe in the tagline.
#![forbid(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

/// Calls something unsafe.
pub fn caller() {
    // SAFETY: the prose says unsafe too.
    unsafe { hardware() };
    let text = "unsafe in a string";
    let _ = text; /* unsafe in a block comment */
}

unsafe fn hardware() {}
pub unsafe trait Marker {}
#[unsafe(no_mangle)]
extern "C" fn exported() {}
fn not_unsafe_named() {}
"#;

    #[test]
    fn only_code_uses_are_reported() {
        assert_eq!(
            scan_source("kernel/src/x.rs", SOURCE, UNSAFE_ALLOWED),
            [
                "kernel/src/x.rs:8: unsafe { hardware() };",
                "kernel/src/x.rs:13: unsafe fn hardware() {}",
                "kernel/src/x.rs:14: pub unsafe trait Marker {}",
                "kernel/src/x.rs:15: #[unsafe(no_mangle)]",
            ]
        );
    }

    #[test]
    fn allowed_places_report_nothing() {
        assert!(scan_source("kernel/foundation/src/cpu.rs", SOURCE, UNSAFE_ALLOWED).is_empty());
        assert!(scan_source("agents/lib/src/raw.rs", SOURCE, UNSAFE_ALLOWED).is_empty());
        // Only that file, and only that directory.
        assert_eq!(
            scan_source("agents/lib/src/raw2.rs", SOURCE, UNSAFE_ALLOWED).len(),
            4
        );
        assert_eq!(
            scan_source("kernel/foundationx/lib.rs", SOURCE, UNSAFE_ALLOWED).len(),
            4
        );
    }

    #[test]
    fn lint_attributes_and_words_containing_unsafe_pass() {
        let source = "#![forbid(unsafe_code)]\n  #![deny(unsafe_code)]\nlet unsafe_count = 0;\nlet x = not_unsafe;\n";
        assert!(scan_source("drivers/src/lib.rs", source, UNSAFE_ALLOWED).is_empty());
    }

    #[test]
    fn an_allowed_line_must_match_exactly() {
        let allowed = [Allowed::Line("unsafe impl Send for Token {}")];
        let source = "unsafe impl Send for Token {}\nunsafe impl Sync for Token {}\n";
        assert_eq!(
            scan_source("tests/src/a.rs", source, &allowed),
            ["tests/src/a.rs:2: unsafe impl Sync for Token {}"]
        );
    }

    #[test]
    fn the_word_is_found_at_line_edges_and_after_punctuation() {
        assert!(has_unsafe_word("unsafe"));
        assert!(has_unsafe_word("{unsafe{"));
        assert!(has_unsafe_word("x = unsafe { y };"));
        assert!(!has_unsafe_word("unsafely"));
        assert!(!has_unsafe_word("r#unsafe_thing"));
        assert!(!has_unsafe_word("UNSAFE"));
        assert!(!has_unsafe_word(""));
    }

    #[test]
    fn the_scanner_does_not_report_itself() {
        let own = include_str!("unsafe_check.rs");
        assert!(scan_source("xtask/src/unsafe_check.rs", own, UNSAFE_ALLOWED).is_empty());
    }
}
