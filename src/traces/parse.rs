//! One trace line to one turn: field mapping, the clean-turn rules, and a
//! reason for every line that is not a usable trace.
//!
//! The line is parsed once, borrowing from its bytes: top-level keys that no
//! field pointer names are skipped without building values, and the inputs
//! object is only materialised when the caller needs the full turn. That keeps
//! `traces stats` fast on gigabytes of logs.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::FieldMap;
use crate::signature::Signature;
use crate::traces::record::{TraceId, Turn};

/// What a line turned out to be.
#[derive(Debug)]
pub enum LineKind<T> {
    /// A turn of the signature being read (clean or not).
    Turn(T),
    /// A valid trace of another signature; skipped.
    OtherSignature,
    /// Not a usable trace; the reason names what is wrong.
    Bad(String),
}

/// The cheap view of a turn that statistics need.
#[derive(Debug, Clone)]
pub struct TurnHead {
    /// The id, given or derived.
    pub id: TraceId,
    /// The thread.
    pub thread: String,
    /// The workspace, when logged.
    pub workspace: Option<String>,
    /// The call's time, when logged.
    pub ts: Option<DateTime<Utc>>,
    /// The persona input, when the config names one.
    pub persona: Option<String>,
    /// Status ok (or none) and every output present and valid.
    pub clean: bool,
}

const FIELD_COUNT: usize = 9;
const F_ID: usize = 0;
const F_SIGNATURE: usize = 1;
const F_THREAD: usize = 2;
const F_WORKSPACE: usize = 3;
const F_TS: usize = 4;
const F_INPUTS: usize = 6;
const F_OUTPUTS: usize = 7;
const F_STATUS: usize = 8;

/// The field map, compiled for fast lookup of each line's top-level keys.
#[derive(Debug, Clone)]
pub struct LineParser<'a> {
    signature: &'a Signature,
    persona_field: Option<&'a str>,
    /// Per field: the top-level key and the rest of the pointer (empty for a top-level field).
    fields: Vec<(String, String)>,
    pointers: Vec<String>,
    /// The distinct top-level keys to capture.
    top_keys: Vec<String>,
}

impl<'a> LineParser<'a> {
    /// Compiles `fields` for lines of `signature`.
    pub fn new(
        signature: &'a Signature,
        fields: &FieldMap,
        persona_field: Option<&'a str>,
    ) -> Self {
        let mut parsed = Vec::with_capacity(FIELD_COUNT);
        let mut pointers = Vec::with_capacity(FIELD_COUNT);
        let mut top_keys: Vec<String> = Vec::new();
        for (_, ptr) in fields.entries() {
            pointers.push(ptr.to_string());
            let rest = ptr.strip_prefix('/').unwrap_or(ptr);
            let (first, tail) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let first = unescape_pointer(first);
            if !first.is_empty() && !top_keys.contains(&first) {
                top_keys.push(first.clone());
            }
            parsed.push((first, tail.to_string()));
        }
        LineParser {
            signature,
            persona_field,
            fields: parsed,
            pointers,
            top_keys,
        }
    }

    /// Parses a line for statistics.
    pub fn head(&self, line: &[u8]) -> LineKind<TurnHead> {
        match self.parse(line, false) {
            Ok(Some((head, _))) => LineKind::Turn(head),
            Ok(None) => LineKind::OtherSignature,
            Err(reason) => LineKind::Bad(reason),
        }
    }

    /// Parses a line into a full turn (inputs and outputs materialised).
    pub fn turn(&self, line: &[u8]) -> LineKind<Turn> {
        match self.parse(line, true) {
            Ok(Some((head, Some((inputs, outputs))))) => LineKind::Turn(Turn {
                id: head.id,
                thread: head.thread,
                workspace: head.workspace,
                ts: head.ts,
                persona: head.persona,
                clean: head.clean,
                inputs,
                outputs,
            }),
            Ok(Some((_, None))) => LineKind::Bad("internal: full parse lost its body".into()),
            Ok(None) => LineKind::OtherSignature,
            Err(reason) => LineKind::Bad(reason),
        }
    }

