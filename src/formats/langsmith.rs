//! LangSmith runs (one run object per line, as `list_runs` returns them) as calls.
//!
//! A run is the signature's call when its `name`, or the `select_key`
//! (default `prompt`) of `extra.metadata`, is the signature's name. A
//! traced function named after the signature gives its arguments as the
//! inputs and its return value as the outputs; an LLM run gives messages.
//!
//! - thread: `extra.metadata` `session_id`, `thread_id` or `conversation_id`,
//!   else the run's `trace_id` (LangSmith's own `session_id` is the project,
//!   not a conversation);
//! - workspace: `extra.metadata.<workspace_key>`; pack: `extra.metadata.pack`;
//! - time: `start_time`; error: `status: error` or an `error`;
//! - inputs: `inputs` when it holds the signature's inputs, else read back
//!   from the last user message of `inputs.messages`;
//! - answer: `outputs` when it holds the signature's outputs, else the text
//!   of `outputs.generations[0][0]`, `outputs.choices[0].message`,
//!   `outputs.output` or `outputs.content`;
//! - feedback: `feedback_stats.<key>.avg`, or a `feedback` list of
//!   `{key, score | value}` attached by the exporter;
//! - meta: `ls_model_name`, `ls_provider`, the trace id.

use serde_json::{Map, Value, json};

use super::{Answer, Call, Calls, Select, chat, text_of, time_of};

/// The signature's runs in one record (a run, or a list of runs).
pub fn calls(v: &Value, sel: &Select<'_>) -> Result<Calls, String> {
    let runs: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.contains_key("run_type") || o.contains_key("inputs") => vec![v],
        _ => return Err("not a LangSmith run: no `run_type` or `inputs`".into()),
    };
    Ok(runs
        .into_iter()
        .enumerate()
        .filter(|(_, r)| {
            r["name"].as_str() == Some(sel.name)
                || text_of(r["extra"]["metadata"].get(sel.key)).as_deref() == Some(sel.name)
        })
        .map(|(i, r)| (i, Ok(call_of(r, sel))))
        .collect())
}

fn call_of(r: &Value, sel: &Select<'_>) -> Call {
    let md = &r["extra"]["metadata"];
    let thread = ["session_id", "thread_id", "conversation_id"]
        .iter()
        .find_map(|k| text_of(md.get(*k)))
        .or_else(|| text_of(r.get("trace_id")))
        .unwrap_or_default();
    let inputs = sel.variables(&r["inputs"]).map_or_else(
        || {
            let msgs = chat::list(&r["inputs"]["messages"]);
            sel.from_user(
                chat::last_with_role(&msgs, "user").and_then(chat::text),
                "`inputs` or `inputs.messages`",
            )
        },
        Ok,
    );
    let error = r["status"].as_str() == Some("error") || text_of(r.get("error")).is_some();
    let meta = json!({
        "model": text_of(md.get("ls_model_name")),
        "provider": text_of(md.get("ls_provider")),
        "trace_id": r.get("trace_id"),
        "run_type": r.get("run_type"),
    });
    Call {
        id: text_of(r.get("id")).unwrap_or_default(),
        thread,
        workspace: text_of(md.get(sel.workspace_key)),
        ts: time_of(r.get("start_time")),
        pack: text_of(md.get("pack")),
        inputs,
        answer: answer_of(&r["outputs"], sel),
        error,
        feedback: feedback_of(r),
        meta: meta.as_object().cloned().unwrap_or_default(),
    }
}

fn answer_of(out: &Value, sel: &Select<'_>) -> Answer {
    const LOOKED: &str = "`outputs` with the signature's outputs, `outputs.generations`, `outputs.choices`, `outputs.output`";
    if let Some(fields) = sel.outputs(out) {
        return Answer::Fields(fields);
    }
    let generation = &out["generations"][0][0];
    if generation.is_object() {
        if let Some(t) = text_of(generation.get("text")) {
            return Answer::Text(t);
        }
        return chat::answer(std::slice::from_ref(&generation["message"]), LOOKED);
    }
    if let Some(choices) = out["choices"].as_array() {
        let msgs: Vec<Value> = choices.iter().map(|c| c["message"].clone()).collect();
        return chat::answer(&msgs, LOOKED);
    }
    match &out["output"] {
        Value::String(s) => Answer::Text(s.clone()),
        m @ Value::Object(_) => chat::answer(std::slice::from_ref(m), LOOKED),
        _ => match text_of(out.get("content")) {
            Some(t) => Answer::Text(t),
            None => Answer::Missing(LOOKED),
        },
    }
}

fn feedback_of(r: &Value) -> Map<String, Value> {
    let mut f: Map<String, Value> = r["feedback_stats"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, s)| Some((k.clone(), s.get("avg")?.clone())))
        .filter(|(_, v)| !v.is_null())
        .collect();
    for item in r["feedback"].as_array().into_iter().flatten() {
        if let Some(key) = item["key"].as_str() {
            let v = match &item["score"] {
                Value::Null => item["value"].clone(),
                s => s.clone(),
            };
            if !v.is_null() {
                f.insert(key.to_string(), v);
            }
        }
    }
    f
}
