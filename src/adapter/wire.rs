//! The markers of the adapter's wire format, for code that reads a rendered
//! prompt back (the offline simulator, tools inspecting a pack). They are
//! checked against the templates in `prompts/adapter/` by this module's
//! tests: a template edit that drops one fails there, not silently in a
//! reader.

/// The heading of the instructions in the system message.
pub const INSTRUCTIONS: &str = "# Instructions";
/// The heading of the answer format, after the instructions.
pub const ANSWER_FORMAT: &str = "# Answer format";
/// The heading of the demos, after the answer format.
pub const EXAMPLES: &str = "# Examples";
/// Each demo's heading starts a line with this.
pub const EXAMPLE: &str = "\n## Example ";
/// An enum output's values follow this in the field list.
pub const ENUM_LIST: &str = "exactly one of: ";
/// An enum output's placeholder in the answer format starts with this.
pub const ENUM_PLACEHOLDER: &str = "<one of: ";
/// The sections adapter's last header.
pub const END: &str = "=== end ===";

/// The `=== name ===` header line of a field.
pub fn header(name: &str) -> String {
    format!("=== {name} ===")
}

/// The text between `start` and the next `end` (or the end of the text).
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let a = text.find(start)? + start.len();
    let b = text[a..].find(end).map_or(text.len(), |i| a + i);
    Some(&text[a..b])
}

/// The instructions of a rendered system message.
pub fn instructions(system: &str) -> Option<&str> {
    between(system, INSTRUCTIONS, ANSWER_FORMAT)
}

/// The first enum's values as the field list names them.
pub fn enum_values(system: &str) -> Vec<String> {
    let Some(i) = system.find(ENUM_LIST) else {
        return Vec::new();
    };
    let rest = &system[i + ENUM_LIST.len()..];
    let end = rest.find([')', '\n']).unwrap_or(rest.len());
    rest[..end]
        .split(", ")
        .map(|s| s.trim().trim_end_matches('.').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `=== field ===` sections of a text, in order, with their trimmed bodies.
pub fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("===") && t.ends_with("===") && t.len() > 6 {
            let name = t.trim_matches('=').trim().to_string();
            out.push((name, String::new()));
        } else if let Some((_, v)) = out.last_mut() {
            if !v.is_empty() {
                v.push('\n');
            }
            v.push_str(line);
        }
    }
    for (_, v) in &mut out {
        *v = v.trim().to_string();
    }
    out
}

/// The output fields the answer format of a system message asks for (either
/// adapter), each with its enum values (empty for free text).
pub fn output_spec(system: &str) -> Vec<(String, Vec<String>)> {
    let Some(fmt) = between(system, ANSWER_FORMAT, EXAMPLES) else {
        return Vec::new();
    };
    let mut f = sections(fmt);
    if f.is_empty() {
        // The json adapter shows the answer as one object of hints.
        f = fmt
            .lines()
            .find(|l| l.trim_start().starts_with('{'))
            .and_then(|l| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(l).ok()
            })
            .map(|m| {
                m.into_iter()
                    .map(|(k, v)| (k, v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
    }
    f.into_iter()
        .filter(|(name, _)| name != "end")
        .map(|(name, hint)| {
            let values = hint
                .strip_prefix(ENUM_PLACEHOLDER)
                .and_then(|s| s.strip_suffix('>'))
                .map(|s| s.split(", ").map(str::to_string).collect())
                .unwrap_or_default();
            (name, values)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{Adapter, Demo, render_system_as};
    use crate::signature::Signature;

    fn sig() -> Signature {
        serde_yaml::from_str(
            "name: speak\ndescription: Say one thing.\ninputs:\n  persona: {desc: Who}\noutputs:\n  utterance: {desc: What}\n  move:\n    desc: The move\n    enum: [reframe, probe]\n",
        )
        .unwrap()
    }

    fn demo() -> Demo {
        let obj = |v: serde_json::Value| v.as_object().unwrap().clone();
        Demo {
            trace_id: crate::traces::TraceId("t1".into()),
            inputs: obj(serde_json::json!({"persona": "skeptic"})),
            outputs: obj(serde_json::json!({"utterance": "Why?", "move": "probe"})),
        }
    }

    #[test]
    fn every_marker_is_in_what_the_sections_adapter_renders() {
        let s = render_system_as(Adapter::Sections, &sig(), "Be brief.", &[demo()]);
        for m in [
            INSTRUCTIONS,
            ANSWER_FORMAT,
            EXAMPLES,
            EXAMPLE,
            ENUM_LIST,
            ENUM_PLACEHOLDER,
            END,
        ] {
            assert!(s.contains(m), "the template no longer writes {m:?}:\n{s}");
        }
        assert!(s.contains(&header("utterance")));
        assert_eq!(instructions(&s).map(str::trim), Some("Be brief."));
        assert_eq!(enum_values(&s), ["reframe", "probe"]);
        assert_eq!(
            output_spec(&s),
            [
                ("utterance".to_string(), vec![]),
                (
                    "move".to_string(),
                    vec!["reframe".to_string(), "probe".to_string()]
                )
            ]
        );
    }

    #[test]
    fn the_json_adapters_answer_format_reads_back_the_same_fields() {
        let s = render_system_as(Adapter::Json, &sig(), "Be brief.", &[demo()]);
        for m in [INSTRUCTIONS, ANSWER_FORMAT, EXAMPLES, ENUM_LIST] {
            assert!(
                s.contains(m),
                "the json template no longer writes {m:?}:\n{s}"
            );
        }
        assert_eq!(instructions(&s).map(str::trim), Some("Be brief."));
        // One JSON object: its fields come back by name, not in order.
        let mut spec = output_spec(&s);
        spec.sort();
        assert_eq!(
            spec,
            [
                (
                    "move".to_string(),
                    vec!["reframe".to_string(), "probe".to_string()]
                ),
                ("utterance".to_string(), vec![])
            ]
        );
    }
}
