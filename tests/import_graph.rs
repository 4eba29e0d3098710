//! The shape of `src/`: imports between top-level modules form a tree from
//! `main` down (no cycle), and the two backends never import each other.
//! Read from the `crate::` paths in the code (comments skipped), so a cycle
//! that comes back fails CI with the loop it makes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file: `src/backend/bedrock/mod.rs` →
/// `["backend", "bedrock"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The code of a file without comments (line comments and doc comments).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string literal ("http://…") is rare in this
            // crate's import lines; good enough for paths.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths a file's code names through `crate::`, as far as two
/// segments (`crate::backend::bedrock::x` → `["backend", "bedrock"]`),
/// including grouped imports (`crate::{a, b::c}`).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Split at the group's own commas, not those of nested groups.
            let (mut depth, mut start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(segments(group[start..i].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(segments(group[start..i].trim()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(segments(rest));
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

fn segments(s: &str) -> Vec<String> {
    s.split("::")
        .map(|seg| seg.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>())
        .take_while(|seg| !seg.is_empty() && seg.chars().next().is_some_and(|c| c.is_lowercase()))
        .take(2)
        .collect()
}

/// Every file's module path and the `crate::` paths it names.
fn graph() -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files
        .iter()
        .filter(|f| !f.ends_with("main.rs"))
        .map(|f| (module_of(&src, f), crate_paths(&code(&std::fs::read_to_string(f).unwrap()))))
        .collect()
}

/// A cycle in `edges`, as the modules along it, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, paths) in graph() {
        let Some(from) = module.first() else { continue };
        for p in paths {
            if p[0] != *from {
                edges.entry(from.clone()).or_default().insert(p[0].clone());
            }
        }
    }
    assert!(edges.len() > 5, "the graph was read: {edges:?}");
    assert_eq!(find_cycle(&edges), None, "top-level modules import each other in a loop; edges: {edges:#?}");
}

#[test]
fn the_backends_never_import_each_other() {
    for (module, paths) in graph() {
        if module.len() < 2 || module[0] != "backend" {
            continue;
        }
        let other = match module[1].as_str() {
            "simulated" => "bedrock",
            "bedrock" => "simulated",
            _ => continue,
        };
        for p in paths {
            assert!(
                !(p.len() == 2 && p[0] == "backend" && p[1] == other),
                "backend::{} imports backend::{other}",
                module[1]
            );
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&edges), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    assert_eq!(crate_paths("use crate::{error::X, model::{a, b}};\nlet x = crate::ids::new();"), [
        vec!["error".to_owned()],
        vec!["model".to_owned()],
        vec!["ids".to_owned(), "new".to_owned()],
    ]);
}
