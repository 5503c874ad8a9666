//! The import rule, checked: top-level modules of `src/` form layers and a module may use
//! only modules in layers below its own (docs/ARCHITECTURE.md, "Module map"). The test reads
//! every production file's `crate::` paths; test files may reach anywhere.
//!
//! `KNOWN` lists today's exceptions. Each is a debt to pay, not a licence: the test fails
//! when a new exception appears and when a listed one is gone (so the list only shrinks).

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom first. A module may import the layers before its own; modules that share a layer
/// may not import each other.
const LAYERS: &[&[&str]] = &[
    &["clock", "blocking", "log_levels"],
    &["pg"],
    &["config", "store", "metrics", "cluster"],
    &["log", "security"],
    &["error"],
    &["partition"],
    &["meta"],
    &["coord"],
    &["group"],
    &["txn", "topics", "quota", "telemetry", "features", "shares"],
    &["api"],
    &["app"],
    &["http"],
    &["mqtt"],
    &["server", "cli", "fuzzing"],
];

/// (importer, imported, why it is still there).
const KNOWN: &[(&str, &str, &str)] = &[];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules a source text names as `crate::x` (also inside `crate::{x, y::z}`).
fn imported(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: after `{` or a `,` at depth 0.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => {
                        out.insert(ident(&group[j..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    name == "tests" || name.ends_with("_tests") || name == "testutil"
}

/// Every (importer, imported) pair between top-level modules in production files.
fn edges() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeSet::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || is_test_file(&path) {
                continue;
            }
            let rel = path.strip_prefix(&src).expect("under src/");
            let first = rel.components().next().expect("a path under src/");
            let top = first.as_os_str().to_str().expect("UTF-8 name");
            let top = top.strip_suffix(".rs").unwrap_or(top).to_string();
            if top == "lib" || top == "main" || top == "layering" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            for m in imported(&text) {
                if m != top && m != "self" && m != "super" {
                    out.insert((top.clone(), m));
                }
            }
        }
    }
    out
}

#[test]
fn imports_go_down_the_layers() {
    let mut wrong = Vec::new();
    let mut seen_known = BTreeSet::new();
    for (from, to) in edges() {
        let (Some(a), Some(b)) = (layer(&from), layer(&to)) else {
            wrong.push(format!("{from} -> {to}: a module missing from LAYERS"));
            continue;
        };
        if b < a {
            continue;
        }
        if KNOWN.iter().any(|(f, t, _)| *f == from && *t == to) {
            seen_known.insert((from, to));
        } else {
            wrong.push(format!("{from} -> {to}"));
        }
    }
    for (f, t, why) in KNOWN {
        if !seen_known.contains(&(f.to_string(), t.to_string())) {
            wrong.push(format!(
                "{f} -> {t} is listed in KNOWN ({why}) but gone: delete it"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn import_parser_reads_groups_and_paths() {
    let text =
        "use crate::a::b;\nuse crate::{c, d::{e, f}, g};\n// crate::h\nlet x = crate::i::j();";
    let got: Vec<_> = imported(text).into_iter().collect();
    assert_eq!(got, ["a", "c", "d", "g", "i"]);
}
