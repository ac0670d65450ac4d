//! The `layers` check: the kernel's top-level modules use only their own layer and those below.
//!
//! Every top-level module of the kernel crate (`kernel/src/X.rs` and
//! `kernel/src/X/`) has a layer in [`LAYERS`]. Its files are read as code only
//! (comments and literals do not count) and every `crate::X` path is taken as
//! a use of module `X`: `use crate::X`, `crate::X::item`, and each first name
//! of a `use crate::{X, Y::{...}}` group, nested braces and line breaks
//! included. The check reports, with `file:line`:
//! - every use of a module of a higher layer;
//! - every cycle of uses among modules of the same layer (a module may use a
//!   neighbour of its layer, but not be used back by it, directly or around);
//! - every top-level module without a layer, so the table stays complete.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use crate::{
    Result,
    source_text::{code_lines, is_identifier_character, relative_path, rust_files},
};

/// The kernel crate's source directory, relative to the repository root.
pub const KERNEL_SOURCE: &str = "kernel/src";

/// Entries of [`KERNEL_SOURCE`] that are not modules of the library: the
/// crate roots and the extra binaries.
const NOT_MODULES: [&str; 3] = ["lib.rs", "main.rs", "bin"];

/// A layer: a name for reports and the top-level modules in it.
#[derive(Clone, Copy, Debug)]
pub struct Layer {
    /// What the layer is, for reports.
    pub name: &'static str,
    /// The top-level modules in the layer.
    pub modules: &'static [&'static str],
}

/// The kernel's layers, lowest first: a module may use modules of its own
/// layer (without a cycle) and of every layer before it. To place a new
/// module, add it to the layer whose modules it needs at most.
pub const LAYERS: &[Layer] = &[
    Layer {
        name: "foundation (re-exported by lib.rs)",
        modules: &["foundation", "arch", "memory", "time"],
    },
    Layer {
        name: "foundation-facing glue",
        modules: &["console", "testing", "boot_args", "panic", "selftest"],
    },
    Layer {
        name: "task",
        modules: &["task"],
    },
    Layer {
        name: "services",
        modules: &[
            "user", "ipc", "accel", "devices", "display", "store", "demo",
        ],
    },
    Layer {
        name: "front ends",
        modules: &["syscall", "shell", "dashboard"],
    },
];

/// A use of a top-level module in a source file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The module named after `crate::`.
    pub module: String,
    /// Line of the name (1-based).
    pub line: usize,
}

/// One file of a module: its path for reports and its text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Path relative to the repository root.
    pub path: String,
    /// The file's text.
    pub source: String,
}

/// Returns the names that follow `crate::` in `source`, with their lines.
pub fn references(source: &str) -> Vec<Reference> {
    let code = code_lines(source).join("\n");
    let characters: Vec<char> = code.chars().collect();
    let mut line_of = Vec::with_capacity(characters.len());
    let mut line = 1;
    for character in &characters {
        line_of.push(line);
        if *character == '\n' {
            line += 1;
        }
    }
    let mut found = Vec::new();
    let mut index = 0;
    while let Some(at) = find_word(&characters, index, "crate") {
        index = at + "crate".len();
        let Some(after) = skip_path_separator(&characters, index) else {
            continue;
        };
        match characters.get(after) {
            Some('{') => {
                index = group_references(&characters, after, &line_of, &mut found);
            }
            Some(character) if is_identifier_character(*character) => {
                let (name, end) = identifier(&characters, after);
                found.push(Reference {
                    module: name,
                    line: line_of[after],
                });
                index = end;
            }
            _ => {}
        }
    }
    found
}

/// Returns the index of the next whole word `word` at or after `from`.
fn find_word(characters: &[char], from: usize, word: &str) -> Option<usize> {
    let word: Vec<char> = word.chars().collect();
    (from..characters.len().saturating_sub(word.len() - 1)).find(|&at| {
        characters[at..].starts_with(&word)
            && (at == 0 || !is_identifier_character(characters[at - 1]))
            && characters
                .get(at + word.len())
                .is_none_or(|next| !is_identifier_character(*next))
    })
}

