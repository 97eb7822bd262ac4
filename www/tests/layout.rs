//! The layout of `src/` cannot regress into an import circle: every top-level module (a file
//! `src/x.rs`, with its folder `src/x/` if it has one) may use only the modules listed after it
//! in `lib.rs`'s documentation, so the dependencies between folders point one way.
//!
//! The check reads the sources: every `crate::name` (also inside `use crate::{a, b}`) in a
//! module's files is a dependency on `name`. Paths that climb with `super::` could leave a
//! folder without naming `crate`, so `super::super` is refused everywhere, and a top-level
//! file may use `super` only for the `use super::*;` of an inline test module.
//!
//! `cargo test -p livesource-dev --test layout -- --nocapture` prints the graph. The library runs
//! the same checker on its own `src/` (`tests/layout.rs` at the root includes this file).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `src/<name>.rs` (if the module is not a `mod.rs` folder) and everything under `src/<name>/`.
fn files_of(name: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Some(src().join(format!("{name}.rs")))
        .filter(|file| file.exists())
        .into_iter()
        .collect();
    let mut dirs = vec![src().join(name)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Top-level modules as `lib.rs` declares them (`mod x;`, `pub mod x;`).
fn declared_modules(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("pub ").or(Some(l)))
        .filter_map(|l| l.strip_prefix("mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// The layers in `lib.rs`'s doc list (`//! - \`a\`, \`b\`: ...`), top first; the names on one
/// line share a layer.
fn layers(lib: &str) -> Vec<Vec<String>> {
    lib.lines()
        .filter_map(|l| l.strip_prefix("//! - "))
        .map(|item| {
            let names = item.split(':').next().unwrap_or("");
            names
                .split(',')
                .map(|n| n.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect()
}

/// The first segment of every `crate::...` path in `text`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        // `$crate::` and `livesource_dev_crate::` are not ours.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let trimmed = rest.trim_start();
        if let Some(group) = trimmed.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first segment of each top-level item.
            let (mut depth, mut item_start, mut names) = (0usize, 0usize, Vec::new());
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        names.push(&group[item_start..i]);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.push(&group[item_start..i]);
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
            for name in names {
                found.extend(first_ident(name.trim()));
            }
        } else {
            found.extend(first_ident(trimmed));
        }
    }
    found
}

fn first_ident(s: &str) -> Option<String> {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| s[..end].to_owned())
}

/// Uses of `super` that could name something outside the file's own top-level module.
fn climbing_supers(path: &Path, text: &str) -> Vec<String> {
    // In `src/x.rs` and in `src/x/mod.rs` alike, `super` is the crate root.
    let top_level = path.parent() == Some(src().as_path())
        || (path.file_name().is_some_and(|f| f == "mod.rs")
            && path.parent().and_then(Path::parent) == Some(src().as_path()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.contains("super::super")
                || (top_level && line.contains("super::") && line.trim() != "use super::*;")
        })
        .map(|(n, line)| format!("{}:{}: {}", path.display(), n + 1, line.trim()))
        .collect()
}

/// Who uses whom among the top-level modules.
fn graph(modules: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    modules
        .iter()
        .map(|module| {
            let uses = files_of(module)
                .iter()
                .flat_map(|file| crate_paths(&read(file)))
                .filter(|used| used != module && modules.contains(used))
                .collect();
            (module.clone(), uses)
        })
        .collect()
}

/// A circle in `graph`, as the path that closes it, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let lib = read(&src().join("lib.rs"));
    let modules = declared_modules(&lib);

    // Every top-level file and folder is a declared module, so none escapes the check.
    let on_disk: BTreeSet<String> = fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_owned();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|name| name != "lib" && name != "main")
        .collect();
    assert_eq!(on_disk, modules, "src/ and the `mod`s of lib.rs differ");

    let layers = layers(&lib);
    let rank: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (n.as_str(), i)))
        .collect();
    let listed: BTreeSet<String> = rank.keys().map(|n| (*n).to_owned()).collect();
    assert_eq!(
        listed, modules,
        "lib.rs's list of layers must name every module once"
    );

    let supers: Vec<String> = modules
        .iter()
        .flat_map(|m| files_of(m))
        .flat_map(|f| climbing_supers(&f, &read(&f)))
        .collect();
    assert!(
        supers.is_empty(),
        "reach other modules through `crate::`, not by climbing with `super`:\n{}",
        supers.join("\n")
    );

    let graph = graph(&modules);
    for (module, uses) in &graph {
        println!(
            "{module} -> {}",
            Vec::from_iter(uses.iter().cloned()).join(", ")
        );
    }
    if let Some(circle) = find_circle(&graph) {
        panic!("import circle between modules: {}", circle.join(" -> "));
    }
    let upward: Vec<String> = graph
        .iter()
        .flat_map(|(module, uses)| uses.iter().map(move |used| (module, used)))
        .filter(|(module, used)| rank[used.as_str()] <= rank[module.as_str()])
        .map(|(module, used)| format!("{module} uses {used}"))
        .collect();
    assert!(
        upward.is_empty(),
        "a module may use only those listed after it in lib.rs (move it in the list if the \
         dependency is wanted and makes no circle):\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_scanner_sees_grouped_and_nested_paths() {
    let text = "use crate::{auth, store::{Change, Store}, sse::frame};\n\
                let x = crate::config::BODY_LIMIT; // $crate::not_ours, other_crate::no\n\
                use crate::{\n    error::AppError,\n};\n\
                pub(crate) fn f() {}";
    let found: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(found, ["auth", "config", "error", "sse", "store"]);
}

#[test]
fn a_circle_is_found_and_named() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("http", &["routes"][..]),
        ("routes", &["state"]),
        ("state", &["routes"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
    .collect();
    assert_eq!(find_circle(&graph).unwrap(), ["routes", "state", "routes"]);
}
