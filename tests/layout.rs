//! The layout of `src/` shows the flow (read → row → out, fire, db, web): the imports between the
//! top-level modules, and between the files of one folder, form no circle, whether written
//! `crate::…`, `super::…` or `crate::{a, b::{C}}`. A path to an item a `mod.rs` re-exports leads
//! to the file that defines it. Not read: a module file's paths to its own children written
//! without `crate::` or `super::` (they point down). Unit tests (`mod tests`) may import freely.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `read/input.rs` → `["read", "input"]`, `fire/mod.rs` → `["fire"]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> =
        relative.with_extension("").components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// The code of a file without its unit tests and its comment lines.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(start) => &text[..start],
        None => text,
    };
    text.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The segments of the path at the start of `tail`: the modules, then the item they lead to
/// (`a::b::C::new` → `[a, b, C]`, `a::f(` → `[a, f]`), and how many bytes they take.
fn segments_of(mut tail: &str) -> (Vec<String>, usize) {
    let (mut segments, mut taken) = (Vec::new(), 0);
    loop {
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        if end == 0 {
            break;
        }
        let segment = &tail[..end];
        segments.push(segment.to_owned());
        taken += end;
        if segment.starts_with(|c: char| c.is_ascii_uppercase()) {
            break; // a type, a constant: what follows is its own
        }
        match tail[end..].strip_prefix("::") {
            Some(next) if !next.starts_with('{') => {
                tail = next;
                taken += 2;
            }
            _ => break,
        }
    }
    (segments, taken)
}

fn segments(tail: &str) -> Vec<String> {
    segments_of(tail).0
}

/// The paths of `tail` below `base`, groups expanded: `a::{B, c::D}` → `[a, B]`, `[a, c, D]`.
fn expand(base: &[String], tail: &str) -> Vec<Vec<String>> {
    let (segments, taken) = segments_of(tail);
    let path = [base, &segments].concat();
    match tail[taken..].strip_prefix("::").filter(|rest| rest.starts_with('{')) {
        Some(group) => group_items(group).into_iter().flat_map(|item| expand(&path, item)).collect(),
        None => vec![path],
    }
}

/// What a module re-exports from its children (`pub use child::{A, b}`): `module::A` → `module::child`.
fn re_exports(code: &str, module: &[String], modules: &BTreeSet<Vec<String>>) -> BTreeMap<Vec<String>, Vec<String>> {
    let mut found = BTreeMap::new();
    for (at, _) in code.match_indices("pub use ") {
        let tail = &code[at + "pub use ".len()..];
        let Some(child) = segments(tail).into_iter().next() else { continue };
        let from = [module, std::slice::from_ref(&child)].concat();
        if !modules.contains(&from) {
            continue;
        }
        let Some(after) = tail[child.len()..].strip_prefix("::") else { continue };
        let names: Vec<&str> = if after.starts_with('{') { group_items(after) } else { vec![after] };
        for name in names {
            if let Some(name) = segments(name).into_iter().next() {
                found.insert([module, std::slice::from_ref(&name)].concat(), from.clone());
            }
        }
    }
    found
}

/// The items of a `{a::X, b::{Y, Z}}` group at the start of `tail`, each as the text it starts with.
fn group_items(tail: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut start = 1;
    for (at, c) in tail.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => {
                items.push(tail[start..at].trim());
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 1 => {
                items.push(tail[start..at].trim());
                start = at + 1;
            }
            _ => {}
        }
    }
    items
}

/// Every path from the crate's root in `code`, written in the module `from`, as its segments:
/// `crate::a::b…`, `super::b…` (resolved against `from`) and the items of `crate::{a, b}`.
fn crate_paths(code: &str, from: &[String]) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(['c', 's']) {
        let before = rest[..at].chars().next_back();
        let tail = &rest[at..];
        rest = &rest[at + 1..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // `mycrate::`, `a::super`: not a path that starts here
        }
        let (base, tail) = if let Some(tail) = tail.strip_prefix("crate::") {
            (Vec::new(), tail)
        } else if tail.starts_with("super::") {
            let mut base = from.to_vec();
            let mut tail = tail;
            while let Some(next) = tail.strip_prefix("super::") {
                base.pop();
                tail = next;
            }
            (base, tail)
        } else {
            continue;
        };
        let found = if tail.starts_with('{') {
            group_items(tail).into_iter().flat_map(|item| expand(&base, item)).collect()
        } else {
            expand(&base, tail)
        };
        paths.extend(found.into_iter().filter(|path| !path.is_empty()));
    }
    paths
}

/// A file's name in its folder's graph: `fire/run` for `src/web/fire/run.rs`, `mod` for a
/// top folder's own `mod.rs`.
fn node_name(module: &[String]) -> String {
    if module.len() == 1 {
        "mod".to_owned()
    } else {
        module[1..].join("/")
    }
}