/// Returns the index after `::` (and the whitespace around it) at `index`, if
/// the path goes on there.
fn skip_path_separator(characters: &[char], index: usize) -> Option<usize> {
    let at = skip_whitespace(characters, index);
    if characters.get(at) == Some(&':') && characters.get(at + 1) == Some(&':') {
        Some(skip_whitespace(characters, at + 2))
    } else {
        None
    }
}

/// Returns the first index at or after `index` that is not whitespace.
fn skip_whitespace(characters: &[char], mut index: usize) -> usize {
    while characters.get(index).is_some_and(|c| c.is_whitespace()) {
        index += 1;
    }
    index
}

/// Returns the identifier starting at `index` and the index after it.
fn identifier(characters: &[char], index: usize) -> (String, usize) {
    let end = (index..characters.len())
        .find(|&at| !is_identifier_character(characters[at]))
        .unwrap_or(characters.len());
    (characters[index..end].iter().collect(), end)
}

/// Adds the first name of every item of the `{ ... }` group opening at
/// `open` to `found`; returns the index after the group.
fn group_references(
    characters: &[char],
    open: usize,
    line_of: &[usize],
    found: &mut Vec<Reference>,
) -> usize {
    let mut depth = 0;
    let mut expecting_name = false;
    let mut index = open;
    while index < characters.len() {
        let character = characters[index];
        match character {
            '{' => {
                depth += 1;
                expecting_name = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return index + 1;
                }
            }
            ',' if depth == 1 => expecting_name = true,
            ';' => return index,
            _ if expecting_name && is_identifier_character(character) => {
                let (name, end) = identifier(characters, index);
                if name != "self" && name != "super" {
                    found.push(Reference {
                        module: name,
                        line: line_of[index],
                    });
                }
                expecting_name = false;
                index = end;
                continue;
            }
            _ if expecting_name && !character.is_whitespace() => expecting_name = false,
            _ => {}
        }
        index += 1;
    }
    index
}

/// Returns the layer index of every module in `layers`.
fn layer_index(layers: &[Layer]) -> BTreeMap<&'static str, usize> {
    layers
        .iter()
        .enumerate()
        .flat_map(|(index, layer)| layer.modules.iter().map(move |module| (*module, index)))
        .collect()
}

/// Returns the problems of the kernel's `modules` (top-level module name, its
/// files) against `layers`; none means the check passed.
pub fn analyze(modules: &BTreeMap<String, Vec<SourceFile>>, layers: &[Layer]) -> Vec<String> {
    let layer_of = layer_index(layers);
    let mut problems = Vec::new();
    // Same-layer uses: (from, to) -> where.
    let mut sideways: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for (module, files) in modules {
        let Some(&from_layer) = layer_of.get(module.as_str()) else {
            problems.push(format!(
                "{KERNEL_SOURCE}/{module}: module `{module}` has no layer (add it to LAYERS in \
                 xtask/src/layer_check.rs)"
            ));
            continue;
        };
        for file in files {
            for reference in references(&file.source) {
                let target = reference.module.as_str();
                if target == module || !modules.contains_key(target) {
                    continue;
                }
                let Some((target, &to_layer)) = layer_of.get_key_value(target) else {
                    continue;
                };
                let place = format!("{}:{}", file.path, reference.line);
                if to_layer > from_layer {
                    problems.push(format!(
                        "{place}: `{module}` (layer {from_layer}, {}) uses `{target}` (layer \
                         {to_layer}, {})",
                        layers[from_layer].name, layers[to_layer].name
                    ));
                } else if to_layer == from_layer {
                    sideways
                        .entry((module.as_str(), target))
                        .or_default()
                        .push(place);
                }
            }
        }
    }
    for cycle in cycles(&sideways) {
        let layer = layer_of[cycle[0]];
        problems.push(format!(
            "modules {} of layer {layer} ({}) use each other in a cycle:",
            cycle
                .iter()
                .map(|module| format!("`{module}`"))
                .collect::<Vec<_>>()
                .join(", "),
            layers[layer].name
        ));
        for ((from, to), places) in &sideways {
            if cycle.contains(from) && cycle.contains(to) {
                for place in places {
                    problems.push(format!("    {place}: `{from}` uses `{to}`"));
                }
            }
        }
    }
    problems
}

