//! OpenTelemetry GenAI spans (OTLP/JSON) as calls.
//!
//! A span is the signature's call when its `gen_ai.prompt.name` attribute
//! (`traces.source.select_key`) or its name is the signature's name; other
//! spans (HTTP, tools, other prompts) are skipped. Both the current GenAI
//! attribute names and the older ones are read:
//!
//! - thread: `gen_ai.conversation.id`, else `session.id`, else the trace id;
//! - workspace: the `traces.source.workspace_key` attribute of the span or its resource;
//! - time: `startTimeUnixNano`; error: span status `STATUS_CODE_ERROR` or `error.type`;
//! - pack: `promptc.pack.id`, else `gen_ai.prompt.name@gen_ai.prompt.version`;
//! - inputs: `gen_ai.prompt.variable.<name>` attributes (or OpenInference's
//!   `llm.prompt_template.variables`), else read back from the last user
//!   message (`gen_ai.input.messages`, or the older `gen_ai.prompt.<i>.*`);
//! - answer: the last assistant message of `gen_ai.output.messages`, or the
//!   older `gen_ai.completion.0.content`;
//! - feedback: the span's `gen_ai.evaluation.result` events;
//! - meta: `gen_ai.response.model` (else `gen_ai.request.model`),
//!   `gen_ai.provider.name` (else `gen_ai.system`), the trace id.

use serde_json::{Map, Value, json};

use super::otlp::{self, Span};
use super::{Answer, Call, Calls, Select, chat, json_in};

/// The signature's calls in one OTLP/JSON export request.
pub fn calls(req: &mut Value, sel: &Select<'_>) -> Result<Calls, String> {
    Ok(otlp::spans(req)?
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.text(sel.key).as_deref() == Some(sel.name) || s.raw["name"].as_str() == Some(sel.name)
        })
        .map(|(i, s)| (i, Ok(call_of(s, sel))))
        .collect())
}

fn call_of(s: &Span<'_>, sel: &Select<'_>) -> Call {
    let (id, trace) = s.ids();
    let thread = s
        .text("gen_ai.conversation.id")
        .or_else(|| s.text("session.id"))
        .or_else(|| trace.clone())
        .unwrap_or_default();
    let pack = s.text("promptc.pack.id").or_else(|| {
        let name = s.text("gen_ai.prompt.name")?;
        Some(match s.text("gen_ai.prompt.version") {
            Some(v) => format!("{name}@{v}"),
            None => name,
        })
    });
    let model = s
        .text("gen_ai.response.model")
        .or_else(|| s.text("gen_ai.request.model"));
    let provider = s
        .text("gen_ai.provider.name")
        .or_else(|| s.text("gen_ai.system"));
    let meta = json!({"model": model, "provider": provider, "trace_id": trace});
    Call {
        id,
        thread,
        workspace: s.text(sel.workspace_key),
        ts: s.start(),
        pack,
        inputs: inputs_of(s, sel),
        answer: answer_of(&s.attrs),
        error: s.failed(),
        feedback: otlp::evaluations(s),
        meta: meta.as_object().cloned().unwrap_or_default(),
    }
}

/// The template variables, else the inputs read back from the user message.
fn inputs_of(s: &Span<'_>, sel: &Select<'_>) -> Result<Map<String, Value>, String> {
    let vars: Map<String, Value> = s
        .attrs
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("gen_ai.prompt.variable.")?.to_string(),
                json_in(v),
            ))
        })
        .collect();
    if !vars.is_empty() {
        return Ok(vars);
    }
    if let Some(Value::Object(o)) = s.attrs.get("llm.prompt_template.variables").map(json_in) {
        return Ok(o);
    }
    let input = match s.attrs.get("gen_ai.input.messages").map(json_in) {
        Some(Value::Array(msgs)) => msgs,
        _ => otlp::indexed(&s.attrs, "gen_ai.prompt")
            .into_iter()
            .map(Value::Object)
            .collect(),
    };
    sel.from_user(
        chat::last_with_role(&input, "user").and_then(chat::text),
        "`gen_ai.prompt.variable.<name>`, `gen_ai.input.messages`, `gen_ai.prompt.<i>.content`",
    )
}

/// The last assistant message of `gen_ai.output.messages`, else the older
/// `gen_ai.completion.0.*`.
fn answer_of(attrs: &Map<String, Value>) -> Answer {
    const LOOKED: &str = "`gen_ai.output.messages` or `gen_ai.completion.0.content`";
    if let Some(Value::Array(msgs)) = attrs.get("gen_ai.output.messages").map(json_in) {
        return chat::answer(&msgs, LOOKED);
    }
    let older: Vec<Value> = otlp::indexed(attrs, "gen_ai.completion")
        .into_iter()
        .map(Value::Object)
        .collect();
    match older.first() {
        Some(m) if m.get("content").is_some_and(Value::is_string) => {
            Answer::Text(m["content"].as_str().unwrap_or("").to_string())
        }
        Some(Value::Object(m)) if m.keys().any(|k| k.starts_with("tool_calls")) => Answer::ToolCall,
        _ => Answer::Missing(LOOKED),
    }
}

#[cfg(test)]
mod tests {
    use crate::formats::{Reader, SourceSettings, TraceFormat};
    use crate::signature::Signature;
    use serde_json::{Value, json};

    fn signature() -> Signature {
        serde_yaml::from_str(
            "name: speak\ninputs:\n  topic: {desc: t}\n  turn: {desc: n}\noutputs:\n  utterance: {desc: u}\n",
        )
        .unwrap()
    }