fn rust_files(directory: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The two graphs: between the top-level modules, and between the files of each folder.
fn graphs() -> (Graph, BTreeMap<String, Graph>) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&source, &mut files);
    assert!(files.len() > 40, "found only {} files under {}", files.len(), source.display());
    let modules: BTreeSet<Vec<String>> =
        files.iter().map(|file| module_path(file.strip_prefix(&source).unwrap())).collect();
    let codes: Vec<(Vec<String>, String)> = files
        .iter()
        .map(|file| {
            (module_path(file.strip_prefix(&source).unwrap()), code_of(&std::fs::read_to_string(file).unwrap()))
        })
        .collect();
    let mut exported = BTreeMap::new();
    for (module, code) in &codes {
        exported.extend(re_exports(code, module, &modules));
    }
    let mut top = Graph::new();
    let mut folders: BTreeMap<String, Graph> = BTreeMap::new();
    for (from, code) in &codes {
        if *from == ["lib"] || *from == ["main"] {
            continue; // the root wires everything together
        }
        for to in crate_paths(code, from) {
            if to.is_empty() || to[0].starts_with(|c: char| c.is_ascii_uppercase()) {
                continue; // an item of the crate's root
            }
            if to[0] != from[0] {
                top.entry(from[0].clone()).or_default().insert(to[0].clone());
                continue;
            }
            // Within the folder: the file the path leads to, the longest module it starts with,
            // or the child a `mod.rs` re-exports the item from.
            let Some(length) = (1..=to.len()).rev().find(|&length| modules.contains(&to[..length])) else { continue };
            let target = match to.get(length) {
                Some(_) => exported.get(&to[..=length]).map_or(&to[..length], |child| child.as_slice()),
                None => &to[..length],
            };
            if target != from.as_slice() {
                let folder = folders.entry(from[0].clone()).or_default();
                folder.entry(node_name(from)).or_default().insert(node_name(target));
            }
        }
    }
    (top, folders)
}

/// A circle in `graph`, as `a → b → a`, if there is one.
fn circle(graph: &Graph) -> Option<String> {
    fn visit(node: &str, graph: &Graph, trail: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<String> {
        if let Some(start) = trail.iter().position(|n| n == node) {
            let mut circle = trail[start..].to_vec();
            circle.push(node.to_owned());
            return Some(circle.join(" → "));
        }
        if done.contains(node) {
            return None;
        }
        trail.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, trail, done) {
                return Some(found);
            }
        }
        trail.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_top_level_modules_import_each_other_without_a_circle() {
    let (top, _) = graphs();
    // The graph is really read: the flow's known edges are in it.
    for (from, to) in [("row", "read"), ("fire", "row"), ("web", "run"), ("settings", "cli")] {
        assert!(top.get(from).is_some_and(|targets| targets.contains(to)), "no {from} → {to} in {top:?}");
    }
    if let Some(circle) = circle(&top) {
        panic!("an import circle between top-level modules: {circle}\n{top:#?}");
    }
}

#[test]
fn the_files_of_each_folder_import_each_other_without_a_circle() {
    let (_, folders) = graphs();
    assert!(folders.get("row").is_some_and(|row| row.get("format").is_some_and(|to| to.contains("handlers"))));
    assert!(folders.get("read").is_some_and(|read| read.get("delimiter").is_some_and(|to| to.contains("records"))));
    // `crate::web::fire::launch`, re-exported by web/fire/mod.rs, leads to the file that has it.
    let web = &folders["web"];
    assert!(web.get("routes/api").is_some_and(|to| to.contains("fire/run")), "{web:#?}");
    for (folder, graph) in &folders {
        if let Some(circle) = circle(graph) {
            panic!("an import circle in src/{folder}/: {circle}\n{graph:#?}");
        }
    }
}

#[test]
fn reading_knows_nothing_of_rows_and_shared_types_sit_below_both() {
    let (top, _) = graphs();
    let imports = |module: &str| top.get(module).cloned().unwrap_or_default();
    assert!(
        imports("read").is_subset(&["dates", "field", "problem"].map(String::from).into()),
        "read imports {:?}",
        imports("read")
    );
    assert!(
        imports("dates").is_subset(&["field", "problem"].map(String::from).into()),
        "dates imports {:?}",
        imports("dates")
    );
    assert!(imports("field").is_empty(), "field imports {:?}", imports("field"));
    assert!(imports("problem").is_empty(), "problem imports {:?}", imports("problem"));
    for below in ["read", "row", "db", "out"] {
        for above in ["web", "fire", "run", "replayer"] {
            assert!(!imports(below).contains(above), "{below} imports {above}");
        }
    }
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let graph: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    assert_eq!(circle(&graph).as_deref(), Some("a → b → c → a"));
    let acyclic: Graph = [("a", "b"), ("b", "c")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    assert_eq!(circle(&acyclic), None);
    let paths = |code: &str, from: &[&str]| -> Vec<String> {
        let from: Vec<String> = from.iter().map(|s| s.to_string()).collect();
        crate_paths(code, &from).into_iter().map(|path| path.join("::")).collect()
    };
    assert_eq!(
        paths(
            "use crate::read::{Columns, Mapping};\nlet x = mycrate::y; crate::field::is_token(t)",
            &["row", "format"]
        ),
        ["read::Columns", "read::Mapping", "field::is_token"]
    );
    assert_eq!(
        paths("use super::records::Records;\nuse super::*;", &["read", "delimiter"]),
        ["read::records::Records", "read"]
    );
    assert_eq!(paths("use super::super::field::Field;", &["web", "fire", "run"]), ["web::field::Field"]);
    assert_eq!(
        paths("use crate::{read::Columns, row::{config, format::Problem}};", &["out", "dump"]),
        ["read::Columns", "row::config", "row::format::Problem"],
        "a group's items"
    );
}
