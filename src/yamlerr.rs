//! YAML loading with errors a person can act on: the file, the key path, the
//! line, and for a misspelt key the nearest known one.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

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

/// Deserializes `src` (the contents of `path`) into `T`.
pub fn from_str<T: DeserializeOwned>(path: &Path, src: &str) -> Result<T, YamlError> {
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
