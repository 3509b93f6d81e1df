//! The layout holds: no crate's modules import each other in a circle, and
//! the server's folders depend one way, `lsp -> agent -> state` and
//! `cli -> agent -> state`, with nothing importing `lsp` or `cli`.
//!
//! Read from the sources: every `use crate::...` and `crate::...` path (and
//! `super::...`), resolved to the module file it names.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// The repository, one level above this crate.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the server crate is in the repository")
        .to_path_buf()
}

/// A crate's modules, by path (`lsp::backend`; `""` for the root), each with
/// the modules its source names.
fn modules(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    collect(src, &mut files);
    let module_of = |file: &Path| -> String {
        let relative = file.strip_prefix(src).expect("under src");
        let mut parts: Vec<String> = relative
            .with_extension("")
            .components()
            .map(|part| part.as_os_str().to_string_lossy().into_owned())
            .collect();
        if matches!(parts.as_slice(), [only] if only == "lib" || only == "main") {
            parts.clear();
        }
        parts.join("::")
    };
    let known: BTreeSet<String> = files.iter().map(|file| module_of(file)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let this = module_of(file);
        let text = std::fs::read_to_string(file).expect("a source file reads");
        let mut names = BTreeSet::new();
        for path in paths_in(&strip_comments(&text)) {
            // `super::x` from `a::b` is `a::x`.
            let absolute = match path.strip_prefix("super::") {
                Some(rest) => {
                    let parent = this.rsplit_once("::").map_or("", |(parent, _)| parent);
                    if parent.is_empty() {
                        rest.to_owned()
                    } else {
                        format!("{parent}::{rest}")
                    }
                }
                None => path,
            };
            // The deepest module the path names.
            let segments: Vec<&str> = absolute.split("::").collect();
            let target = (1..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|candidate| known.contains(candidate));
            if let Some(target) = target {
                // A module's own items, and its parent (which declares it),
                // are not imports.
                if target != this && !this.starts_with(&format!("{target}::")) {
                    names.insert(target);
                }
            }
        }
        graph.insert(this, names);
    }
    graph
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("a source directory reads")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// The text without `//` comments (doc comments name modules in prose).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // Not inside a string: good enough for this code base, whose
            // strings with `//` are URLs, not paths of modules.
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path the text names from the crate root or its parent:
/// `crate::a::b` (as `a::b`), `super::c`, and each branch of
/// `use crate::{a, b::{c, d}}`.
fn paths_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["crate::", "super::"] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            // A whole word: not `some_crate::`.
            let before = rest[..at].chars().next_back();
            let after = &rest[at + prefix.len()..];
            rest = after;
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let keep = if prefix == "super::" { "super::" } else { "" };
            expand(after, keep, &mut found);
        }
    }
    found
}

/// The paths of a `use` tree starting at `text`, each with `base` before it.
fn expand(text: &str, base: &str, found: &mut Vec<String>) {
    let mut path = String::from(base);
    for (at, c) in text.char_indices() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            path.push(c);
        } else if c == '{' {
            // Branches, to the matching brace.
            let mut depth = 1;
            let mut end = at + 1;
            for (i, c) in text[at + 1..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = at + 1 + i;
                    break;
                }
            }
            let mut branch_start = at + 1;
            let mut depth = 0;
            for (i, c) in text[at + 1..end].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(text[branch_start..at + 1 + i].trim(), &path, found);
                        branch_start = at + 2 + i;
                    }
                    _ => {}
                }
            }
            expand(text[branch_start..end].trim(), &path, found);
            return;
        } else {
            break;
        }
    }
    let path = path.trim_end_matches(':').to_owned();
    if !path.is_empty() && path != "self" {
        found.push(path.trim_end_matches("::self").to_owned());
    }
}

/// The circles of a graph (its strongly connected parts of more than one
/// node), each sorted.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Reachability, enough for graphs of tens of nodes.
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(node) = todo.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|node| (node, reach(node))).collect();
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    for (node, from_node) in &reachable {
        if !from_node.contains(*node) {
            continue;
        }
        let circle: Vec<String> = from_node
            .iter()
            .filter(|other| reachable[other].contains(*node))
            .cloned()
            .collect();
        found.insert(circle);
    }
    found.into_iter().collect()
}

#[test]
fn no_crate_imports_its_own_modules_in_a_circle() {
    for krate in ["server", "agent", "lsp-proxy", "analysis"] {
        let graph = modules(&repository().join(krate).join("src"));
        assert!(graph.len() > 3, "{krate}: {graph:?}");
        let found = circles(&graph);
        assert!(
            found.is_empty(),
            "{krate}: modules that import each other in a circle: {found:?}"
        );
    }
}

/// The folder (or top-level file) a server module belongs to.
fn folder(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

#[test]
fn the_servers_folders_depend_one_way() {
    let graph = modules(&repository().join("server/src"));
    for folder_name in ["state", "lsp", "agent", "cli"] {
        assert!(
            graph
                .keys()
                .any(|module| module.starts_with(&format!("{folder_name}::"))),
            "server/src/{folder_name}/ holds modules"
        );
    }
    // What each folder may use, besides itself; the top-level files (ext,
    // config, storage, logging) may be used by all.
    let allowed: &[(&str, &[&str])] = &[
        ("state", &[]),
        ("agent", &["state"]),
        ("lsp", &["agent", "state"]),
        ("cli", &["agent", "state"]),
        ("ext", &[]),
        ("config", &[]),
        ("storage", &[]),
        ("logging", &[]),
    ];
    let folders = ["state", "agent", "lsp", "cli"];
    let mut wrong = Vec::new();
    let mut folder_graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, names) in &graph {
        let from = folder(module);
        for name in names {
            let to = folder(name);
            if from == to || module.is_empty() {
                continue;
            }
            folder_graph
                .entry(from.to_owned())
                .or_default()
                .insert(to.to_owned());
            let Some((_, may)) = allowed.iter().find(|(folder, _)| *folder == from) else {
                continue;
            };
            if folders.contains(&to) && !may.contains(&to) {
                wrong.push(format!("{module} uses {name}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "lsp -> agent -> state and cli -> agent -> state, nothing uses lsp or cli:\n{}",
        wrong.join("\n")
    );
    assert_eq!(circles(&folder_graph), Vec::<Vec<String>>::new());
    let top_level: Vec<PathBuf> = std::fs::read_dir(repository().join("server/src"))
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    assert!(top_level.len() <= 10, "{top_level:?}");
}

#[test]
fn paths_are_read_from_every_form_of_use() {
    let mut found = paths_in(
        "use crate::{a, b::{c, d::E}, f::g as h};\nlet x = crate::i::j::K;\nuse super::l;\nuse some_crate::m;\n",
    );
    found.sort();
    assert_eq!(
        found,
        ["a", "b::c", "b::d::E", "f::g", "i::j::K", "super::l"]
    );
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", &["b"][..]),
        ("b", &["c"]),
        ("c", &["a"]),
        ("d", &["a"]),
    ]
    .into_iter()
    .map(|(node, to)| {
        (
            node.to_owned(),
            to.iter().map(|t| (*t).to_owned()).collect(),
        )
    })
    .collect();
    assert_eq!(circles(&graph), [vec!["a", "b", "c"]]);
}
