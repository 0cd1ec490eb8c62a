//! Reading a request back from the user message it was rendered into.
//!
//! Apps served by the pack runtimes send promptc's own user message (one
//! `=== name ===` section per input, then the answer request), so a trace
//! export that kept only the rendered messages still holds the inputs. The
//! rendering is not perfectly invertible: a string input is written as it
//! is, so a string that reads as JSON (`"42"`, `"true"`, `"[1]"`) comes back
//! as that JSON value, and the text `(none)` comes back as null.

use serde_json::{Map, Value};

use crate::adapter::wire;
use crate::signature::Signature;

/// The inputs of a rendered user message (either adapter), or why it is not
/// one: the sections must be the signature's inputs, in order, each once.
pub fn inputs_from_user(sig: &Signature, text: &str) -> Result<Map<String, Value>, String> {
    let text = text.replace("\r\n", "\n");
    let mut rest = text.as_str();
    let mut inputs = Map::new();
    let names: Vec<&String> = sig.inputs.keys().collect();
    for (i, name) in names.iter().enumerate() {
        let header = format!("{}\n", wire::header(name));
        let Some(body) = rest.strip_prefix(&header) else {
            return Err(format!(
                "the user message is not promptc's rendering: expected `{}` {}",
                wire::header(name),
                if i == 0 {
                    "at its start".to_string()
                } else {
                    format!("after `{}`", names[i - 1])
                }
            ));
        };
        // A value ends at the blank line before the next input's header, or,
        // for the last input, before the answer request.
        let end = match names.get(i + 1) {
            Some(next) => body.find(&format!("\n\n{}\n", wire::header(next))),
            None => body.rfind("\n\nAnswer with "),
        };
        let Some(end) = end else {
            return Err(format!(
                "the user message is not promptc's rendering: `{name}` has no end (no {} after it)",
                names
                    .get(i + 1)
                    .map_or("answer request".to_string(), |n| format!(
                        "`{}`",
                        wire::header(n)
                    ))
            ));
        };
        inputs.insert(name.to_string(), value_of(&body[..end]));
        rest = &body[end + 2..];
    }
    Ok(inputs)
}

/// A rendered value read back: `(none)` is null, JSON other than a string is
/// that JSON, anything else the text itself.
fn value_of(text: &str) -> Value {
    if text == "(none)" {
        return Value::Null;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Object(_) | Value::Array(_) | Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{Adapter, render_user_as};
    use serde_json::json;

    fn signature() -> Signature {
        serde_yaml::from_str(
            "name: s\ninputs:\n  topic: {desc: t}\n  turns: {desc: l}\n  note: {desc: n, optional: true}\noutputs:\n  answer: {desc: a}\n",
        )
        .unwrap()
    }

    #[test]
    fn both_adapters_renderings_read_back_to_the_inputs() {
        let sig = signature();
        let inputs = json!({
            "topic": "pricing\n\nwith a blank line inside",
            "turns": [{"speaker": "a", "text": "=== not a header ==="}],
            "note": null,
        });
        for adapter in [Adapter::Sections, Adapter::Json] {
            let text = render_user_as(adapter, &sig, inputs.as_object().unwrap());
            let back = inputs_from_user(&sig, &text).unwrap();
            assert_eq!(Value::Object(back), inputs, "{adapter:?}");
        }
    }

    #[test]
    fn another_prompt_is_refused_with_the_section_it_missed() {
        let sig = signature();
        let err = inputs_from_user(&sig, "What is the price?").unwrap_err();
        assert!(
            err.contains("expected `=== topic ===` at its start"),
            "{err}"
        );
        let err = inputs_from_user(&sig, "=== topic ===\nx\n\n=== note ===\ny").unwrap_err();
        assert!(err.contains("`topic` has no end"), "{err}");
    }
}
