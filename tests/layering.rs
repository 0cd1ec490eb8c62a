//! The module map stays true: every `crate::` path in `src/` is read, and an
//! import that goes up a layer, closes a cycle or breaks a named rule fails
//! this test with the file and line.
//!
//! Layers, bottom to top (a module may use its own layer and those below):
//!
//! 0. leaves: secret, text, chat, console, files, markdown, yamlerr
//! 1. formats: signature, traces, adapter, pack, prompts (never call a model)
//! 2. lm, formats (other tools' trace exports as trace lines: read traces and the adapter)
//! 3. config
//! 4. core: program, metric, eval, ab, realized, optimize
//! 5. shell leaves: report, schema, actions, git, github
//! 6. app (the jobs commands, ci and review share)
//! 7. ci, review
//! 8. commands (the CLI's library side)
//! 9. cli (the binary's flags)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const LAYERS: &[&[&str]] = &[
    &[
        "secret", "text", "chat", "console", "files", "markdown", "yamlerr",
    ],
    &["signature", "traces", "adapter", "pack", "prompts"],
    &["lm", "formats"],
    &["config"],
    &["program", "metric", "eval", "ab", "realized", "optimize"],
    &["report", "schema", "actions", "git", "github"],
    &["app"],
    &["ci", "review"],
    &["commands"],
    &["cli"],
];

/// Imports no layer order forbids but the design does: evaluation never
/// knows the optimizer.
const FORBIDDEN: &[(&str, &str, &str)] = &[
    ("eval", "optimize", "evaluation never knows the optimizer"),
    ("metric", "optimize", "evaluation never knows the optimizer"),
    ("ab", "optimize", "the A/B never knows the optimizer"),
];

/// One `crate::X` use: the file, its line, the module using and the module used.
#[derive(Debug, Clone)]
struct Use {
    file: String,
    line: usize,
    from: String,
    to: String,
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a file under `src/` belongs to (`lm/client.rs` → `lm`).
fn module_of(rel: &str) -> Option<String> {
    let first = rel.split('/').next()?;
    let m = first.strip_suffix(".rs").unwrap_or(first);
    (m != "lib" && m != "main").then(|| m.to_string())
}

/// Every `crate::ident` outside comments and string literals of one file.
fn uses_in(rel: &str, text: &str) -> Vec<Use> {
    let Some(from) = module_of(rel) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = strip_comment_and_strings(line);
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            // `promptc::crate::` cannot occur; `$crate::` (macros) is not ours.
            let before = &rest[..at];
            rest = &rest[at + "crate::".len()..];
            if before.ends_with('$') || before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // `crate::VERSION` and other root items are not modules.
            let module = ident.chars().next().is_some_and(|c| c.is_ascii_lowercase());
            if module && ident != from {
                out.push(Use {
                    file: rel.to_string(),
                    line: i + 1,
                    from: from.clone(),
                    to: ident,
                });
            }
        }
    }
    out
}

/// The line without its `//` comment and without the contents of string
/// literals (a message may well say `crate::x`).
fn strip_comment_and_strings(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    in_str = false;
                    out.push('"');
                }
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push('"');
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}

/// What is wrong with these uses, one line per problem.
fn violations(uses: &[Use]) -> Vec<String> {
    let mut bad = Vec::new();
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for u in uses {
        let (Some(lf), Some(lt)) = (layer(&u.from), layer(&u.to)) else {
            bad.push(format!(
                "{}:{}: `{}` → `{}`: a module missing from the layer table; add it where it belongs",
                u.file, u.line, u.from, u.to
            ));
            continue;
        };
        if lt > lf {
            bad.push(format!(
                "{}:{}: `{}` (layer {lf}) uses `{}` (layer {lt}): a lower layer never uses a higher one",
                u.file, u.line, u.from, u.to
            ));
        }
        for (f, t, why) in FORBIDDEN {
            if u.from == *f && u.to == *t {
                bad.push(format!(
                    "{}:{}: `{}` uses `{}`: {why}",
                    u.file, u.line, u.from, u.to
                ));
            }
        }
        graph.entry(&u.from).or_default().insert(&u.to);
    }
    if let Some(cycle) = find_cycle(&graph) {
        bad.push(format!("an import cycle: {}", cycle.join(" → ")));
    }
    bad
}

/// A cycle in the module graph, as the modules around it.
fn find_cycle<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = path.iter().position(|p| *p == n) {
            let mut c = path[i..].to_vec();
            c.push(n);
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n);
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n);
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

fn source_files(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            source_files(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&p).unwrap()));
        }
    }
}

fn all_uses(files: &[(String, String)]) -> Vec<Use> {
    files.iter().flat_map(|(r, t)| uses_in(r, t)).collect()
}

#[test]
fn the_source_keeps_the_layering() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&root, &root, &mut files);
    let uses = all_uses(&files);
    assert!(uses.len() > 100, "too few uses found: {}", uses.len());
    let bad = violations(&uses);
    assert!(
        bad.is_empty(),
        "the layering is broken:\n{}",
        bad.join("\n")
    );
    // Every top-level module is in the table (a new one must be placed).
    let mut modules: BTreeSet<String> = files.iter().filter_map(|(r, _)| module_of(r)).collect();
    modules.retain(|m| layer(m).is_none());
    assert!(modules.is_empty(), "not in the layer table: {modules:?}");
}

#[test]
fn a_planted_forbidden_import_fails() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&root, &root, &mut files);
    let plant = |rel: &str, line: &str| {
        let mut f = files.clone();
        let (_, text) = f.iter_mut().find(|(r, _)| r == rel).unwrap();
        text.push_str(line);
        violations(&all_uses(&f))
    };
    // The core reaching for git.
    let bad = plant("eval.rs", "\nuse crate::git::Repo;\n");
    assert!(
        bad.iter()
            .any(|b| b.contains("`eval` (layer 4) uses `git` (layer 5)")),
        "{bad:?}"
    );
    // A format calling a model.
    let bad = plant("pack/mod.rs", "\nfn f(_: &crate::lm::LmClient) {}\n");
    assert!(bad.iter().any(|b| b.starts_with("pack/mod.rs:")), "{bad:?}");
    // Evaluation knowing the optimizer (same layer: only the rule catches it).
    let bad = plant("eval.rs", "\nuse crate::optimize::Settings;\n");
    assert!(
        bad.iter()
            .any(|b| b.contains("evaluation never knows the optimizer")),
        "{bad:?}"
    );
    // A cycle inside one layer.
    let bad = plant("metric/mod.rs", "\nuse crate::ab::Decision;\n");
    assert!(
        bad.iter().any(|b| b.starts_with("an import cycle")),
        "{bad:?}"
    );
    // Mentions in comments and strings are not imports.
    let bad = plant(
        "eval.rs",
        "\n// see crate::git\nconst S: &str = \"crate::github\";\n",
    );
    assert!(bad.is_empty(), "{bad:?}");
}
