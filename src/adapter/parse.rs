//! Reading a completion back into the signature's outputs: the sections
//! shape or one JSON object, whichever the model wrote.

use serde_json::{Map, Value};

use super::render_value;
use crate::signature::{Signature, match_enum, normalize_enum};
use crate::text::truncate_for_message;

/// A completion that could not be read as the signature's outputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// Output fields absent from the answer.
    #[error("missing output field(s): {}", .0.join(", "))]
    Missing(Vec<String>),
    /// An enum field's value is not one of its values.
    #[error("{0}")]
    BadEnum(String),
    /// Nothing recognisable.
    #[error("the answer has none of the `=== field ===` headers and is not a JSON object")]
    Unstructured,
}

/// Reads a completion back into the signature's outputs.
///
/// Tolerant of header case and spacing (`=== Rhetorical Move ===`), of a JSON
/// object answer (fenced or not), and of enum near-misses; strict about
/// missing fields and values outside an enum.
pub fn parse_completion(sig: &Signature, text: &str) -> Result<Map<String, Value>, ParseError> {
    let found = parse_headers(sig, text)
        .or_else(|| parse_json(sig, text))
        .or_else(|| {
            // A one-output signature answered in plain text is still an answer.
            (sig.outputs.len() == 1 && !text.trim().is_empty()).then(|| {
                let name = sig.outputs.keys().next().cloned().unwrap_or_default();
                vec![(name, Value::String(text.trim().to_string()))]
            })
        })
        .ok_or(ParseError::Unstructured)?;
    let mut out = Map::new();
    let mut missing = Vec::new();
    for (name, spec) in &sig.outputs {
        let Some((_, v)) = found.iter().find(|(n, _)| n == name) else {
            missing.push(name.clone());
            continue;
        };
        let v = match (&spec.enum_values, v) {
            (Some(values), v) => {
                let s = render_value(Some(v));
                match match_enum(values, &s) {
                    Some(canon) => Value::String(canon.to_string()),
                    None => {
                        return Err(ParseError::BadEnum(format!(
                            "`{name}` is `{}`, which is not one of {}",
                            truncate_for_message(&s),
                            values.join(", ")
                        )));
                    }
                }
            }
            (None, Value::String(s)) if s.trim().is_empty() => {
                missing.push(name.clone());
                continue;
            }
            (None, v) => v.clone(),
        };
        out.insert(name.clone(), v);
    }
    if !missing.is_empty() {
        return Err(ParseError::Missing(missing));
    }
    Ok(out)
}

/// The field a header line names, if it is one: `=== name ===`, any case,
/// any spacing, `_`, `-` or spaces inside the name.
fn header_name(line: &str) -> Option<String> {
    let t = line.trim();
    let inner = t.strip_prefix("==")?.trim_start_matches('=');
    let inner = inner.strip_suffix("==")?.trim_end_matches('=');
    let key = normalize_enum(inner);
    (!key.is_empty()).then_some(key)
}

fn parse_headers(sig: &Signature, text: &str) -> Option<Vec<(String, Value)>> {
    let names: Vec<(String, &String)> =
        sig.outputs.keys().map(|n| (normalize_enum(n), n)).collect();
    let mut found: Vec<(String, Value)> = Vec::new();
    let mut current: Option<(&String, Vec<&str>)> = None;
    let mut any = false;
    let flush = |cur: Option<(&String, Vec<&str>)>, found: &mut Vec<(String, Value)>| {
        if let Some((name, lines)) = cur
            && !found.iter().any(|(n, _)| n == name)
        {
            found.push((
                name.clone(),
                Value::String(lines.join("\n").trim().to_string()),
            ));
        }
    };
    for line in text.lines() {
        if let Some(key) = header_name(line) {
            any = true;
            flush(current.take(), &mut found);
            if key == "end" {
                break;
            }
            current = names
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, n)| (*n, Vec::new()));
            continue;
        }
        if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        }
    }
    flush(current, &mut found);
    any.then_some(found)
}

fn parse_json(sig: &Signature, text: &str) -> Option<Vec<(String, Value)>> {
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .map(|s| s.trim_end().trim_end_matches('`'))
        .unwrap_or(t);
    let start = t.find('{')?;
    let end = t.rfind('}')?;
    let obj: Map<String, Value> = serde_json::from_str(t.get(start..=end)?).ok()?;
    Some(
        obj.into_iter()
            .filter_map(|(k, v)| {
                let key = normalize_enum(&k);
                sig.outputs
                    .keys()
                    .find(|n| normalize_enum(n) == key)
                    .map(|n| (n.clone(), v))
            })
            .collect(),
    )
}
