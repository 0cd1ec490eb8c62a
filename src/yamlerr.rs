//! YAML loading with errors a person can act on: the file, the key path, the
//! line, and for a misspelt key the nearest known one.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

mod guard;

/// The largest YAML file promptc reads (configs, signatures, metrics).
pub const MAX_YAML_BYTES: u64 = 16 << 20;

/// A YAML file that did not deserialize into the expected type.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {}{}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), key_prefix(key), message)]
pub struct YamlError {
    /// The file that was read.
    pub path: PathBuf,
    /// The key path of the offending entry (`lms.task.concurrency`), empty at the top.
    pub key: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, with a "did you mean" where one fits.
    pub message: String,
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() || key == "." {
        String::new()
    } else {
        format!("{key}: ")
    }
}

/// What aliases may expand a document to, in bytes of scalars (plus a small
/// cost per node): four times the file plus 1 MiB. Anchors shared by a few
/// keys fit easily; a "billion laughs" does not.
fn expansion_limit(src: &str) -> u64 {
    (src.len() as u64).saturating_mul(4).saturating_add(1 << 20)
}

/// Deserializes `src` (the contents of `path`) into `T`.
///
/// A first pass refuses documents whose aliases expand past a bound and
/// mappings that hold a key twice (naming both lines); only then is `T` built.
pub fn from_str<T: DeserializeOwned>(path: &Path, src: &str) -> Result<T, YamlError> {
    if let Some(finding) = guard::check(src, expansion_limit(src)) {
        return Err(finding_error(path, src, finding));
    }
    let de = serde_yaml::Deserializer::from_str(src);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        let line = inner
            .location()
            .map(|l| l.line())
            .or_else(|| locate_key(src, &key));
        let raw = inner.to_string();
        // serde_yaml appends " at line N column M"; the line is shown in front already.
        let mut message = match raw.find(" at line ") {
            Some(i) => raw[..i].to_string(),
            None => raw,
        };
        // serde_yaml also prefixes its own key path ("lms.task: ..."); ours is shown in front.
        if let Some((prefix, rest)) = message.split_once(": ")
            && !prefix.contains(' ')
            && key.starts_with(prefix)
        {
            message = rest.to_string();
        }
        // For an unknown key, point at the mapping that holds it.
        let key = if message.starts_with("unknown field") {
            key.rsplit_once('.')
                .map(|(parent, _)| parent.to_string())
                .unwrap_or_default()
        } else {
            key
        };
        YamlError {
            path: path.to_path_buf(),
            key: if key == "." { String::new() } else { key },
            line,
            message: with_suggestion(&message),
        }
    })
}

fn finding_error(path: &Path, src: &str, finding: guard::Finding) -> YamlError {
    match finding {
        guard::Finding::TooLarge { limit } => YamlError {
            path: path.to_path_buf(),
            key: String::new(),
            line: None,
            message: format!(
                "aliases expand this document past {limit} bytes; write the values out or use fewer aliases"
            ),
        },
        guard::Finding::Duplicate { path: parent, key } => {
            let lines = locate_children(src, &parent, &key);
            let message = match lines.as_slice() {
                [first, second, ..] => {
                    format!("duplicate key `{key}` (lines {first} and {second}); keep one")
                }
                _ => format!("duplicate key `{key}`; keep one"),
            };
            YamlError {
                path: path.to_path_buf(),
                key: parent,
                line: lines.get(1).copied(),
                message,
            }
        }
    }
}

/// Best-effort lines (1-based) of every `key:` directly under the block
/// mapping at `parent` (the top level when empty).
pub fn locate_children(src: &str, parent: &str, key: &str) -> Vec<usize> {
    let lines: Vec<&str> = src.lines().collect();
    let (start, parent_indent) = if parent.is_empty() {
        (0, -1isize)
    } else {
        let Some(l) = locate_key(src, parent) else {
            return Vec::new();
        };
        let line = lines[l - 1];
        let indent = (line.len() - line.trim_start().len()) as isize;
        (l, indent)
    };
    let mut child_indent: Option<isize> = None;
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(start) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = (line.len() - trimmed.len()) as isize;
        if indent <= parent_indent {
            break;
        }
        // The first line under the parent sets the indent of its keys.
        if *child_indent.get_or_insert(indent) != indent {
            continue;
        }
        let name = trimmed
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches(['"', '\'']);
        if name == key && trimmed.contains(':') {
            found.push(i + 1);
        }
    }
    found
}