    #[allow(clippy::type_complexity)]
    fn parse(
        &self,
        line: &[u8],
        full: bool,
    ) -> Result<Option<(TurnHead, Option<(Map<String, Value>, Map<String, Value>)>)>, String> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Err("blank line".into());
        }
        let text = std::str::from_utf8(line).map_err(|e| {
            format!(
                "not valid UTF-8 (bad byte at column {})",
                e.valid_up_to() + 1
            )
        })?;
        if let Some(c) = text.trim_start().chars().next()
            && c != '{'
        {
            return Err(match serde_json::from_str::<IgnoredAny>(text) {
                Ok(_) => "not a JSON object (a trace line is one object)".into(),
                Err(_) => format!(
                    "invalid JSON: a trace line is one JSON object, and this one starts with `{c}`"
                ),
            });
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let captured = TopLevel {
            keys: &self.top_keys,
        }
        .deserialize(&mut de)
        .and_then(|c| de.end().map(|_| c))
        .map_err(json_reason)?;

        let get = |field: usize| -> Result<Option<Cow<'_, RawValue>>, String> {
            let (top, rest) = &self.fields[field];
            let Some(idx) = self.top_keys.iter().position(|k| k == top) else {
                return Ok(None);
            };
            let Some(raw) = captured.slots[idx] else {
                return Ok(None);
            };
            if rest.is_empty() {
                return Ok(Some(Cow::Borrowed(raw)));
            }
            let v: Value = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
            match v.pointer(rest) {
                None | Some(Value::Null) => Ok(None),
                Some(inner) => Ok(Some(Cow::Owned(
                    serde_json::value::to_raw_value(inner).map_err(|e| e.to_string())?,
                ))),
            }
        };
        let field_name = |field: usize| &self.pointers[field];

        if let Some(raw) = get(F_SIGNATURE)? {
            let name = scalar_string(&raw).ok_or_else(|| {
                format!(
                    "field `signature` ({}) must be a string",
                    field_name(F_SIGNATURE)
                )
            })?;
            if name != self.signature.name {
                return Ok(None);
            }
        }
        let thread = match get(F_THREAD)? {
            None => return Err(format!("missing field `thread` ({})", field_name(F_THREAD))),
            Some(raw) => scalar_string(&raw)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    format!(
                        "field `thread` ({}) must be a non-empty string or number",
                        field_name(F_THREAD)
                    )
                })?
                .into_owned(),
        };
        let workspace = match get(F_WORKSPACE)? {
            None => None,
            Some(raw) => Some(
                scalar_string(&raw)
                    .ok_or_else(|| {
                        format!(
                            "field `workspace` ({}) must be a string",
                            field_name(F_WORKSPACE)
                        )
                    })?
                    .into_owned(),
            ),
        };
        let ts = match get(F_TS)? {
            None => None,
            Some(raw) => {
                let s: Cow<'_, str> = serde_json::from_str(raw.get()).map_err(|_| {
                    format!(
                        "field `ts` ({}) must be an RFC 3339 string",
                        field_name(F_TS)
                    )
                })?;
                Some(
                    DateTime::parse_from_rfc3339(&s)
                        .map_err(|_| format!("field `ts`: `{}` is not an RFC 3339 timestamp such as 2026-11-03T14:22:05Z", crate::signature::truncate_for_message(&s)))?
                        .with_timezone(&Utc),
                )
            }
        };
        let status_ok = match get(F_STATUS)? {
            None => true,
            Some(raw) => {
                let s = scalar_string(&raw).ok_or_else(|| {
                    format!("field `status` ({}) must be a string", field_name(F_STATUS))
                })?;
                s.eq_ignore_ascii_case("ok") || s.eq_ignore_ascii_case("success")
            }
        };

        let inputs_raw = get(F_INPUTS)?
            .ok_or_else(|| format!("missing field `inputs` ({})", field_name(F_INPUTS)))?;
        let scan = InputScan {
            names: self.signature.inputs.keys().map(|s| s.as_str()).collect(),
            persona: self.persona_field,
        };
        let mut de = serde_json::Deserializer::from_str(inputs_raw.get());
        let (present, persona) = scan.deserialize(&mut de).map_err(|e| {
            if e.is_data() {
                "field `inputs` must be a JSON object".to_string()
            } else {
                e.to_string()
            }
        })?;
        for (i, (name, spec)) in self.signature.inputs.iter().enumerate() {
            if i < 64 && !spec.optional && present & (1u64 << i) == 0 {
                return Err(format!("inputs: missing `{name}`"));
            }
        }

        let outputs_raw = get(F_OUTPUTS)?
            .ok_or_else(|| format!("missing field `outputs` ({})", field_name(F_OUTPUTS)))?;
        let outputs_map: std::collections::HashMap<Cow<'_, str>, &RawValue> =
            serde_json::from_str(outputs_raw.get())
                .map_err(|_| "field `outputs` must be a JSON object".to_string())?;
        let mut clean = status_ok;
        let mut outputs = Map::new();
        for (name, spec) in &self.signature.outputs {
            let Some(raw) = outputs_map.get(name.as_str()) else {
                if status_ok {
                    return Err(format!("outputs: missing `{name}`"));
                }
                clean = false;
                continue;
            };
            let value: Value = if spec.enum_values.is_some() {
                let s = scalar_string(raw).filter(|_| raw.get().starts_with('"'));
                match s.map(|s| self.signature.canonical_output(name, &s)) {
                    Some(Ok(canon)) => Value::String(canon),
                    Some(Err(reason)) if status_ok => return Err(format!("outputs: {reason}")),
                    None if status_ok => {
                        return Err(format!(
                            "outputs: `{name}` must be a string (it has an enum)"
                        ));
                    }
                    _ => {
                        clean = false;
                        continue;
                    }
                }
            } else if full {
                serde_json::from_str(raw.get()).map_err(|e| e.to_string())?
            } else {
                Value::Null
            };
            if full {
                outputs.insert(name.clone(), value);
            }
        }

        let id = match get(F_ID)? {
            Some(raw) => TraceId(
                scalar_string(&raw)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        format!(
                            "field `id` ({}) must be a non-empty string or number",
                            field_name(F_ID)
                        )
                    })?
                    .into_owned(),
            ),
            None => TraceId::of_line(text),
        };
        let head = TurnHead {
            id,
            thread,
            workspace,
            ts,
            persona,
            clean,
        };
        let body = if full {
            let inputs: Map<String, Value> =
                serde_json::from_str(inputs_raw.get()).map_err(|e| e.to_string())?;
            Some((inputs, outputs))
        } else {
            None
        };
        Ok(Some((head, body)))
    }
}

