//! Other tools' trace exports read as promptc trace lines.
//!
//! Each reader finds the signature's model calls in one record of its
//! format (a line of the export) and describes each as a [`Call`]; one
//! function, [`line_of`], turns a call into a promptc trace line with the
//! same rules for every format: inputs from the template variables when the
//! export kept them, else read back from the rendered user message
//! ([`crate::adapter::inputs_from_user`]); outputs parsed from the answer
//! with the adapter's rules; a refused or unparsable answer is a logged but
//! not clean turn; an error with no answer is an `error` turn; a call with
//! no answer and no error is not a trace, and says why.
//!
//! Every command reads these formats in place through [`Reader`] (the
//! `traces` layer's `Expand` hook), streaming, record by record;
//! `promptc traces import` writes the same lines to a file.

pub mod chat;
pub mod langfuse;
pub mod langsmith;
pub mod openai;
pub mod openinference;
pub mod otel;
mod otlp;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::signature::Signature;
pub use crate::traces::settings::{SourceSettings, TraceFormat};

/// One model call found in an export, in the terms a trace line needs.
#[derive(Debug, Clone)]
pub struct Call {
    /// The record's own id (span, run, observation or completion id).
    pub id: String,
    /// The conversation the call belongs to.
    pub thread: String,
    /// The workspace, when the record names one.
    pub workspace: Option<String>,
    /// When the call started.
    pub ts: Option<DateTime<Utc>>,
    /// The pack (or prompt name and version) that served it.
    pub pack: Option<String>,
    /// The template variables, or why they could not be found.
    pub inputs: Result<Map<String, Value>, String>,
    /// What the model answered.
    pub answer: Answer,
    /// The call failed (status, level or error attribute).
    pub error: bool,
    /// Ratings attached to the call, by name.
    pub feedback: Map<String, Value>,
    /// Model, provider and the record's other ids, kept in `meta`.
    pub meta: Map<String, Value>,
}

/// The answer of a call, as the export kept it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The answer's text, to be parsed with the adapter's rules.
    Text(String),
    /// The signature's outputs, already structured (a traced function's return value).
    Fields(Map<String, Value>),
    /// The model asked for a tool instead of answering.
    ToolCall,
    /// The model refused (OpenAI's `refusal`): a logged, not clean, turn.
    Refused,
    /// No answer in the record; the text names where promptc looked.
    Missing(&'static str),
}

/// The signature's calls in one record, each with its index in the record,
/// or why that part is not a call promptc can read.
pub type Calls = Vec<(usize, Result<Call, String>)>;

/// One call of a record: its index in the record, and the promptc line or
/// why that call is not a usable trace.
pub type Converted = (usize, Result<Value, String>);

/// Reads another tool's export for every command (`traces.format`).
#[derive(Debug, Clone)]
pub struct Reader {
    /// The export's format (never `promptc`).
    pub format: TraceFormat,
    /// The signature whose calls are read.
    pub signature: Signature,
    /// How calls are matched and where the workspace is.
    pub settings: SourceSettings,
}

impl Reader {
    /// The reader for `format`, or `None` for promptc's own lines.
    pub fn new(
        format: TraceFormat,
        signature: &Signature,
        settings: &SourceSettings,
    ) -> Option<Reader> {
        (format != TraceFormat::Promptc).then(|| Reader {
            format,
            signature: signature.clone(),
            settings: settings.clone(),
        })
    }

    /// The signature's calls in one record, as promptc lines. The outer
    /// error: the record is not one of this format's at all.
    pub fn convert(&self, record: &[u8]) -> Result<Vec<Converted>, String> {
        let text = std::str::from_utf8(record).map_err(|e| format!("not valid UTF-8 ({e})"))?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        let mut v: Value = serde_json::from_str(text).map_err(|e| {
            let t = text.trim();
            if t == "{" || t == "[" {
                "one line of a pretty-printed JSON document: promptc reads one JSON document per line (`jq -c . FILE` writes that)".to_string()
            } else {
                format!("invalid JSON: {e}")
            }
        })?;
        let sel = Select {
            name: &self.signature.name,
            key: self.settings.select_key(self.format),
            workspace_key: &self.settings.workspace_key,
            signature: &self.signature,
        };
        let calls = match self.format {
            TraceFormat::Promptc => return Ok(vec![(0, Ok(v))]),
            TraceFormat::Otel => otel::calls(&mut v, &sel)?,
            TraceFormat::Openinference => openinference::calls(&mut v, &sel)?,
            TraceFormat::Langsmith => langsmith::calls(&v, &sel)?,
            TraceFormat::Langfuse => langfuse::calls(&v, &sel)?,
            TraceFormat::Openai => openai::calls(&v, &sel)?,
        };
        Ok(calls
            .into_iter()
            .map(|(i, c)| (i, c.and_then(|c| line_of(c, &self.signature))))
            .collect())
    }
}

