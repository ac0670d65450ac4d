//! Rust source as the source checks read it: code only, and the files to read.
//!
//! [`code_lines`] blanks out comments (line, block, doc) and the contents of
//! string and character literals, keeping every line break, so a check that
//! looks for a word or a path sees only code and still reports the right line.
//! It is a lexer for that purpose only: it knows literals, raw strings,
//! nested block comments and lifetimes, not the rest of the grammar.
//! [`rust_files`] lists the `*.rs` files below a directory, skipping build
//! output and hidden directories.

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::Result;

/// Directories never scanned: build output.
const SKIPPED_DIRECTORIES: [&str; 1] = ["target"];

/// Returns whether `character` may continue an identifier.
pub fn is_identifier_character(character: char) -> bool {
    character.is_alphanumeric() || character == '_'
}

/// Where the lexer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Ordinary code.
    Code,
    /// A `//` comment, up to the end of the line.
    LineComment,
    /// A `/* */` comment, nested this deep.
    BlockComment(usize),
    /// A `"` string (also `b"`, `c"`).
    String,
    /// A raw string closed by `"` and this many `#`.
    RawString(usize),
}

/// Returns the lines of `source` with comments and literal contents replaced
/// by spaces (line breaks kept, so line `n` of the result is line `n` of the source).
pub fn code_lines(source: &str) -> Vec<String> {
    let characters: Vec<char> = source.chars().collect();
    let mut code = String::with_capacity(source.len());
    let mut state = State::Code;
    let mut index = 0;
    // Appends a blank for `character`, keeping line breaks.
    let blank = |code: &mut String, character: char| {
        code.push(if character == '\n' { '\n' } else { ' ' });
    };
    while index < characters.len() {
        let character = characters[index];
        let next = characters.get(index + 1).copied();
        match state {
            State::Code => {
                if character == '/' && next == Some('/') {
                    state = State::LineComment;
                    code.push_str("  ");
                    index += 2;
                    continue;
                }
                if character == '/' && next == Some('*') {
                    state = State::BlockComment(1);
                    code.push_str("  ");
                    index += 2;
                    continue;
                }
                if character == '"' {
                    state = State::String;
                    code.push(' ');
                } else if let Some((hashes, length)) = raw_string_start(&characters, index) {
                    state = State::RawString(hashes);
                    for _ in 0..length {
                        code.push(' ');
                    }
                    index += length;
                    continue;
                } else if character == '\'' {
                    if let Some(length) = character_literal_length(&characters, index) {
                        for offset in 0..length {
                            blank(&mut code, characters[index + offset]);
                        }
                        index += length;
                        continue;
                    }
                    // A lifetime or a label: code.
                    code.push(character);
                } else {
                    code.push(character);
                }
            }
            State::LineComment => {
                if character == '\n' {
                    state = State::Code;
                }
                blank(&mut code, character);
            }
            State::BlockComment(depth) => {
                if character == '/' && next == Some('*') {
                    state = State::BlockComment(depth + 1);
                    code.push_str("  ");
                    index += 2;
                    continue;
                }
                if character == '*' && next == Some('/') {
                    state = if depth == 1 {
                        State::Code
                    } else {
                        State::BlockComment(depth - 1)
                    };
                    code.push_str("  ");
                    index += 2;
                    continue;
                }
                blank(&mut code, character);
            }
            State::String => {
                if character == '\\' {
                    blank(&mut code, character);
                    if let Some(escaped) = next {
                        blank(&mut code, escaped);
                    }
                    index += 2;
                    continue;
                }
                if character == '"' {
                    state = State::Code;
                }
                blank(&mut code, character);
            }
            State::RawString(hashes) => {
                let closes = character == '"'
                    && (1..=hashes).all(|offset| characters.get(index + offset) == Some(&'#'));
                if closes {
                    for _ in 0..=hashes {
                        code.push(' ');
                    }
                    index += hashes + 1;
                    state = State::Code;
                    continue;
                }
                blank(&mut code, character);
            }
        }
        index += 1;
    }
    code.split('\n').map(str::to_owned).collect()
}

/// Returns, when a raw string (`r"`, `r#"`, `br#"`, `cr"` ...) starts at
/// `index`, its number of `#` and the length of its opening.
fn raw_string_start(characters: &[char], index: usize) -> Option<(usize, usize)> {
    let before = |offset: usize| index.checked_sub(offset).map(|at| characters[at]);
    let starts_word = |offset: usize| before(offset).is_none_or(|c| !is_identifier_character(c));
    let mut at = index;
    if matches!(characters[at], 'b' | 'c') && starts_word(1) {
        at += 1;
    } else if !starts_word(1) {
        return None;
    }
    if characters.get(at) != Some(&'r') {
        return None;
    }
    at += 1;
    let mut hashes = 0;
    while characters.get(at) == Some(&'#') {
        hashes += 1;
        at += 1;
    }
    (characters.get(at) == Some(&'"')).then_some((hashes, at + 1 - index))
}

