//! OpenTelemetry GenAI spans as promptc trace lines.
//!
//! Input: OTLP/JSON, one `ExportTraceServiceRequest` per line (what the
//! OpenTelemetry Collector's file exporter writes):
//! `resourceSpans[].scopeSpans[].spans[]`, each attribute a `{key, value}`
//! with a typed `AnyValue` (`stringValue`, `intValue` — a string in
//! protobuf's JSON mapping —, `doubleValue`, `boolValue`, `arrayValue`,
//! `kvlistValue`, `bytesValue`). A span belongs to the signature when its
//! `gen_ai.prompt.name` attribute (`traces.otel.select_attribute`), or its
//! span name, is the signature's name; other spans (HTTP, tools, other
//! prompts) are skipped.
//!
//! The mapping (both the current GenAI attribute names and the older ones):
//! thread from `gen_ai.conversation.id`, else `session.id`, else the trace
//! id; the workspace from a configurable attribute of the span or its
//! resource; the time from `startTimeUnixNano`; the status from the span
//! status (`STATUS_CODE_ERROR`) or `error.type`; the pack from
//! `promptc.pack.id`, else `gen_ai.prompt.name@gen_ai.prompt.version`; the
//! inputs from `gen_ai.prompt.variable.<name>` attributes (or OpenInference's
//! `llm.prompt_template.variables`); the outputs parsed, with the adapter's
//! rules, from the output message (`gen_ai.output.messages`, or the older
//! `gen_ai.completion.0.content`); the model into `meta`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::signature::Signature;

/// What a span needs beyond the standard attribute names (`traces.otel`).
pub type OtelMapping = crate::traces::settings::OtelSettings;

/// The signature's spans as promptc lines, for every command that reads
/// traces (`traces.format: otel`).
#[derive(Debug, Clone)]
pub struct OtelLines {
    /// The signature whose spans are read.
    pub signature: Signature,
    /// The attribute names beyond the standard ones.
    pub mapping: OtelMapping,
}

impl crate::traces::Expand for OtelLines {
    fn expand(&self, record: &[u8]) -> Result<Vec<crate::traces::Expanded>, String> {
        Ok(convert(record, &self.signature, &self.mapping)?
            .into_iter()
            .map(|(i, r)| (i, r.map(|v| v.to_string().into_bytes())))
            .collect())
    }
}

/// One span of a request: its index and either a promptc trace line or why
/// it is not a usable trace.
pub type Converted = (usize, Result<Value, String>);

/// The signature's spans in one OTLP/JSON request, as promptc trace lines.
/// The outer error: the line is not an OTLP/JSON request at all.
pub fn convert(line: &[u8], sig: &Signature, m: &OtelMapping) -> Result<Vec<Converted>, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not valid UTF-8 ({e})"))?;
    let req: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let resource_spans = req["resourceSpans"]
        .as_array()
        .ok_or("not an OTLP/JSON request: no `resourceSpans` array")?;
    let mut out = Vec::new();
    let mut index = 0;
    for rs in resource_spans {
        let resource = attributes(&rs["resource"]["attributes"]);
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for span in ss["spans"].as_array().into_iter().flatten() {
                let attrs = attributes(&span["attributes"]);
                let ours = attrs.get(&m.select_attribute).and_then(Value::as_str)
                    == Some(sig.name.as_str())
                    || span["name"].as_str() == Some(sig.name.as_str());
                if ours {
                    out.push((index, line_of(span, &attrs, &resource, sig, m)));
                }
                index += 1;
            }
        }
    }
    Ok(out)
}

/// An OTLP attribute list as a JSON object.
fn attributes(list: &Value) -> Map<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv["key"].as_str()?.to_string(), any_value(&kv["value"]))))
        .collect()
}