impl crate::traces::Expand for Reader {
    fn expand(&self, record: &[u8]) -> Result<Vec<crate::traces::Expanded>, String> {
        Ok(self
            .convert(record)?
            .into_iter()
            // Straight into bytes: `to_string` goes through `fmt::Write`,
            // which took a sixth of an OTLP export's reading.
            .map(|(i, r)| {
                (
                    i,
                    r.and_then(|v| serde_json::to_vec(&v).map_err(|e| e.to_string())),
                )
            })
            .collect())
    }
}

/// What a format reader needs to pick and describe the signature's calls.
pub struct Select<'a> {
    /// The signature's name.
    pub name: &'a str,
    /// The attribute or metadata key whose value names the signature.
    pub key: &'a str,
    /// The attribute or metadata key of the workspace.
    pub workspace_key: &'a str,
    /// The signature (to tell its inputs and outputs from other objects).
    pub signature: &'a Signature,
}

impl Select<'_> {
    /// The signature's inputs when `v` is an object holding every required one.
    pub fn variables(&self, v: &Value) -> Option<Map<String, Value>> {
        let o = v.as_object()?;
        let all = self
            .signature
            .inputs
            .iter()
            .all(|(n, f)| f.optional || o.contains_key(n));
        all.then(|| {
            self.signature
                .inputs
                .keys()
                .filter_map(|n| Some((n.clone(), o.get(n)?.clone())))
                .collect()
        })
    }

    /// The signature's outputs when `v` is an object holding every one.
    pub fn outputs(&self, v: &Value) -> Option<Map<String, Value>> {
        let o = v.as_object()?;
        self.signature
            .outputs
            .keys()
            .all(|n| o.contains_key(n))
            .then(|| {
                self.signature
                    .outputs
                    .keys()
                    .map(|n| (n.clone(), o[n].clone()))
                    .collect()
            })
    }

    /// The inputs read back from a rendered user message, or why not.
    pub fn from_user(
        &self,
        user: Option<String>,
        looked: &str,
    ) -> Result<Map<String, Value>, String> {
        match user {
            Some(text) => crate::adapter::inputs_from_user(self.signature, &text)
                .map_err(|e| format!("no template variables, and {e}")),
            None => Err(format!(
                "no template variables and no user message to read the inputs from ({looked})"
            )),
        }
    }
}

/// A call as a promptc trace line.
pub fn line_of(call: Call, sig: &Signature) -> Result<Value, String> {
    let inputs = call.inputs?;
    if call.thread.is_empty() {
        return Err("no thread: no conversation or session id, and no trace id".into());
    }
    let failed = if call.error { "error" } else { "ok" };
    let (outputs, status) = match call.answer {
        Answer::Text(t) => match crate::adapter::parse_completion(sig, &t) {
            Ok(o) => (o, failed),
            Err(_) => (Map::new(), "unparsed"),
        },
        Answer::Fields(o) => (o, failed),
        Answer::Refused => (Map::new(), "refused"),
        Answer::ToolCall if call.error => (Map::new(), "error"),
        Answer::ToolCall => return Err("the model answered with a tool call, not text".into()),
        Answer::Missing(_) if call.error => (Map::new(), "error"),
        Answer::Missing(looked) => return Err(format!("no answer ({looked})")),
    };
    let mut line = json!({
        "signature": sig.name,
        "thread": call.thread,
        "inputs": inputs,
        "outputs": outputs,
        "status": status,
    });
    // Without a record id the trace parser derives one from the line.
    if !call.id.is_empty() {
        line["id"] = Value::String(call.id);
    }
    if let Some(ts) = call.ts {
        line["ts"] = Value::String(ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    if let Some(w) = call.workspace {
        line["workspace"] = Value::String(w);
    }
    if let Some(p) = call.pack {
        line["pack"] = Value::String(p);
    }
    if !call.feedback.is_empty() {
        line["feedback"] = Value::Object(call.feedback);
    }
    line["meta"] = Value::Object(call.meta);
    Ok(line)
}

/// A string value, or a number written as text (ids are either).
pub fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string that holds JSON (an object or array) as that JSON.
pub fn json_in(v: &Value) -> Value {
    match v {
        Value::String(s) if s.trim_start().starts_with(['{', '[']) => {
            serde_json::from_str(s).unwrap_or_else(|_| v.clone())
        }
        other => other.clone(),
    }
}

/// An RFC 3339 time, also without its zone (LangSmith writes UTC that way).
pub fn time_of(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}