/// A string, or a number rendered as one (ids and threads are often numeric).
fn scalar_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let s = raw.get();
    if s.starts_with('"') {
        serde_json::from_str::<Cow<'_, str>>(s).ok()
    } else if s.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(Cow::Borrowed(s))
    } else {
        None
    }
}

fn json_reason(e: serde_json::Error) -> String {
    if e.is_data() {
        "not a JSON object (a trace line is one object)".into()
    } else if e.is_eof() {
        format!("invalid JSON: truncated (ends at column {})", e.column())
    } else {
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        format!("invalid JSON: {msg} at column {}", e.column())
    }
}

fn unescape_pointer(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

impl TraceId {
    /// The default id of a line that has none: sha256 of its canonical JSON
    /// (keys sorted, no insignificant whitespace), so reformatting a log keeps ids.
    pub fn of_line(text: &str) -> TraceId {
        let canonical = serde_json::from_str::<Value>(text)
            .and_then(|v| serde_json::to_vec(&v))
            .unwrap_or_else(|_| text.as_bytes().to_vec());
        TraceId(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(&canonical))
        ))
    }
}

/// Captures the raw values of the named top-level keys and skips the rest.
struct TopLevel<'k> {
    keys: &'k [String],
}

struct Captured<'de> {
    slots: [Option<&'de RawValue>; FIELD_COUNT],
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = Captured<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Captured<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a trace object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Captured {
            slots: [None; FIELD_COUNT],
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.keys.iter().position(|k| *k == *key) {
                Some(i) => {
                    let raw: &'de RawValue = map.next_value()?;
                    out.slots[i] = if raw.get() == "null" { None } else { Some(raw) };
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// Walks the inputs object noting which signature inputs are present and the persona.
struct InputScan<'a> {
    names: Vec<&'a str>,
    persona: Option<&'a str>,
}

impl<'de> DeserializeSeed<'de> for InputScan<'_> {
    type Value = (u64, Option<String>);
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for InputScan<'_> {
    type Value = (u64, Option<String>);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an inputs object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut present = 0u64;
        let mut persona = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if let Some(i) = self.names.iter().position(|n| *n == &*key)
                && i < 64
            {
                present |= 1 << i;
            }
            if self.persona == Some(&*key) {
                let v: Value = map.next_value()?;
                persona = match v {
                    Value::String(s) => Some(s),
                    Value::Null => None,
                    other => Some(other.to_string()),
                };
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok((present, persona))
    }
}
