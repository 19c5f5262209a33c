//! Checks on the repository's files themselves (issue 11): no absolute machine paths, and
//! no import circles between the modules of a crate.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir`, skipping build output, git and fixture data.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                walk(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

/// Locations come from an environment variable with a repo-relative default, never from
/// this machine's layout (`/work/...`, `/root/...`, `/home/...`).
#[test]
fn no_absolute_machine_paths() {
    let mut files = Vec::new();
    for d in ["crates", "bench", "docs", "scripts", ".ci"] {
        if root().join(d).is_dir() {
            walk(&root().join(d), &mut files);
        }
    }
    files.push(root().join("README.md"));
    let needles = ["/work/", "/root/", "/home/"];
    let mut hits = Vec::new();
    for f in &files {
        // This file names the patterns it looks for.
        if f.ends_with("tests/repo.rs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            if needles.iter().any(|n| line.contains(n)) {
                hits.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "absolute machine paths:\n{}",
        hits.join("\n")
    );
}

/// The modules of one folder (`a.rs` or `a/mod.rs`) and which siblings each one names
/// (`crate::b` at the crate root, `super::b` below it).
fn module_graph(dir: &Path, prefix: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut mods = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = if p.is_dir() && p.join("mod.rs").is_file() {
            e.file_name().to_string_lossy().into_owned()
        } else if p.extension().is_some_and(|x| x == "rs") {
            p.file_stem().unwrap().to_string_lossy().into_owned()
        } else {
            continue;
        };
        if matches!(name.as_str(), "lib" | "main" | "mod") {
            continue;
        }
        let mut text = String::new();
        let mut files = Vec::new();
        if p.is_dir() {
            walk(&p, &mut files);
        } else {
            files.push(p);
        }
        for f in files {
            let t = std::fs::read_to_string(&f).unwrap_or_default();
            // Tests may reach anywhere; only the code a module is made of counts.
            // Doc links name modules without importing them.
            let code = t.split("#[cfg(test)]").next().unwrap_or("");
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                text.push_str(line);
                text.push('\n');
            }
        }
        mods.insert(name, text);
    }
    let names: Vec<String> = mods.keys().cloned().collect();
    mods.iter()
        .map(|(m, text)| {
            let deps = names
                .iter()
                .filter(|n| *n != m)
                .filter(|n| {
                    let pat = format!("{prefix}{n}");
                    text.match_indices(&pat).any(|(i, _)| {
                        let after = text[i + pat.len()..].chars().next();
                        let before = text[..i].chars().next_back();
                        !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
                            && !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    })
                })
                .cloned()
                .collect();
            (m.clone(), deps)
        })
        .collect()
}

/// A cycle in `g`, if there is one, as the list of modules around it.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        n: &str,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            match state.get(d).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == d).unwrap();
                    return Some(stack[at..].to_vec());
                }
                0 => {
                    if let Some(c) = visit(g, d, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n).copied().unwrap_or(0) == 0
            && let Some(c) = visit(g, n, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_cycle_finder_finds_a_planted_cycle() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c"]);
    let mut acyclic = g.clone();
    acyclic.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&acyclic), None);
}

/// Each module depends only downwards: no circle of imports between the top-level
/// modules of any crate, nor between the commands of the CLI (`reward` and
/// `demo_reward` called each other; now both use `pair_ids`).
#[test]
fn no_import_cycles() {
    let mut found = Vec::new();
    for e in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        let krate = e.file_name().to_string_lossy().into_owned();
        let src = e.path().join("src");
        if !src.is_dir() {
            continue;
        }
        if let Some(c) = find_cycle(&module_graph(&src, "crate::")) {
            found.push(format!("{krate}: {}", c.join(" -> ")));
        }
    }
    let cmd = root().join("crates/prefer-cli/src/cmd");
    if let Some(c) = find_cycle(&module_graph(&cmd, "super::")) {
        found.push(format!("prefer-cli cmd: {}", c.join(" -> ")));
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}