/// Returns the length of the character literal starting with the `'` at
/// `index`, or `None` when the quote starts a lifetime or a label.
fn character_literal_length(characters: &[char], index: usize) -> Option<usize> {
    match characters.get(index + 1)? {
        '\\' => {
            // An escape: `'\n'`, `'\''`, `'\u{1F600}'`; ends at the next quote
            // after the escaped character.
            let mut at = index + 3;
            while *characters.get(at)? != '\'' {
                if characters[at] == '\n' {
                    return None;
                }
                at += 1;
            }
            Some(at + 1 - index)
        }
        '\n' => None,
        _ => (characters.get(index + 2) == Some(&'\'')).then_some(3),
    }
}

/// Returns every `*.rs` file below `directory`, sorted, skipping build output
/// and hidden directories. A missing directory has no files.
pub fn rust_files(directory: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = match fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(format!("cannot read {}: {error}", current.display()).into()),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type()?.is_dir() {
                if !name.starts_with('.') && !SKIPPED_DIRECTORIES.contains(&name.as_ref()) {
                    pending.push(path);
                }
            } else if name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Returns `path` relative to `root` with `/` separators, for reports.
pub fn relative_path(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the code of `source` line by line, each run of blanks shown as
    /// one space and the ends trimmed (the exact widths are checked apart).
    fn code(source: &str) -> Vec<String> {
        code_lines(source)
            .into_iter()
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    #[test]
    fn comments_are_blanked_and_lines_kept() {
        assert_eq!(
            code("let a = 1; // note\n/// doc\n//! inner\nlet b = 2;"),
            ["let a = 1;", "", "", "let b = 2;"]
        );
        assert_eq!(
            code("a /* one\n two /* nested */ still\n */ b"),
            ["a", "", "b"]
        );
        assert_eq!(code("a /* x */ b // y"), ["a b"]);
    }

    #[test]
    fn string_contents_are_blanked() {
        assert_eq!(code(r#"f("x // y", z)"#), ["f( , z)"]);
        assert_eq!(code(r#"s = "a \" b"; t"#), ["s = ; t"]);
        assert_eq!(code(r#"s = "a \\"; t"#), ["s = ; t"]);
        assert_eq!(code("s = \"one\ntwo\"; t"), ["s =", "; t"]);
        assert_eq!(code(r#"b"bytes" c"#), ["b c"]);
        assert_eq!(code(r#"x = "/* not a comment"; y"#), ["x = ; y"]);
    }

    #[test]
    fn raw_strings_end_at_their_own_hashes() {
        assert_eq!(
            code("x = r#\"a \"quoted\" // not a comment\"#; y"),
            ["x = ; y"]
        );
        assert_eq!(code("br\"raw\" z"), ["z"]);
        assert_eq!(code("r##\"a\"# still\"##.len()"), [".len()"]);
        assert_eq!(code("x = r\"one\ntwo\" y"), ["x =", "y"]);
        // An identifier ending in r is not a raw string.
        assert_eq!(code("bar\"s\" q"), ["bar q"]);
    }

    #[test]
    fn character_literals_and_lifetimes() {
        assert_eq!(code("c == '\"' && d"), ["c == && d"]);
        assert_eq!(code("'\\'' x '\\u{1F600}' y"), ["x y"]);
        assert_eq!(code("fn f<'a>(s: &'a str)"), ["fn f<'a>(s: &'a str)"]);
        assert_eq!(code("'outer: loop {}"), ["'outer: loop {}"]);
        assert_eq!(code("b'/' / 2"), ["b / 2"]);
        assert_eq!(code("'é' == c"), ["== c"]);
    }

    #[test]
    fn an_unterminated_literal_runs_to_the_end() {
        assert_eq!(code("a \"open\nstill"), ["a", ""]);
        assert_eq!(code("a /* open\nstill"), ["a", ""]);
        assert_eq!(code("a r#\"open\"\nstill"), ["a", ""]);
    }

    #[test]
    fn every_line_keeps_its_width() {
        let source = "let s = \"é // ü\"; // ç\n/* ∑\n */ 'x' r#\"\"#\n\tb'\\n'\n";
        let code = code_lines(source);
        let original: Vec<&str> = source.split('\n').collect();
        assert_eq!(code.len(), original.len());
        for (blanked, line) in code.iter().zip(original) {
            assert_eq!(blanked.chars().count(), line.chars().count(), "{line:?}");
        }
    }

    #[test]
    fn relative_paths_use_slashes() {
        assert_eq!(
            relative_path(Path::new("/repo"), Path::new("/repo/kernel/src/lib.rs")),
            "kernel/src/lib.rs"
        );
    }

    #[test]
    fn rust_files_skip_target_and_hidden_directories() {
        let root = std::env::temp_dir().join(format!("xtask-rust-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for directory in ["src/inner", "target/debug", ".git"] {
            fs::create_dir_all(root.join(directory)).unwrap();
        }
        for file in [
            "src/a.rs",
            "src/inner/b.rs",
            "src/c.txt",
            "target/debug/d.rs",
            ".git/e.rs",
        ] {
            fs::write(root.join(file), "").unwrap();
        }
        let found: Vec<String> = rust_files(&root)
            .unwrap()
            .iter()
            .map(|path| relative_path(&root, path))
            .collect();
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(found, ["src/a.rs", "src/inner/b.rs"]);
        assert!(rust_files(&root.join("missing")).unwrap().is_empty());
    }
}