/// Returns the groups of two or more modules that reach each other through
/// `edges` (the strongly connected components), each sorted, in order.
fn cycles<'a>(edges: &BTreeMap<(&'a str, &'a str), Vec<String>>) -> Vec<Vec<&'a str>> {
    let nodes: BTreeSet<&str> = edges.keys().flat_map(|(from, to)| [*from, *to]).collect();
    let reachable_from = |start: &'a str| {
        let mut seen = BTreeSet::from([start]);
        let mut pending = vec![start];
        while let Some(node) = pending.pop() {
            for (from, to) in edges.keys() {
                if *from == node && seen.insert(*to) {
                    pending.push(*to);
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&str, BTreeSet<&str>> = nodes
        .iter()
        .map(|node| (*node, reachable_from(node)))
        .collect();
    let mut assigned = BTreeSet::new();
    let mut groups = Vec::new();
    for node in &nodes {
        if assigned.contains(node) {
            continue;
        }
        let group: Vec<&str> = nodes
            .iter()
            .copied()
            .filter(|other| reach[node].contains(other) && reach[other].contains(node))
            .collect();
        assigned.extend(group.iter().copied());
        if group.len() > 1 {
            groups.push(group);
        }
    }
    groups
}

/// Returns the kernel's top-level modules and their files, read from `root`.
fn kernel_modules(root: &Path) -> Result<BTreeMap<String, Vec<SourceFile>>> {
    let source_directory = root.join(KERNEL_SOURCE);
    let mut modules: BTreeMap<String, Vec<SourceFile>> = BTreeMap::new();
    let entries = fs::read_dir(&source_directory)
        .map_err(|error| format!("cannot read {}: {error}", source_directory.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if NOT_MODULES.contains(&name.as_str()) {
            continue;
        }
        let (module, files) = if entry.file_type()?.is_dir() {
            (name, rust_files(&entry.path())?)
        } else if let Some(stem) = name.strip_suffix(".rs") {
            (stem.to_owned(), vec![entry.path()])
        } else {
            continue;
        };
        let sources = modules.entry(module).or_default();
        for file in files {
            let source = fs::read_to_string(&file)
                .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
            sources.push(SourceFile {
                path: relative_path(root, &file),
                source,
            });
        }
        sources.sort_by(|left, right| left.path.cmp(&right.path));
    }
    Ok(modules)
}

/// Runs the check over the repository at `root`; returns the problems (none: passed).
pub fn check(root: &Path) -> Result<Vec<String>> {
    Ok(analyze(&kernel_modules(root)?, LAYERS))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small layer table for the tests.
    const TEST_LAYERS: &[Layer] = &[
        Layer {
            name: "base",
            modules: &["console", "time"],
        },
        Layer {
            name: "middle",
            modules: &["task"],
        },
        Layer {
            name: "top",
            modules: &["user", "ipc", "accel", "syscall"],
        },
    ];

    /// Returns the names `source` references, with lines.
    fn names(source: &str) -> Vec<(String, usize)> {
        references(source)
            .into_iter()
            .map(|reference| (reference.module, reference.line))
            .collect()
    }

    /// Returns modules made of one file each: (module, source).
    fn modules(list: &[(&str, &str)]) -> BTreeMap<String, Vec<SourceFile>> {
        list.iter()
            .map(|(module, source)| {
                (
                    (*module).to_owned(),
                    vec![SourceFile {
                        path: format!("kernel/src/{module}.rs"),
                        source: (*source).to_owned(),
                    }],
                )
            })
            .collect()
    }

    #[test]
    fn plain_paths_and_uses_are_found() {
        assert_eq!(
            names("use crate::task;\nlet x = crate::time::now_us();\nuse crate :: console ;"),
            [
                ("task".to_owned(), 1),
                ("time".to_owned(), 2),
                ("console".to_owned(), 3)
            ]
        );
        assert_eq!(
            names("$crate::console::_print(args)"),
            [("console".to_owned(), 1)]
        );
    }

    #[test]
    fn groups_name_each_first_segment() {
        let source = "use crate::{\n    arch::cpu::without_interrupts,\n    task::{self, EventId},\n    \
                      memory::{\n        address_space::{AddressSpace, PAGE_SIZE},\n        user,\n    \
                      },\n    time,\n};\nfn f() {}";
        assert_eq!(
            names(source),
            [
                ("arch".to_owned(), 2),
                ("task".to_owned(), 3),
                ("memory".to_owned(), 4),
                ("time".to_owned(), 8),
            ]
        );
        assert_eq!(
            names("use crate::{self as root, console};"),
            [("console".to_owned(), 1)]
        );
    }

    #[test]
    fn comments_strings_and_other_words_are_not_uses() {
        let source = "//! See [`crate::syscall`].\n/// Uses crate::user.\nlet s = \"crate::ipc\";\n\
                      pub(crate) fn f() {}\nlet a = my_crate::task::x;\nlet b = crates::task;\n\
                      /* crate::accel */";
        assert_eq!(names(source), []);
    }

    #[test]
    fn a_clean_tree_passes() {
        let tree = modules(&[
            ("console", "use crate::time;"),
            ("time", ""),
            ("task", "use crate::{console, time::now_us};"),
            ("user", "use crate::{task, ipc};"),
            ("ipc", "use crate::task::EventId;"),
            ("syscall", "use crate::{user, ipc, task};"),
        ]);
        assert_eq!(analyze(&tree, TEST_LAYERS), Vec::<String>::new());
    }

    #[test]
    fn a_use_of_a_higher_layer_is_reported_with_its_line() {
        let tree = modules(&[
            (
                "console",
                "fn a() {}\nuse crate::{\n    time,\n    task::spawn,\n};",
            ),
            ("time", ""),
            ("task", "fn b() { crate::syscall::dispatch(); }"),
            ("syscall", ""),
        ]);
        assert_eq!(
            analyze(&tree, TEST_LAYERS),
            [
                "kernel/src/console.rs:4: `console` (layer 0, base) uses `task` (layer 1, middle)",
                "kernel/src/task.rs:1: `task` (layer 1, middle) uses `syscall` (layer 2, top)",
            ]
        );
    }

    #[test]
    fn same_layer_cycles_are_reported_with_every_use() {
        let tree = modules(&[
            ("user", "use crate::ipc;\nfn f() { crate::ipc::send(); }"),
            ("ipc", "use crate::accel;"),
            ("accel", "use crate::user;"),
            ("syscall", "use crate::user;"),
            ("console", "use crate::time;"),
            ("time", ""),
        ]);
        assert_eq!(
            analyze(&tree, TEST_LAYERS),
            [
                "modules `accel`, `ipc`, `user` of layer 2 (top) use each other in a cycle:",
                "    kernel/src/accel.rs:1: `accel` uses `user`",
                "    kernel/src/ipc.rs:1: `ipc` uses `accel`",
                "    kernel/src/user.rs:1: `user` uses `ipc`",
                "    kernel/src/user.rs:2: `user` uses `ipc`",
            ]
        );
        // A pair.
        let pair = modules(&[
            ("console", "use crate::time;"),
            ("time", "use crate::console;"),
        ]);
        assert_eq!(analyze(&pair, TEST_LAYERS).len(), 3);
    }

    #[test]
    fn unknown_modules_and_items_are_handled() {
        let tree = modules(&[
            ("memory", "use crate::syscall;"),
            (
                "task",
                "use crate::memory;\nlet _ = crate::KERNEL_STACK_SIZE;\ncrate::println!();",
            ),
            ("syscall", ""),
        ]);
        // `memory` has no layer: reported once, and neither its uses nor the
        // uses of it are judged; names that are not modules are ignored.
        assert_eq!(
            analyze(&tree, TEST_LAYERS),
            [
                "kernel/src/memory: module `memory` has no layer (add it to LAYERS in \
              xtask/src/layer_check.rs)"
            ]
        );
    }

    #[test]
    fn a_module_using_itself_is_fine() {
        let tree = modules(&[(
            "task",
            "use crate::task::manager;\nuse crate::{task, task::x};",
        )]);
        assert!(analyze(&tree, TEST_LAYERS).is_empty());
    }

    #[test]
    fn the_kernel_table_names_each_module_once() {
        let mut seen = BTreeSet::new();
        for layer in LAYERS {
            for module in layer.modules {
                assert!(seen.insert(*module), "{module} is in two layers");
            }
        }
    }
}
