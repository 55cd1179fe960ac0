//! The repository's own lints, run by `cargo xtask test` before the compiler's:
//!
//! - **import cycles**: in every crate, module A importing from module B (a `use crate::…`,
//!   `use super::…` or inline `crate::…` path) while B, directly or not, imports from A;
//! - **the module map**: every module file under `gateway/src` is named (by its path relative
//!   to `gateway/src`) in `docs/architecture.md`;
//! - **links**: every relative link in `README.md` and `docs/*.md` points at a file that exists.
//!
//! A textual check, on purpose: it reads source lines, not the compiler's resolution, so it
//! needs no build and says where a cycle is in terms a reader can follow. Its limits: `#[path]`
//! attributes and macros that generate `use` lines are not followed; code after a
//! `#[cfg(test)]` module declaration is test code and is not counted (test modules may import
//! anything); `use` of a module's own descendants is not an edge back to the module; the crate
//! root (`lib.rs`/`main.rs`) is a facade of re-exports and declarations, so edges from it are
//! not counted (a module may use an item the root defines or re-exports).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The crates whose `src/` is checked for cycles, relative to the workspace root.
pub const CRATES: &[&str] = &[
    "config",
    "geo",
    "sim",
    "gateway",
    "tests",
    "loadtests",
    "xtask",
];

/// One module of a crate: its path (`request::admit`) and its file.
#[derive(Debug, Clone)]
struct Module {
    file: PathBuf,
    /// Declared under `#[cfg(test)]` (or inside such a module).
    test_only: bool,
}

/// Runs every lint; returns the problems found (empty = clean).
pub fn run(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for krate in CRATES {
        let src = root.join(krate).join("src");
        for entry in ["lib.rs", "main.rs"] {
            if src.join(entry).exists() {
                let modules = module_tree(&src, entry);
                problems.extend(cycles(krate, &modules));
            }
        }
    }
    problems.extend(module_map(root));
    problems.extend(links(root));
    problems
}

/// Walks `mod x;` declarations from the crate root `entry`.
fn module_tree(src: &Path, entry: &str) -> BTreeMap<String, Module> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(String::new(), src.join(entry), src.to_path_buf(), false)];
    while let Some((path, file, dir, test_only)) = stack.pop() {
        let text = fs::read_to_string(&file).unwrap_or_default();
        let mut cfg_test = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("#[cfg(test)]") || t.starts_with("#[cfg(all(test") {
                cfg_test = true;
                continue;
            }
            if t.starts_with("#[") || t.starts_with("//") {
                continue;
            }
            let decl = t
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub(super) ")
                .trim_start_matches("pub ");
            if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                let child = if path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}::{name}")
                };
                let flat = dir.join(format!("{name}.rs"));
                let nested = dir.join(name).join("mod.rs");
                let child_file = if flat.exists() { flat } else { nested };
                stack.push((child, child_file, dir.join(name), test_only || cfg_test));
            }
            cfg_test = false;
        }
        out.insert(path, Module { file, test_only });
    }
    out
}

