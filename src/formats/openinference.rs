//! OpenInference spans (Arize Phoenix; OTLP/JSON) as calls.
//!
//! A span is the signature's call when it is an `LLM` span
//! (`openinference.span.kind`) and its name, or the `traces.source.select_key`
//! (default `prompt`) attribute or key of its `metadata` JSON, is the
//! signature's name.
//!
//! - thread: `session.id`, else the trace id; workspace: the
//!   `workspace_key` attribute, else that key of `metadata`;
//! - pack: `promptc.pack.id`, else `metadata.pack`, else `llm.prompt_template.version`;
//! - inputs: `llm.prompt_template.variables`, else read back from the last
//!   user message of `llm.input_messages.<i>.message.*`;
//! - answer: the last assistant message of `llm.output_messages.<i>.message.*`
//!   (`content`, or text items of `contents`), else `output.value`;
//! - feedback: the span's `gen_ai.evaluation.result` events;
//! - meta: `llm.model_name`, `llm.provider` (else `llm.system`), the trace id.

use serde_json::{Map, Value, json};

use super::otlp::{self, Span};
use super::{Answer, Call, Calls, Select, chat, json_in, text_of};

/// The signature's calls in one OTLP/JSON export request.
pub fn calls(req: &mut Value, sel: &Select<'_>) -> Result<Calls, String> {
    Ok(otlp::spans(req)?
        .iter()
        .enumerate()
        .filter(|(_, s)| s.text("openinference.span.kind").as_deref() == Some("LLM"))
        .filter(|(_, s)| {
            let meta = metadata(s);
            s.raw["name"].as_str() == Some(sel.name)
                || s.text(sel.key).as_deref() == Some(sel.name)
                || text_of(meta.get(sel.key)).as_deref() == Some(sel.name)
        })
        .map(|(i, s)| (i, Ok(call_of(s, sel))))
        .collect())
}

/// The span's `metadata` attribute (a JSON object in a string).
fn metadata(s: &Span<'_>) -> Map<String, Value> {
    match s.attr("metadata").map(json_in) {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    }
}

/// The flattened messages under `prefix` as `{role, content}` objects (a
/// message's `contents` items joined when it has no `content`).
fn messages(attrs: &Map<String, Value>, prefix: &str) -> Vec<Value> {
    otlp::indexed(attrs, prefix)
        .into_iter()
        .map(|m| {
            let content = m.get("message.content").cloned().unwrap_or_else(|| {
                let parts: Vec<Value> = otlp::indexed(&m, "message.contents")
                    .into_iter()
                    .filter(|c| c.get("message_content.type").is_none_or(|t| t == "text"))
                    .filter_map(|c| c.get("message_content.text").cloned())
                    .collect();
                if parts.is_empty() {
                    Value::Null
                } else {
                    Value::Array(parts)
                }
            });
            let tool = m.keys().any(|k| k.starts_with("message.tool_calls"));
            json!({
                "role": m.get("message.role").cloned().unwrap_or(Value::Null),
                "content": content,
                "tool_calls": if tool { json!([{}]) } else { json!([]) },
            })
        })
        .collect()
}

fn call_of(s: &Span<'_>, sel: &Select<'_>) -> Call {
    let meta = metadata(s);
    let (id, trace) = s.ids();
    let inputs = match s.attr("llm.prompt_template.variables").map(json_in) {
        Some(Value::Object(o)) => Ok(o),
        _ => sel.from_user(
            chat::last_with_role(&messages(&s.attrs, "llm.input_messages"), "user")
                .and_then(chat::text),
            "`llm.prompt_template.variables`, `llm.input_messages`",
        ),
    };
    let out = messages(&s.attrs, "llm.output_messages");
    let answer = match chat::answer(&out, "`llm.output_messages` or `output.value`") {
        Answer::Missing(looked) => match s.text("output.value") {
            Some(t) => Answer::Text(t),
            None => Answer::Missing(looked),
        },
        a => a,
    };
    let info = json!({
        "model": s.text("llm.model_name"),
        "provider": s.text("llm.provider").or_else(|| s.text("llm.system")),
        "trace_id": trace,
    });
    Call {
        thread: s.text("session.id").or(trace).unwrap_or_default(),
        id,
        workspace: s
            .text(sel.workspace_key)
            .or_else(|| text_of(meta.get(sel.workspace_key))),
        ts: s.start(),
        pack: s
            .text("promptc.pack.id")
            .or_else(|| text_of(meta.get("pack")))
            .or_else(|| s.text("llm.prompt_template.version")),
        inputs,
        answer,
        error: s.failed(),
        feedback: otlp::evaluations(s),
        meta: info.as_object().cloned().unwrap_or_default(),
    }
}
