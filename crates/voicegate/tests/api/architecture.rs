//! The shape of the source tree, checked like behaviour: no import loops between files, and no
//! source file over 600 lines, in every crate of the workspace.
//!
//! A file imports another when it names a path into it: `use crate::a::b::Item` (or an inline
//! `crate::a::b::item`, or `super::…`) is an import of the file that defines module `a::b`
//! (`src/a/b.rs` or `src/a/b/mod.rs`). A `pub use` in a folder's `mod.rs` is an import too; a
//! `mod x;` declaration is not. So a file inside a folder names its siblings by their own path,
//! never through the folder's `mod.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest source file accepted, in lines.
const MAX_LINES: usize = 600;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The module path of a file under `src` (`["jobs", "queue"]` for `src/jobs/queue.rs`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The text without comments and string literals (whose words are not imports).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if !escaped && c == '"' {
                        break;
                    }
                    escaped = !escaped && c == '\\';
                }
                out.push_str("\"\"");
            }
            other => out.push(other),
        }
    }
    out
}

/// The code without its inline `#[cfg(test)] mod … { … }` blocks, whose `super` is the file
/// itself and whose imports are the tests', not the module's.
fn without_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let inline_module = trimmed.starts_with("mod ")
            && trimmed
                .find(['{', ';'])
                .is_some_and(|i| trimmed.as_bytes()[i] == b'{');
        if !inline_module {
            rest = after;
            continue;
        }
        let open = after.find('{').unwrap();
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap().trim().to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            expand(p)
                .into_iter()
                .map(|rest| format!("{prefix}{rest}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The absolute module paths a file names: its `use` trees and inline `crate::`/`super::` paths.
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest.find(';').unwrap_or(rest.len());
        let tree = rest[..end].split_whitespace().collect::<Vec<_>>().join(" ");
        let tree = tree.replace(" ::", "::").replace(":: ", "::");
        paths.extend(expand(&tree));
    }
    for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
        if word.starts_with("crate::") || word.starts_with("super::") {
            paths.push(word.to_string());
        }
    }
    paths
        .into_iter()
        .filter_map(|path| {
            let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let mut absolute: Vec<String> = match *segments.first()? {
                "crate" => {
                    segments.remove(0);
                    Vec::new()
                }
                "super" => {
                    let mut base = module.to_vec();
                    while segments.first() == Some(&"super") {
                        segments.remove(0);
                        base.pop();
                    }
                    base
                }
                "self" => {
                    segments.remove(0);
                    module.to_vec()
                }
                // A relative path: a child module's, when it names one (the caller checks).
                _ => module.to_vec(),
            };
            absolute.extend(segments.into_iter().map(str::to_string));
            Some(absolute)
        })
        .collect()
}

struct Crate {
    name: String,
    /// Module path → file.
    files: BTreeMap<Vec<String>, PathBuf>,
}

fn crates() -> Vec<Crate> {
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let root = entry.unwrap().path();
        let src = root.join("src");
        if !src.is_dir() {
            continue;
        }
        let mut found = Vec::new();
        rust_files(&src, &mut found);
        let files = found
            .into_iter()
            .filter(|f| !f.ends_with("src/main.rs") || !src.join("lib.rs").exists())
            .map(|f| (module_of(&src, &f), f))
            .collect();
        crates.push(Crate {
            name: root.file_name().unwrap().to_string_lossy().into_owned(),
            files,
        });
    }
    crates
}

/// The file that defines the longest module prefix of `path`.
fn target<'a>(krate: &'a Crate, path: &[String]) -> Option<&'a Vec<String>> {
    (0..=path.len())
        .rev()
        .find_map(|n| krate.files.get_key_value(&path[..n]).map(|(k, _)| k))
}

/// Strongly connected components with more than one file (Tarjan).
fn loops(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        found: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(s: &mut State<'a>, node: &'a Vec<String>) {
        let n = s.index.len();
        s.index.insert(node, n);
        s.low.insert(node, n);
        s.stack.push(node);
        s.on_stack.insert(node);
        for next in s.graph.get(node).into_iter().flatten() {
            if !s.index.contains_key(next) {
                visit(s, next);
                let low = s.low[next].min(s.low[node]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(next) {
                let low = s.index[next].min(s.low[node]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = Vec::new();
            loop {
                let member = s.stack.pop().unwrap();
                s.on_stack.remove(member);
                component.push(member.clone());
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}

#[test]
fn source_files_import_each_other_without_loops() {
    let mut checked = 0;
    for krate in crates() {
        let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for (module, file) in &krate.files {
            let code = without_test_modules(&code_only(&std::fs::read_to_string(file).unwrap()));
            let edges = graph.entry(module.clone()).or_default();
            for path in named_paths(&code, module) {
                if let Some(to) = target(&krate, &path)
                    && to != module
                    && !to.is_empty()
                    && (to.len() > module.len() || !to.starts_with(module))
                {
                    edges.insert(to.clone());
                }
            }
            checked += 1;
        }
        let found = loops(&graph);
        let shown: Vec<String> = found
            .iter()
            .map(|component| {
                component
                    .iter()
                    .map(|m| m.join("::"))
                    .collect::<Vec<_>>()
                    .join(" <-> ")
            })
            .collect();
        assert!(
            found.is_empty(),
            "import loops in crate {}: {shown:#?}",
            krate.name
        );
    }
    assert!(checked > 50, "only {checked} files read");
}

#[test]
fn the_loop_finder_finds_a_loop_and_the_parser_reads_nested_uses() {
    let module = |s: &str| s.split("::").map(str::to_string).collect::<Vec<_>>();
    let mut graph = BTreeMap::new();
    graph.insert(module("a"), BTreeSet::from([module("b")]));
    graph.insert(module("b"), BTreeSet::from([module("c")]));
    graph.insert(module("c"), BTreeSet::from([module("a")]));
    graph.insert(module("d"), BTreeSet::from([module("a")]));
    let found = loops(&graph);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].len(), 3);
    let code = code_only(
        "use crate::a::{b::C, d::{E, F as G}};\n// use crate::commented::Out;\nlet x = \"crate::in::string\"; super::h::I;",
    );
    let paths = named_paths(&code, &module("x::y"));
    assert!(paths.contains(&module("a::b::C")), "{paths:?}");
    assert!(paths.contains(&module("a::d::F")), "{paths:?}");
    let relative = named_paths("pub use service::Thing;", &module("x"));
    assert_eq!(relative, [module("x::service::Thing")]);
    assert!(paths.contains(&module("x::h::I")), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p[0] == "commented" || p[0] == "in"),
        "{paths:?}"
    );
    let code = without_test_modules(
        "use crate::kept::A;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    fn f() { {} }\n}\nuse crate::after::B;",
    );
    let paths = named_paths(&code, &module("x"));
    assert!(paths.contains(&module("kept::A")) && paths.contains(&module("after::B")));
    assert!(
        !paths.iter().any(|p| p.last().is_some_and(|l| l == "*")),
        "{paths:?}"
    );
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut long = Vec::new();
    for krate in crates() {
        for file in krate.files.values() {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            if lines > MAX_LINES {
                long.push(format!("{} ({lines})", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:#?}");
}
