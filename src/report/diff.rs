//! What changed between two packs: instructions line by line and word by
//! word, per-persona instructions, demos added and removed; for a terminal or
//! for markdown.

use super::*;

/// The longest output of a demo (usually the text, not a tag), shortened.
fn first_output(d: &Demo) -> String {
    let s = d
        .outputs
        .values()
        .map(|v| crate::program::render_value(Some(v)))
        .max_by_key(|s| s.len())
        .unwrap_or_default();
    crate::text::truncate_for_message(&s.replace('\n', " "))
}

/// The changes between two packs.
pub fn pack_diff(base: &Pack, candidate: &Pack) -> PackDiff {
    let (b, c) = (base.prompt(), candidate.prompt());
    let instr =
        |p: Option<&crate::pack::PromptPack>| p.map(|p| p.instructions.clone()).unwrap_or_default();
    let demos =
        |p: Option<&crate::pack::PromptPack>| p.map(|p| p.demos.clone()).unwrap_or_default();
    let (bd, cd) = (demos(b), demos(c));
    let ids = |v: &[Demo]| v.iter().map(|d| d.trace_id.0.clone()).collect::<Vec<_>>();
    let (bi, ci) = (ids(&bd), ids(&cd));
    let mut persona = IndexMap::new();
    let overrides = |p: Option<&crate::pack::PromptPack>| {
        p.and_then(|p| p.persona_instructions.clone())
            .unwrap_or_default()
    };
    let (bo, co) = (overrides(b), overrides(c));
    for k in bo.keys().chain(co.keys()) {
        let pair = (
            bo.get(k).cloned().unwrap_or_default(),
            co.get(k).cloned().unwrap_or_default(),
        );
        if pair.0 != pair.1 {
            persona.insert(k.clone(), pair);
        }
    }
    PackDiff {
        old: instr(b),
        new: instr(c),
        persona,
        demos: DemoChanges {
            added: cd
                .iter()
                .filter(|d| !bi.contains(&d.trace_id.0))
                .map(|d| (d.trace_id.0.clone(), first_output(d)))
                .collect(),
            removed: bd
                .iter()
                .filter(|d| !ci.contains(&d.trace_id.0))
                .map(|d| (d.trace_id.0.clone(), first_output(d)))
                .collect(),
        },
    }
}

// ----------------------------------------------------------- sanitizing ----

/// A unified line diff of two texts.
pub fn line_diff(old: &str, new: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            ChangeTag::Delete => '-',
            ChangeTag::Insert => '+',
            ChangeTag::Equal => ' ',
        };
        out.push(sign);
        out.push_str(change.value().trim_end_matches('\n'));
        out.push('\n');
    }
    out
}

/// The new text with word-level changes marked: each run of removed words
/// as one `~~…~~`, each run of added words as one `**…**` (markdown, sanitized).
pub fn word_diff_markdown(old: &str, new: &str) -> String {
    let diff = TextDiff::from_words(old, new);
    let mut out = String::new();
    let (mut del, mut ins) = (String::new(), String::new());
    let flush = |out: &mut String, del: &mut String, ins: &mut String| {
        for (buf, mark) in [(&mut *del, "~~"), (&mut *ins, "**")] {
            let t = buf.trim();
            if !t.is_empty() {
                out.push_str(&format!("{mark}{}{mark} ", inline(t)));
            }
            buf.clear();
        }
    };
    for change in diff.iter_all_changes() {
        let v = change.value();
        match change.tag() {
            ChangeTag::Delete => del.push_str(v),
            ChangeTag::Insert => ins.push_str(v),
            ChangeTag::Equal if v.trim().is_empty() && (!del.is_empty() || !ins.is_empty()) => {
                // Whitespace between two changed words belongs to the change.
                del.push_str(v);
                ins.push_str(v);
            }
            ChangeTag::Equal => {
                flush(&mut out, &mut del, &mut ins);
                out.push_str(&inline(v));
            }
        }
    }
    flush(&mut out, &mut del, &mut ins);
    out.trim_end().to_string()
}

// ------------------------------------------------------------- markdown ----

/// `t` in the SGR colour `code` when `colour` is on.
pub(crate) fn paint(colour: bool, code: &str, t: &str) -> String {
    if colour {
        format!("\x1b[{code}m{t}\x1b[0m")
    } else {
        t.to_string()
    }
}

/// The pack diff as terminal text.
pub fn diff_terminal(d: &PackDiff, colour: bool) -> String {
    let paint = |code: &str, t: &str| paint(colour, code, t);
    let mut out = String::new();
    if d.old == d.new {
        out.push_str("instructions: unchanged\n");
    } else {
        out.push_str("instructions:\n");
        for line in line_diff(&d.old, &d.new).lines() {
            let painted = match line.chars().next() {
                Some('-') => paint("31", line),
                Some('+') => paint("32", line),
                _ => line.to_string(),
            };
            let _ = writeln!(out, "  {painted}");
        }
    }
    for (p, (old, new)) in &d.persona {
        let _ = writeln!(out, "persona {p}:");
        for line in line_diff(old, new).lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    for (id, preview) in &d.demos.added {
        let _ = writeln!(out, "{} {id}: {preview}", paint("32", "+ demo"));
    }
    for (id, preview) in &d.demos.removed {
        let _ = writeln!(out, "{} {id}: {preview}", paint("31", "- demo"));
    }
    disarm_commands(&out)
}

/// The pack diff as markdown (for `promptc diff --format markdown`).
pub fn diff_markdown(d: &PackDiff) -> String {
    let mut out = String::new();
    if d.old == d.new {
        out.push_str("The instructions are unchanged.\n");
    } else {
        out.push_str(&fenced("diff", &line_diff(&d.old, &d.new)));
        let _ = writeln!(out, "\n{}", word_diff_markdown(&d.old, &d.new));
    }
    for (p, (old, new)) in &d.persona {
        let _ = writeln!(out, "\nPersona {}:\n", code(p));
        out.push_str(&fenced("diff", &line_diff(old, new)));
    }
    for (label, list) in [("added", &d.demos.added), ("removed", &d.demos.removed)] {
        for (id, preview) in list {
            let _ = writeln!(out, "- demo {label} {}: {}", code(id), inline(preview));
        }
    }
    out
}