/// Adds "did you mean `x`?" to serde's "unknown field `y`, expected one of ..." messages.
pub fn with_suggestion(message: &str) -> String {
    let Some(rest) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
    else {
        return message.to_string();
    };
    let Some(end) = rest.find('`') else {
        return message.to_string();
    };
    let unknown = &rest[..end];
    let expected: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
    match suggest(unknown, expected.iter().copied()) {
        Some(best) => format!("{message}; did you mean `{best}`?"),
        None => message.to_string(),
    }
}

/// The closest candidate to `word`, if one is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// The line of `key_path`, or else of its nearest ancestor that has one (a
/// key written in flow style, `a: {weight: 2}`, is found on its parent's line).
pub fn locate_nearest(src: &str, key_path: &str) -> Option<usize> {
    let mut path = key_path;
    loop {
        if let Some(l) = locate_key(src, path) {
            return Some(l);
        }
        path = path.rsplit_once('.')?.0;
    }
}

/// A number as a person reads it in an error: `1e308`, not 309 digits.
pub fn show_number(v: f64) -> String {
    if v.is_finite() && v.abs() >= 1e9 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Best-effort line of a dotted key path in block-style YAML, for errors found
/// after deserialization (where serde_yaml no longer knows positions).
pub fn locate_key(src: &str, key_path: &str) -> Option<usize> {
    let mut line_no = 0usize;
    let mut parent_indent: isize = -1;
    let mut lines = src.lines().enumerate();
    let mut found = None;
    for seg in key_path.split('.').filter(|s| !s.is_empty()) {
        let seg = seg.split('[').next().unwrap_or(seg);
        found = None;
        for (i, line) in lines.by_ref() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = (line.len() - trimmed.len()) as isize;
            if indent <= parent_indent && i > line_no {
                return None;
            }
            let t = trimmed.trim_start_matches("- ");
            let name = t
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            if name == seg && t.contains(':') {
                found = Some(i + 1);
                line_no = i;
                parent_indent = indent;
                break;
            }
        }
        found?;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_key_walks_nested_blocks() {
        let src = "a:\n  b: 1\n  c:\n    d: 2\ne:\n  d: 3\n";
        assert_eq!(locate_key(src, "a.c.d"), Some(4));
        assert_eq!(locate_key(src, "e.d"), Some(6));
        assert_eq!(locate_key(src, "a.x"), None);
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        signatures: indexmap::IndexMap<String, serde_yaml::Value>,
    }

    #[test]
    fn a_duplicate_key_is_an_error_naming_both_lines() {
        let src = "# config\nsignatures:\n  speak:\n    a: 1\n  other: {}\n  speak:\n    a: 2\n";
        let err = from_str::<Doc>(Path::new("c.yaml"), src).unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.yaml:6: signatures: duplicate key `speak` (lines 3 and 6); keep one"
        );
        let top = "signatures: {}\nsignatures: {}\n";
        let err = from_str::<Doc>(Path::new("c.yaml"), top).unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.yaml:2: duplicate key `signatures` (lines 1 and 2); keep one"
        );
    }

    #[test]
    fn aliases_expanding_past_the_bound_are_refused_before_allocation() {
        // 64 KiB anchored once and aliased 4,000 times: 256 MiB if expanded.
        let mut src = format!("signatures:\n  a: &big {}\n", "y".repeat(1 << 16));
        for i in 0..4000 {
            src.push_str(&format!("  k{i}: *big\n"));
        }
        let err = from_str::<Doc>(Path::new("c.yaml"), &src).unwrap_err();
        assert!(
            err.message.starts_with("aliases expand this document past"),
            "{err}"
        );
        let ok = "signatures:\n  a: &x {m: 1}\n  b: *x\n";
        assert_eq!(
            from_str::<Doc>(Path::new("c.yaml"), ok)
                .unwrap()
                .signatures
                .len(),
            2
        );
    }

    #[test]
    fn unknown_field_gets_a_suggestion() {
        let m = with_suggestion(
            "unknown field `concurency`, expected one of `provider`, `model`, `concurrency`",
        );
        assert!(m.ends_with("did you mean `concurrency`?"), "{m}");
        let m = with_suggestion("unknown field `zzz`, expected `provider` or `model`");
        assert!(!m.contains("did you mean"), "{m}");
    }
}
