//! Langfuse traces with their observations and scores (one per line, as
//! `GET /api/public/traces/{id}` returns them; a bare observation, or a
//! `{data: [...]}` page of either, is read too) as calls.
//!
//! An observation is the signature's call when it is a `GENERATION` and its
//! `name` or `promptName`, or the `select_key` (default `prompt`) of its
//! metadata, is the signature's name.
//!
//! - thread: the trace's `sessionId`, else the trace id;
//! - workspace: `<workspace_key>` of the observation's, else the trace's, metadata;
//! - time: `startTime`; error: `level: ERROR`;
//! - pack: `metadata.pack`, else `promptName@promptVersion`;
//! - inputs: `input` when it holds the signature's inputs, else read back
//!   from the last user message of `input` (a message list, or the text);
//! - answer: `output` when it holds the signature's outputs, else its text
//!   (a message, a message list, or a string);
//! - feedback: the trace's scores on this observation or on the whole trace,
//!   by name (`value`; a categorical score's `stringValue`);
//! - meta: `model`, the trace id.

use serde_json::{Map, Value, json};

use super::{Answer, Call, Calls, Select, chat, text_of, time_of};

/// The signature's generations in one record.
pub fn calls(v: &Value, sel: &Select<'_>) -> Result<Calls, String> {
    let items: Vec<&Value> = match v.get("data").and_then(Value::as_array) {
        Some(page) => page.iter().collect(),
        None => vec![v],
    };
    let mut out = Vec::new();
    let mut index = 0;
    for item in items {
        let (trace, observations): (&Value, Vec<&Value>) = match item.get("observations") {
            Some(Value::Array(obs)) => (item, obs.iter().collect()),
            _ if item.get("type").is_some() => (&Value::Null, vec![item]),
            _ => {
                return Err(
                    "not a Langfuse trace or observation: no `observations` or `type`".into(),
                );
            }
        };
        let scores: Vec<&Value> = item["scores"].as_array().into_iter().flatten().collect();
        for o in observations {
            let ours = o["type"].as_str() == Some("GENERATION")
                && (o["name"].as_str() == Some(sel.name)
                    || o["promptName"].as_str() == Some(sel.name)
                    || text_of(o["metadata"].get(sel.key)).as_deref() == Some(sel.name));
            if ours {
                out.push((index, Ok(call_of(o, trace, &scores, sel))));
            }
            index += 1;
        }
    }
    Ok(out)
}

fn call_of(o: &Value, trace: &Value, scores: &[&Value], sel: &Select<'_>) -> Call {
    let trace_id = text_of(o.get("traceId")).or_else(|| text_of(trace.get("id")));
    let thread = text_of(trace.get("sessionId"))
        .or_else(|| text_of(o.get("sessionId")))
        .or_else(|| trace_id.clone())
        .unwrap_or_default();
    let workspace = text_of(o["metadata"].get(sel.workspace_key))
        .or_else(|| text_of(trace["metadata"].get(sel.workspace_key)));
    let pack = text_of(o["metadata"].get("pack")).or_else(|| {
        let name = text_of(o.get("promptName"))?;
        Some(match text_of(o.get("promptVersion")) {
            Some(v) => format!("{name}@{v}"),
            None => name,
        })
    });
    let id = text_of(o.get("id")).unwrap_or_default();
    let feedback: Map<String, Value> = scores
        .iter()
        .filter(|s| {
            s["observationId"].is_null()
                || text_of(s.get("observationId")).as_deref() == Some(id.as_str())
        })
        .filter_map(|s| {
            let v = match s["dataType"].as_str() {
                Some("CATEGORICAL") => s.get("stringValue").or_else(|| s.get("value")),
                _ => s.get("value"),
            }?;
            Some((s["name"].as_str()?.to_string(), v.clone()))
        })
        .collect();
    let meta = json!({"model": o.get("model"), "trace_id": trace_id});
    Call {
        id,
        thread,
        workspace,
        ts: time_of(o.get("startTime")),
        pack,
        inputs: inputs_of(&o["input"], sel),
        answer: answer_of(&o["output"], sel),
        error: o["level"].as_str() == Some("ERROR"),
        feedback,
        meta: meta.as_object().cloned().unwrap_or_default(),
    }
}

fn inputs_of(input: &Value, sel: &Select<'_>) -> Result<Map<String, Value>, String> {
    if let Some(vars) = sel.variables(input) {
        return Ok(vars);
    }
    let user = match input {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) if o.contains_key("messages") => {
            chat::last_with_role(&chat::list(&input["messages"]), "user").and_then(chat::text)
        }
        other => chat::last_with_role(&chat::list(other), "user").and_then(chat::text),
    };
    sel.from_user(user, "`input`")
}

fn answer_of(output: &Value, sel: &Select<'_>) -> Answer {
    const LOOKED: &str = "`output`";
    if let Some(fields) = sel.outputs(output) {
        return Answer::Fields(fields);
    }
    match output {
        Value::String(s) => Answer::Text(s.clone()),
        Value::Array(msgs) => chat::answer(msgs, LOOKED),
        Value::Object(_) => chat::answer(std::slice::from_ref(output), LOOKED),
        _ => Answer::Missing(LOOKED),
    }
}