    fn request(span_attrs: Value, resource_attrs: Value) -> Vec<u8> {
        json!({"resourceSpans": [{
            "resource": {"attributes": resource_attrs},
            "scopeSpans": [{"spans": [{
                "traceId": "t1", "spanId": "s1", "name": "chat",
                "startTimeUnixNano": 1_764_500_000_000_000_000u64,
                "attributes": span_attrs,
                "events": [{"name": "gen_ai.evaluation.result", "attributes": [
                    {"key": "gen_ai.evaluation.name", "value": {"stringValue": "thumbs"}},
                    {"key": "gen_ai.evaluation.score.value", "value": {"doubleValue": 1.0}},
                ]}],
            }]}],
        }]})
        .to_string()
        .into_bytes()
    }

    fn reader(settings: SourceSettings) -> Reader {
        Reader::new(TraceFormat::Otel, &signature(), &settings).unwrap()
    }

    #[test]
    fn a_configured_selector_and_workspace_attribute_are_read() {
        let m = SourceSettings {
            select_key: Some("app.prompt".into()),
            workspace_key: "tenant.id".into(),
        };
        let bytes = request(
            json!([
                {"key": "app.prompt", "value": {"stringValue": "speak"}},
                {"key": "gen_ai.prompt.variable.topic", "value": {"stringValue": "pricing"}},
                {"key": "gen_ai.prompt.variable.turn", "value": {"intValue": "3"}},
                {"key": "gen_ai.completion.0.content", "value": {"stringValue": "=== utterance ===\nHi.\n\n=== end ==="}},
                {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
            ]),
            json!([{"key": "tenant.id", "value": {"stringValue": "acme"}}]),
        );
        let out = reader(m).convert(&bytes).unwrap();
        let line = out[0].1.as_ref().unwrap();
        assert_eq!(line["workspace"], "acme");
        assert_eq!(line["thread"], "t1", "no conversation id: the trace id");
        assert_eq!(line["inputs"], json!({"topic": "pricing", "turn": 3}));
        assert_eq!(line["outputs"], json!({"utterance": "Hi."}));
        assert_eq!(line["status"], "ok");
        assert_eq!(line["feedback"], json!({"thumbs": 1.0}));
        assert_eq!(line["meta"]["provider"], "openai");
        assert_eq!(line["ts"], "2025-11-30T10:53:20.000Z");
        // The default selector does not pick it.
        assert!(
            reader(SourceSettings::default())
                .convert(&bytes)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_refused_answer_is_a_not_clean_turn_and_no_answer_is_a_reason() {
        let base = |extra: Value| {
            let mut a = vec![
                json!({"key": "gen_ai.prompt.name", "value": {"stringValue": "speak"}}),
                json!({"key": "gen_ai.prompt.variable.topic", "value": {"stringValue": "x"}}),
            ];
            a.extend(extra.as_array().unwrap().iter().cloned());
            request(Value::Array(a), json!([]))
        };
        let r = reader(SourceSettings::default());
        let refused =
            base(json!([{"key": "gen_ai.completion.0.content", "value": {"stringValue": ""}}]));
        let out = r.convert(&refused).unwrap();
        assert_eq!(out[0].1.as_ref().unwrap()["status"], "unparsed");
        let silent = r.convert(&base(json!([]))).unwrap();
        let reason = silent[0].1.as_ref().unwrap_err();
        assert!(reason.starts_with("no answer"), "{reason}");
        let tool = base(
            json!([{"key": "gen_ai.output.messages", "value": {"stringValue":
            r#"[{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"search","arguments":{}}]}]"#}}]),
        );
        let reason = r.convert(&tool).unwrap()[0].1.clone().unwrap_err();
        assert!(reason.contains("tool call"), "{reason}");
        assert!(
            r.convert(br#"{"spans": []}"#)
                .unwrap_err()
                .contains("resourceSpans")
        );
    }

    #[test]
    fn without_variables_the_inputs_are_read_from_the_rendered_user_message() {
        let sig = signature();
        let inputs = json!({"topic": "pricing", "turn": 3});
        let user = crate::adapter::render_user(&sig, inputs.as_object().unwrap());
        let msgs = json!([
            {"role": "system", "parts": [{"type": "text", "content": "…"}]},
            {"role": "user", "parts": [{"type": "text", "content": user}]},
        ]);
        let bytes = request(
            json!([
                {"key": "gen_ai.prompt.name", "value": {"stringValue": "speak"}},
                {"key": "gen_ai.input.messages", "value": {"stringValue": msgs.to_string()}},
                {"key": "gen_ai.completion.0.content", "value": {"stringValue": "=== utterance ===\nHi.\n\n=== end ==="}},
            ]),
            json!([]),
        );
        let out = reader(SourceSettings::default()).convert(&bytes).unwrap();
        assert_eq!(out[0].1.as_ref().unwrap()["inputs"], inputs);
        // A free-form prompt says why the inputs cannot be recovered.
        let other = request(
            json!([
                {"key": "gen_ai.prompt.name", "value": {"stringValue": "speak"}},
                {"key": "gen_ai.prompt.0.role", "value": {"stringValue": "user"}},
                {"key": "gen_ai.prompt.0.content", "value": {"stringValue": "Say hi"}},
                {"key": "gen_ai.completion.0.content", "value": {"stringValue": "hi"}},
            ]),
            json!([]),
        );
        let reason = reader(SourceSettings::default()).convert(&other).unwrap()[0]
            .1
            .clone()
            .unwrap_err();
        assert!(reason.contains("not promptc's rendering"), "{reason}");
    }
}