/// The source of `file` up to its first `#[cfg(test)]` item: production code.
fn production_code(file: &Path) -> String {
    let text = fs::read_to_string(file).unwrap_or_default();
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.starts_with("#[cfg(test)]") {
            // Skip the item's other attributes; a test module (`mod tests {`) runs to the end
            // of the file, any other test-only item is one line (`mod testing;`, a `use`).
            while lines
                .peek()
                .is_some_and(|l| l.trim_start().starts_with("#["))
            {
                lines.next();
            }
            let next = lines.next().map(str::trim).unwrap_or_default();
            if next.contains("mod ") && next.ends_with('{') {
                break;
            }
            continue;
        }
        let code = match t.find("//") {
            Some(i) if !t[..i].contains('"') => &t[..i],
            _ => t,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The modules `module` imports from: every `crate::a::b` or `super::c` path in its production
/// code, resolved to the longest existing module.
fn imports(module: &str, code: &str, modules: &BTreeMap<String, Module>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // `use x::{a, b::{c}}` groups are expanded into paths first.
    for path in paths(code) {
        let mut segs: Vec<&str> = path.split("::").collect();
        let base: Vec<String> = match segs.first().copied() {
            Some("crate") => {
                segs.remove(0);
                Vec::new()
            }
            Some("super") => {
                let mut base: Vec<String> = module.split("::").map(str::to_string).collect();
                while segs.first() == Some(&"super") {
                    segs.remove(0);
                    base.pop();
                }
                if module.is_empty() {
                    continue;
                }
                base
            }
            Some("self") => {
                segs.remove(0);
                module
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            _ => continue,
        };
        let mut full: Vec<String> = base;
        full.extend(segs.iter().map(|s| s.to_string()));
        // Longest prefix that names a module.
        let mut target = None;
        for n in (0..=full.len()).rev() {
            let candidate = full[..n].join("::");
            if modules.contains_key(&candidate) {
                target = Some(candidate);
                break;
            }
        }
        let Some(target) = target else { continue };
        // A module using its own descendants, or itself, is not an edge back to it.
        if target == module || target.starts_with(&format!("{module}::")) || module.is_empty() {
            continue;
        }
        out.insert(target);
    }
    out
}

/// Every `crate::…`, `super::…` and `self::…` path in `code`, with `use` groups expanded.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        let starts_word = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        if starts_word
            && (rest.starts_with("crate::")
                || rest.starts_with("super::")
                || rest.starts_with("self::"))
        {
            let len = path_len(rest);
            expand(&rest[..len], &mut out);
            i += len.max(1);
        } else {
            i += 1;
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Length of the path (with any `{…}` group) at the start of `s`.
fn path_len(s: &str) -> usize {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            c if depth == 0 && !(c.is_alphanumeric() || c == '_' || c == ':') => return i,
            _ => {}
        }
    }
    s.len()
}

/// Expands `a::{b, c::{d}}` into `a::b`, `a::c::d`.
fn expand(path: &str, out: &mut Vec<String>) {
    let Some(open) = path.find('{') else {
        out.push(path.trim_end_matches("::").to_string());
        return;
    };
    let prefix = &path[..open];
    let inner = &path[open + 1..path.len().saturating_sub(1)];
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
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
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let part = part.split(" as ").next().unwrap_or(part).trim();
        if part == "self" {
            out.push(prefix.trim_end_matches("::").to_string());
        } else {
            expand(&format!("{prefix}{part}"), out);
        }
    }
}

/// The import cycles among the production modules of one crate.
fn cycles(krate: &str, modules: &BTreeMap<String, Module>) -> Vec<String> {
    let graph: BTreeMap<&str, BTreeSet<String>> = modules
        .iter()
        .filter(|(_, m)| !m.test_only)
        .map(|(name, m)| {
            let deps = imports(name, &production_code(&m.file), modules)
                .into_iter()
                .filter(|d| modules.get(d).is_some_and(|m| !m.test_only))
                .collect();
            (name.as_str(), deps)
        })
        .collect();
    let mut found = Vec::new();
    let mut reported = BTreeSet::new();
    for start in graph.keys() {
        if let Some(cycle) = cycle_from(start, &graph) {
            let key: BTreeSet<String> = cycle.iter().cloned().collect();
            if reported.insert(key) {
                found.push(format!(
                    "import cycle in crate `{krate}`: {}",
                    cycle.join(" -> ")
                ));
            }
        }
    }
    found
}

/// A path from `start` back to itself, if there is one (depth-first).
fn cycle_from(start: &str, graph: &BTreeMap<&str, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut stack: Vec<(String, Vec<String>)> = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(node.as_str()).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

/// Every module file under `gateway/src` must be named in `docs/architecture.md`.
fn module_map(root: &Path) -> Vec<String> {
    let doc_path = root.join("docs").join("architecture.md");
    let Ok(doc) = fs::read_to_string(&doc_path) else {
        return vec!["docs/architecture.md is missing".to_string()];
    };
    let src = root.join("gateway").join("src");
    let mut files = Vec::new();
    collect_rs(&src, &mut files);
    files
        .iter()
        .filter_map(|f| {
            let rel = f
                .strip_prefix(&src)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/");
            (!doc.contains(&rel)).then(|| {
                format!("docs/architecture.md does not name the module file gateway/src/{rel}")
            })
        })
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Relative links of `README.md` and `docs/*.md` that point at nothing.
fn links(root: &Path) -> Vec<String> {
    let mut docs = vec![root.join("README.md")];
    if let Ok(entries) = fs::read_dir(root.join("docs")) {
        let mut more: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        more.sort();
        docs.extend(more);
    }
    let mut out = Vec::new();
    for doc in docs {
        let Ok(text) = fs::read_to_string(&doc) else {
            continue;
        };
        let dir = doc.parent().unwrap_or(root);
        let shown = doc.strip_prefix(root).unwrap_or(&doc).display().to_string();
        for target in link_targets(&text) {
            let file = target.split('#').next().unwrap_or_default();
            if file.is_empty() || file.contains("://") || file.starts_with("mailto:") {
                continue;
            }
            if !dir.join(file).exists() {
                out.push(format!(
                    "{shown}: the link `{target}` points at a missing file"
                ));
            }
        }
    }
    out
}

/// The targets of inline Markdown links `[text](target)`, outside code blocks and spans.
fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        let mut in_code = false;
        for (i, c) in line.char_indices() {
            match c {
                '`' => in_code = !in_code,
                ']' if !in_code && line[i + 1..].starts_with('(') => {
                    let rest = &line[i + 2..];
                    if let Some(end) = rest.find(')') {
                        let target = rest[..end].split_whitespace().next().unwrap_or_default();
                        out.push(target.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules(names: &[&str]) -> BTreeMap<String, Module> {
        names
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    Module {
                        file: PathBuf::new(),
                        test_only: false,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn paths_are_found_and_groups_expanded() {
        let code = "use crate::a::{b, c::{D, e}};\nlet x = crate::f::g(); use super::h as i;";
        let mut p = paths(code);
        p.sort();
        assert_eq!(
            p,
            [
                "crate::a::b",
                "crate::a::c::D",
                "crate::a::c::e",
                "crate::f::g",
                "super::h"
            ]
        );
    }

    #[test]
    fn imports_resolve_to_the_longest_module() {
        let m = modules(&["", "request", "request::admit", "request::problem", "state"]);
        let code = "use super::problem::EdgeError;\nuse crate::state::GatewayState;\nuse crate::request::admit::Refusal;";
        let got = imports("request::admit", code, &m);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            ["request::problem", "state"]
        );
    }

    #[test]
    fn a_cycle_is_reported_with_its_path() {
        let graph: BTreeMap<&str, BTreeSet<String>> = [
            ("a", BTreeSet::from(["b".to_string()])),
            ("b", BTreeSet::from(["c".to_string()])),
            ("c", BTreeSet::from(["a".to_string()])),
            ("d", BTreeSet::from(["a".to_string()])),
        ]
        .into_iter()
        .collect();
        assert_eq!(cycle_from("a", &graph).unwrap(), ["a", "b", "c", "a"]);
        assert_eq!(cycle_from("d", &graph), None);
    }

    #[test]
    fn links_outside_code_are_found() {
        let text = "see [a](docs/a.md#x) and `[b](c.md)`\n```\n[d](e.md)\n```\n[f](https://x)";
        assert_eq!(link_targets(text), ["docs/a.md#x", "https://x"]);
    }
}