/// An OTLP `AnyValue` as plain JSON.
fn any_value(v: &Value) -> Value {
    if let Some(s) = v.get("stringValue") {
        return s.clone();
    }
    if let Some(i) = v.get("intValue") {
        // int64 is a string in protobuf's JSON mapping; a number is accepted too.
        return match i {
            Value::String(s) => s.parse::<i64>().map_or_else(|_| i.clone(), Value::from),
            other => other.clone(),
        };
    }
    if let Some(d) = v.get("doubleValue") {
        return d.clone();
    }
    if let Some(b) = v.get("boolValue") {
        return b.clone();
    }
    if let Some(b) = v.get("bytesValue") {
        return b.clone();
    }
    if let Some(a) = v.get("arrayValue") {
        return Value::Array(
            a["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(any_value)
                .collect(),
        );
    }
    if let Some(kv) = v.get("kvlistValue") {
        return Value::Object(attributes(&kv["values"]));
    }
    Value::Null
}

/// A string attribute that holds JSON (an object or array) as that JSON.
fn json_in(v: &Value) -> Value {
    match v {
        Value::String(s) if s.trim_start().starts_with(['{', '[']) => {
            serde_json::from_str(s).unwrap_or_else(|_| v.clone())
        }
        other => other.clone(),
    }
}

/// One span as a promptc trace line.
fn line_of(
    span: &Value,
    attrs: &Map<String, Value>,
    resource: &Map<String, Value>,
    sig: &Signature,
    m: &OtelMapping,
) -> Result<Value, String> {
    let attr = |k: &str| attrs.get(k).or_else(|| resource.get(k));
    let text = |k: &str| attr(k).and_then(Value::as_str).map(str::to_string);
    let thread = text("gen_ai.conversation.id")
        .or_else(|| text("session.id"))
        .or_else(|| span["traceId"].as_str().map(str::to_string))
        .ok_or("no `gen_ai.conversation.id`, `session.id` or trace id to thread it by")?;
    let id = span["spanId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or("no `spanId`")?;
    let inputs = inputs_of(attrs)?;
    let error = span["status"]["code"]
        .as_str()
        .is_some_and(|c| c == "STATUS_CODE_ERROR")
        || span["status"]["code"].as_i64() == Some(2)
        || attrs.contains_key("error.type");
    let (outputs, status) = match output_text(attrs) {
        Some(t) => match crate::adapter::parse_completion(sig, &t) {
            Ok(o) => (o, if error { "error" } else { "ok" }),
            Err(_) => (Map::new(), "unparsed"),
        },
        None if error => (Map::new(), "error"),
        None => {
            return Err(
                "no output message (`gen_ai.output.messages` or `gen_ai.completion.0.content`)"
                    .into(),
            );
        }
    };
    let mut line = json!({
        "id": id,
        "signature": sig.name,
        "thread": thread,
        "inputs": inputs,
        "outputs": outputs,
        "status": status,
    });
    if let Some(ts) = start_time(&span["startTimeUnixNano"]) {
        line["ts"] = Value::String(ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    if let Some(w) = text(&m.workspace_attribute) {
        line["workspace"] = Value::String(w);
    }
    let pack = text("promptc.pack.id").or_else(|| {
        let name = text("gen_ai.prompt.name")?;
        Some(match text("gen_ai.prompt.version") {
            Some(v) => format!("{name}@{v}"),
            None => name,
        })
    });
    if let Some(p) = pack {
        line["pack"] = Value::String(p);
    }
    let model = text("gen_ai.response.model").or_else(|| text("gen_ai.request.model"));
    let provider = text("gen_ai.provider.name").or_else(|| text("gen_ai.system"));
    line["meta"] = json!({"model": model, "provider": provider, "trace_id": span["traceId"]});
    Ok(line)
}

/// The template variables: `gen_ai.prompt.variable.<name>` attributes, else
/// OpenInference's `llm.prompt_template.variables` (a JSON object in a string).
fn inputs_of(attrs: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let vars: Map<String, Value> = attrs
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
    match attrs.get("llm.prompt_template.variables").map(json_in) {
        Some(Value::Object(o)) => Ok(o),
        _ => Err("no template variables (`gen_ai.prompt.variable.<name>` or `llm.prompt_template.variables`) to read the inputs from".into()),
    }
}

/// The answer's text: the last assistant message's text parts
/// (`gen_ai.output.messages`), else the older `gen_ai.completion.0.content`.
fn output_text(attrs: &Map<String, Value>) -> Option<String> {
    if let Some(Value::Array(msgs)) = attrs.get("gen_ai.output.messages").map(json_in) {
        let text: Vec<String> = msgs
            .iter()
            .rev()
            .find(|m| m["role"].as_str().is_none_or(|r| r == "assistant"))?["parts"]
            .as_array()?
            .iter()
            .filter(|p| p["type"].as_str().is_none_or(|t| t == "text"))
            .filter_map(|p| p["content"].as_str().map(str::to_string))
            .collect();
        return (!text.is_empty()).then(|| text.join(""));
    }
    attrs
        .get("gen_ai.completion.0.content")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `startTimeUnixNano` (a string or a number) as a time.
fn start_time(v: &Value) -> Option<DateTime<Utc>> {
    let nanos: i128 = match v {
        Value::String(s) => s.parse().ok()?,
        Value::Number(n) => i128::from(n.as_u64()?),
        _ => return None,
    };
    let secs = i64::try_from(nanos / 1_000_000_000).ok()?;
    DateTime::from_timestamp(secs, (nanos % 1_000_000_000) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            }]}],
        }]})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_configured_selector_and_workspace_attribute_are_read() {
        let m = OtelMapping {
            select_attribute: "app.prompt".into(),
            workspace_attribute: "tenant.id".into(),
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
        let out = convert(&bytes, &signature(), &m).unwrap();
        let line = out[0].1.as_ref().unwrap();
        assert_eq!(line["workspace"], "acme");
        assert_eq!(line["thread"], "t1", "no conversation id: the trace id");
        assert_eq!(line["inputs"], json!({"topic": "pricing", "turn": 3}));
        assert_eq!(line["outputs"], json!({"utterance": "Hi."}));
        assert_eq!(line["status"], "ok");
        assert_eq!(line["meta"]["provider"], "openai");
        assert_eq!(line["ts"], "2025-11-30T10:53:20.000Z");
        // The default selector does not pick it.
        assert!(
            convert(&bytes, &signature(), &OtelMapping::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_refused_answer_is_a_not_clean_turn_and_no_answer_is_a_reason() {
        let m = OtelMapping::default();
        let base = |extra: Value| {
            let mut a = vec![
                json!({"key": "gen_ai.prompt.name", "value": {"stringValue": "speak"}}),
                json!({"key": "gen_ai.prompt.variable.topic", "value": {"stringValue": "x"}}),
            ];
            a.extend(extra.as_array().unwrap().iter().cloned());
            request(Value::Array(a), json!([]))
        };
        let refused =
            base(json!([{"key": "gen_ai.completion.0.content", "value": {"stringValue": ""}}]));
        let out = convert(&refused, &signature(), &m).unwrap();
        assert_eq!(out[0].1.as_ref().unwrap()["status"], "unparsed");
        let silent = convert(&base(json!([])), &signature(), &m).unwrap();
        assert!(
            silent[0]
                .1
                .as_ref()
                .unwrap_err()
                .starts_with("no output message")
        );
        assert!(
            convert(br#"{"spans": []}"#, &signature(), &m)
                .unwrap_err()
                .contains("resourceSpans")
        );
    }
}
