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

use crate::signature::Signature;
use crate::traces::reader::Line;
use crate::traces::record::{TraceId, Turn};
use crate::traces::scan::{Fallback, Scan, Scanner};
use crate::traces::settings::FieldMap;

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
    /// The pack that served the call, when logged.
    pub pack: Option<String>,
    /// Status ok (or none) and every output present and valid.
    pub clean: bool,
}

/// The statistics view borrowed from the line: no allocation for the common
/// case of strings without escapes.
#[derive(Debug, Clone)]
pub struct HeadRef<'l> {
    /// The id, given or derived.
    pub id: Cow<'l, str>,
    /// The thread.
    pub thread: Cow<'l, str>,
    /// The workspace, when logged.
    pub workspace: Option<Cow<'l, str>>,
    /// The call's time, when logged.
    pub ts: Option<DateTime<Utc>>,
    /// The persona input, when the config names one.
    pub persona: Option<Cow<'l, str>>,
    /// The pack that served the call, when logged.
    pub pack: Option<Cow<'l, str>>,
    /// Status ok (or none) and every output present and valid.
    pub clean: bool,
}

impl HeadRef<'_> {
    /// The owned form.
    pub fn into_owned(self) -> TurnHead {
        TurnHead {
            id: TraceId(self.id.into_owned()),
            thread: self.thread.into_owned(),
            workspace: self.workspace.map(Cow::into_owned),
            ts: self.ts,
            persona: self.persona.map(Cow::into_owned),
            pack: self.pack.map(Cow::into_owned),
            clean: self.clean,
        }
    }
}

const FIELD_COUNT: usize = 10;
const F_ID: usize = 0;
const F_SIGNATURE: usize = 1;
const F_THREAD: usize = 2;
const F_WORKSPACE: usize = 3;
const F_TS: usize = 4;
const F_PACK: usize = 5;
const F_INPUTS: usize = 6;
const F_OUTPUTS: usize = 7;
const F_STATUS: usize = 8;
const F_FEEDBACK: usize = 9;

/// The field map, compiled for fast lookup of each line's top-level keys.
#[derive(Debug, Clone)]
pub struct LineParser<'a> {
    signature: &'a Signature,
    persona_field: Option<&'a str>,
    /// Per field: the top-level key and the rest of the pointer (empty for a top-level field).
    fields: Vec<(String, String)>,
    pointers: Vec<String>,
    /// The distinct top-level keys to capture as raw values.
    top_keys: Vec<String>,
    input_names: Vec<&'a str>,
    output_names: Vec<&'a str>,
    output_is_enum: Vec<bool>,
    /// Top-level key of inputs / outputs when it is visited inline during the
    /// one parse of the line (a top-level pointer no other field shares).
    inline_inputs: Option<String>,
    inline_outputs: Option<String>,
    /// The scanner's lookups: the top-level keys read, the signature's
    /// inputs, the persona field and the outputs.
    top_names: Names<TopKey>,
    /// Per field, the index of its top-level key in `top_keys`.
    field_slots: Vec<Option<usize>>,
    input_lookup: Names<usize>,
    persona_lookup: Names<()>,
    output_lookup: Names<usize>,
}

/// What a top-level key read by the scanner is.
#[derive(Debug, Clone, Copy)]
enum TopKey {
    Inputs,
    Outputs,
    Slot(usize),
}

/// A few names looked up by keys read from lines. A key's tag (its length
/// and its first and last eight bytes in two words) is compared with each
/// name's: for names of up to 16 bytes equal tags are equal names, so most
/// lookups read no byte twice and call no `memcmp` (key comparisons were
/// about a tenth of the statistics pass).
#[derive(Debug, Clone)]
struct Names<T> {
    entries: Vec<(Tag, String, T)>,
}

impl<T: Copy> Names<T> {
    fn new<'n>(names: impl IntoIterator<Item = (&'n str, T)>) -> Self {
        Names {
            entries: names
                .into_iter()
                .map(|(n, v)| (Tag::of(n), n.to_string(), v))
                .collect(),
        }
    }

    fn find(&self, tag: Tag, key: &str) -> Option<T> {
        self.entries
            .iter()
            .find(|(t, name, _)| *t == tag && (tag.len <= 16 || name == key))
            .map(|&(_, _, v)| v)
    }
}

/// A name's length and its first and last eight bytes (zero-padded when
/// shorter): the whole name when it is at most 16 bytes long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    len: usize,
    head: u64,
    tail: u64,
}

impl Tag {
    fn of(name: &str) -> Tag {
        let bytes = name.as_bytes();
        let word = |b: &[u8]| b.iter().rev().fold(0u64, |w, &x| (w << 8) | u64::from(x));
        let (head, tail) = match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
            (Some(h), Some(t)) => (u64::from_le_bytes(*h), u64::from_le_bytes(*t)),
            _ => (word(bytes), 0),
        };
        Tag {
            len: bytes.len(),
            head,
            tail,
        }
    }
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
            parsed.push((unescape_pointer(first), tail.to_string()));
        }
        // A body field is visited inline when its pointer is one top-level key
        // that no other field reads; otherwise its raw text is captured and
        // visited afterwards (custom layouts such as /request/inputs).
        let inline = |field: usize| -> Option<String> {
            let (top, rest) = &parsed[field];
            let shared = parsed
                .iter()
                .enumerate()
                .any(|(i, (t, _))| i != field && t == top);
            (rest.is_empty() && !top.is_empty() && !shared).then(|| top.clone())
        };
        let inline_inputs = inline(F_INPUTS);
        let inline_outputs = inline(F_OUTPUTS);
        for (top, _) in &parsed {
            let is_inline =
                Some(top) == inline_inputs.as_ref() || Some(top) == inline_outputs.as_ref();
            if !top.is_empty() && !is_inline && !top_keys.contains(top) {
                top_keys.push(top.clone());
            }
        }
        let top_names = Names::new(
            inline_inputs
                .as_deref()
                .map(|k| (k, TopKey::Inputs))
                .into_iter()
                .chain(inline_outputs.as_deref().map(|k| (k, TopKey::Outputs)))
                .chain(
                    top_keys
                        .iter()
                        .enumerate()
                        .map(|(i, k)| (k.as_str(), TopKey::Slot(i))),
                ),
        );
        let input_names: Vec<&str> = signature.inputs.keys().map(|s| s.as_str()).collect();
        let output_names: Vec<&str> = signature.outputs.keys().map(|s| s.as_str()).collect();
        let field_slots = parsed
            .iter()
            .map(|(top, _)| top_keys.iter().position(|k| k == top))
            .collect();
        LineParser {
            top_names,
            field_slots,
            input_lookup: Names::new(input_names.iter().copied().zip(0..)),
            persona_lookup: Names::new(persona_field.map(|p| (p, ()))),
            output_lookup: Names::new(output_names.iter().copied().zip(0..)),
            signature,
            persona_field,
            fields: parsed,
            pointers,
            top_keys,
            input_names,
            output_names,
            output_is_enum: signature
                .outputs
                .values()
                .map(|o| o.enum_values.is_some())
                .collect(),
            inline_inputs,
            inline_outputs,
        }
    }

    /// Parses a line for statistics.
    pub fn head(&self, line: &[u8]) -> LineKind<TurnHead> {
        match self.head_ref(line) {
            LineKind::Turn(h) => LineKind::Turn(h.into_owned()),
            LineKind::OtherSignature => LineKind::OtherSignature,
            LineKind::Bad(r) => LineKind::Bad(r),
        }
    }

    /// Parses a line for statistics, borrowing strings from it.
    pub fn head_ref<'l>(&self, line: &'l [u8]) -> LineKind<HeadRef<'l>> {
        self.head_ref_line(Line {
            bytes: line,
            control_free: false,
        })
    }

    /// [`Self::head_ref`] over a line the reader found no control byte in
    /// when it says so.
    pub fn head_ref_line<'l>(&self, line: Line<'l>) -> LineKind<HeadRef<'l>> {
        match self.parse_with(line.bytes, false, true, line.control_free) {
            Ok(Some((head, _))) => LineKind::Turn(head),
            Ok(None) => LineKind::OtherSignature,
            Err(reason) => LineKind::Bad(reason),
        }
    }

    /// Parses a line into a full turn (inputs and outputs materialised).
    pub fn turn(&self, line: &[u8]) -> LineKind<Turn> {
        match self.parse(line, true) {
            Ok(Some((head, Some((inputs, outputs, feedback))))) => LineKind::Turn(Turn {
                id: TraceId(head.id.into_owned()),
                thread: head.thread.into_owned(),
                workspace: head.workspace.map(Cow::into_owned),
                ts: head.ts,
                persona: head.persona.map(Cow::into_owned),
                pack: head.pack.map(Cow::into_owned),
                clean: head.clean,
                inputs,
                outputs,
                feedback,
            }),
            Ok(Some((_, None))) => LineKind::Bad("internal: full parse lost its body".into()),
            Ok(None) => LineKind::OtherSignature,
            Err(reason) => LineKind::Bad(reason),
        }
    }

    /// Whether a line is of this signature (a line that names none is).
    fn is_ours<'l>(
        &self,
        get: &impl Fn(usize) -> Result<Option<Cow<'l, str>>, String>,
    ) -> Result<bool, String> {
        let Some(raw) = get(F_SIGNATURE)? else {
            return Ok(true);
        };
        let name = scalar_string(&raw).ok_or_else(|| {
            format!(
                "field `signature` ({}) must be a string",
                self.pointers[F_SIGNATURE]
            )
        })?;
        Ok(name == self.signature.name)
    }

    /// A logged id.
    fn id<'l>(&self, raw: Cow<'l, str>) -> Result<Cow<'l, str>, String> {
        cow_scalar(raw).filter(|s| !s.is_empty()).ok_or_else(|| {
            format!(
                "field `id` ({}) must be a non-empty string or number",
                self.pointers[F_ID]
            )
        })
    }

    /// The persona and (full mode) the values of a line's inputs object, or
    /// why it does not hold the signature's inputs.
    #[allow(clippy::type_complexity)]
    fn inputs_object<'l>(
        &self,
        inputs: InputSummary<'l>,
    ) -> Result<(Option<Cow<'l, str>>, Option<Map<String, Value>>), String> {
        let InputSummary::Object {
            present,
            persona,
            map,
        } = inputs
        else {
            return Err(self.not_an_object(
                "inputs",
                F_INPUTS,
                matches!(inputs, InputSummary::Absent),
            ));
        };
        for (i, (name, spec)) in self.signature.inputs.iter().enumerate() {
            if i < 64 && !spec.optional && present & (1u64 << i) == 0 {
                return Err(format!("inputs: missing `{name}`"));
            }
        }
        Ok((persona, map))
    }

    /// Why `inputs` or `outputs` is unusable: absent, or not an object.
    fn not_an_object(&self, what: &str, field: usize, absent: bool) -> String {
        if absent {
            format!("missing field `{what}` ({})", self.pointers[field])
        } else {
            format!("field `{what}` must be a JSON object")
        }
    }

    /// The thread, workspace, time and status of a line.
    fn scalars<'l>(
        &self,
        get: &impl Fn(usize) -> Result<Option<Cow<'l, str>>, String>,
    ) -> Result<Scalars<'l>, String> {
        let field_name = |field: usize| &self.pointers[field];
        let thread = match get(F_THREAD)? {
            None => return Err(format!("missing field `thread` ({})", field_name(F_THREAD))),
            Some(raw) => cow_scalar(raw).filter(|s| !s.is_empty()).ok_or_else(|| {
                format!(
                    "field `thread` ({}) must be a non-empty string or number",
                    field_name(F_THREAD)
                )
            })?,
        };
        let workspace = match get(F_WORKSPACE)? {
            None => None,
            Some(raw) => Some(cow_scalar(raw).ok_or_else(|| {
                format!(
                    "field `workspace` ({}) must be a string",
                    field_name(F_WORKSPACE)
                )
            })?),
        };
        let ts = match get(F_TS)? {
            None => None,
            Some(raw) => {
                let s: Cow<'_, str> = json_str(&raw).ok_or_else(|| {
                    format!(
                        "field `ts` ({}) must be an RFC 3339 string",
                        field_name(F_TS)
                    )
                })?;
                Some(
                    DateTime::parse_from_rfc3339(&s)
                        .map_err(|_| format!("field `ts`: `{}` is not an RFC 3339 timestamp such as 2026-11-03T14:22:05Z", crate::text::truncate_for_message(&s)))?
                        .with_timezone(&Utc),
                )
            }
        };
        let pack = match get(F_PACK)? {
            None => None,
            Some(raw) => Some(cow_scalar(raw).ok_or_else(|| {
                format!(
                    "field `pack` ({}) must be a string (the pack id)",
                    field_name(F_PACK)
                )
            })?),
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
        Ok(Scalars {
            thread,
            workspace,
            ts,
            pack,
            status_ok,
        })
    }

    /// The signature's outputs of a line: enum values canonicalised; whether
    /// the turn is clean (an error status or a bad value makes it not clean;
    /// with an ok status a bad value is an error); the values in full mode.
    fn clean_outputs(
        &self,
        values: Vec<Option<Value>>,
        status_ok: bool,
        full: bool,
    ) -> Result<(bool, Map<String, Value>), String> {
        let mut clean = status_ok;
        let mut output_map = Map::new();
        for ((name, spec), value) in self.signature.outputs.iter().zip(values) {
            let Some(value) = value else {
                if status_ok {
                    return Err(format!("outputs: missing `{name}`"));
                }
                clean = false;
                continue;
            };
            let value = if spec.enum_values.is_some() {
                match value {
                    Value::String(s) => match Signature::canonical_value(name, spec, &s) {
                        // Statistics only need to know the value is clean.
                        Ok(_) if !full => Value::Null,
                        Ok(canon) => Value::String(canon.to_string()),
                        Err(reason) if status_ok => return Err(format!("outputs: {reason}")),
                        Err(_) => {
                            clean = false;
                            continue;
                        }
                    },
                    _ if status_ok => {
                        return Err(format!(
                            "outputs: `{name}` must be a string (it has an enum)"
                        ));
                    }
                    _ => {
                        clean = false;
                        continue;
                    }
                }
            } else {
                value
            };
            if full {
                output_map.insert(name.clone(), value);
            }
        }
        Ok((clean, output_map))
    }

    fn parse<'l>(&self, line: &'l [u8], full: bool) -> Parsed<'l> {
        // The scanner reads what statistics need; a full turn builds values.
        self.parse_with(line, full, !full, false)
    }

    /// [`Self::parse`], with the scanner's fast path tried first when `fast`;
    /// `control_free`: the reader found no byte below 0x20 in the line.
    fn parse_with<'l>(
        &self,
        line: &'l [u8],
        full: bool,
        fast: bool,
        control_free: bool,
    ) -> Parsed<'l> {
        let text = decode(line)?;
        let input_seed = InputSeed {
            names: &self.input_names,
            persona: self.persona_field,
            full,
        };
        let output_seed = OutputSeed {
            names: &self.output_names,
            is_enum: &self.output_is_enum,
            full,
        };
        let scanned = if fast {
            self.capture_fast(text, control_free)
        } else {
            Err(Fallback)
        };
        let captured = match scanned {
            Ok(captured) => captured,
            Err(Fallback) => self.capture(text, &input_seed, &output_seed)?,
        };
        self.assemble(text, captured, &input_seed, &output_seed, full)
    }

    /// The serde_json pass over a line: the named top-level values, and the
    /// inline inputs and outputs visited.
    fn capture<'l>(
        &self,
        text: &'l str,
        input_seed: &InputSeed<'_>,
        output_seed: &OutputSeed<'_>,
    ) -> Result<Captured<'l>, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        TopLevel {
            keys: &self.top_keys,
            inputs: self.inline_inputs.as_deref().map(|k| (k, input_seed)),
            outputs: self.inline_outputs.as_deref().map(|k| (k, output_seed)),
        }
        .deserialize(&mut de)
        .and_then(|c| de.end().map(|_| c))
        .map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                // serde_json places an error differently when it skips a value than when
                // it builds one; one canonical pass gives every view the same reason.
                json_reason(serde_json::from_str::<IgnoredAny>(text).err().unwrap_or(e))
            } else {
                json_reason(e)
            }
        })
    }

    /// The statistics pass's fast path over a line (see [`super::scan`]):
    /// exactly what [`Self::capture`] gives, or [`Fallback`] for any line the
    /// scanner cannot vouch for (serde_json then parses it and says why it
    /// is bad). Statistics read a few short fields; the rest is only checked.
    fn capture_fast<'l>(&self, text: &'l str, control_free: bool) -> Scan<Captured<'l>> {
        let mut s = if control_free {
            Scanner::control_free(text)
        } else {
            Scanner::new(text)?
        };
        s.begin_object()?;
        let mut out = Captured {
            slots: [None; FIELD_COUNT],
            inputs: self.inline_inputs.as_ref().map(|_| InputSummary::Absent),
            outputs: self.inline_outputs.as_ref().map(|_| OutputSummary::Absent),
        };
        let mut first = true;
        while let Some(key) = s.next_key(first)? {
            first = false;
            match self.top_names.find(Tag::of(key), key) {
                Some(TopKey::Inputs) => out.inputs = Some(self.inputs_fast(&mut s)?),
                Some(TopKey::Outputs) => out.outputs = Some(self.outputs_fast(&mut s)?),
                Some(TopKey::Slot(i)) => {
                    let value = s.value()?;
                    out.slots[i] = (value != "null").then_some(value);
                }
                None => s.skip_value()?,
            }
        }
        s.finish()?;
        Ok(out)
    }

    /// [`InputSeed`]'s summary in statistics mode, from the scanner.
    fn inputs_fast<'l>(&self, s: &mut Scanner<'l>) -> Scan<InputSummary<'l>> {
        if s.peek() != Some(b'{') {
            // null is absent; another type is left to serde_json, which also
            // checks a number's range where the scanner does not.
            return match s.value()? {
                "null" => Ok(InputSummary::Absent),
                _ => Err(Fallback),
            };
        }
        s.begin_object()?;
        let (mut present, mut persona, mut first) = (0u64, None, true);
        while let Some(key) = s.next_key(first)? {
            first = false;
            let tag = Tag::of(key);
            if let Some(i) = self.input_lookup.find(tag, key)
                && i < 64
            {
                present |= 1 << i;
            }
            if self.persona_lookup.find(tag, key).is_some() {
                persona = persona_of(s.value()?);
            } else {
                s.skip_value()?;
            }
        }
        Ok(InputSummary::Object {
            present,
            persona,
            map: None,
        })
    }

    /// [`OutputSeed`]'s summary in statistics mode, from the scanner.
    fn outputs_fast(&self, s: &mut Scanner<'_>) -> Scan<OutputSummary> {
        if s.peek() != Some(b'{') {
            return match s.value()? {
                "null" => Ok(OutputSummary::Absent),
                _ => Err(Fallback),
            };
        }
        s.begin_object()?;
        let mut values: Vec<Option<Value>> = vec![None; self.output_names.len()];
        let mut first = true;
        while let Some(key) = s.next_key(first)? {
            first = false;
            let Some(i) = self.output_lookup.find(Tag::of(key), key) else {
                s.skip_value()?;
                continue;
            };
            if !self.output_is_enum[i] {
                s.skip_value()?;
                values[i] = Some(Value::Null);
                continue;
            }
            let value = s.value()?;
            values[i] = Some(if let Some(text) = json_str(value) {
                Value::String(text.into_owned())
            } else {
                serde_json::from_str(value).map_err(|_| Fallback)?
            });
        }
        Ok(OutputSummary::Object(values))
    }

    /// The turn (and in full mode its body) from a line's captured values.
    fn assemble<'l>(
        &self,
        text: &'l str,
        captured: Captured<'l>,
        input_seed: &InputSeed<'_>,
        output_seed: &OutputSeed<'_>,
        full: bool,
    ) -> Parsed<'l> {
        let get = |field: usize| -> Result<Option<Cow<'l, str>>, String> {
            let (_, rest) = &self.fields[field];
            let Some(idx) = self.field_slots[field] else {
                return Ok(None);
            };
            let Some(raw) = captured.slots[idx] else {
                return Ok(None);
            };
            if rest.is_empty() {
                return Ok(Some(Cow::Borrowed(raw)));
            }
            let v: Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
            match v.pointer(rest) {
                None | Some(Value::Null) => Ok(None),
                Some(inner) => Ok(Some(Cow::Owned(inner.to_string()))),
            }
        };
        let field_name = |field: usize| &self.pointers[field];

        if !self.is_ours(&get)? {
            return Ok(None);
        }
        let Scalars {
            thread,
            workspace,
            ts,
            pack,
            status_ok,
        } = self.scalars(&get)?;

        let inputs = match captured.inputs {
            Some(summary) => summary,
            None => {
                let raw = get(F_INPUTS)?
                    .ok_or_else(|| format!("missing field `inputs` ({})", field_name(F_INPUTS)))?;
                let mut de = serde_json::Deserializer::from_str(&raw);
                input_seed
                    .deserialize(&mut de)
                    .map_err(|e| e.to_string())?
                    .into_owned()
            }
        };
        let (persona, input_map) = self.inputs_object(inputs)?;

        let outputs = match captured.outputs {
            Some(summary) => summary,
            None => {
                let raw = get(F_OUTPUTS)?.ok_or_else(|| {
                    format!("missing field `outputs` ({})", field_name(F_OUTPUTS))
                })?;
                let mut de = serde_json::Deserializer::from_str(&raw);
                output_seed
                    .deserialize(&mut de)
                    .map_err(|e| e.to_string())?
            }
        };
        let OutputSummary::Object(values) = outputs else {
            return Err(self.not_an_object(
                "outputs",
                F_OUTPUTS,
                matches!(outputs, OutputSummary::Absent),
            ));
        };
        let (clean, output_map) = self.clean_outputs(values, status_ok, full)?;

        let id = match get(F_ID)? {
            Some(raw) => self.id(raw)?,
            None => Cow::Owned(TraceId::of_line(text).0),
        };
        let head = HeadRef {
            id,
            thread,
            workspace,
            ts,
            persona,
            pack,
            clean,
        };
        let body = if full {
            let feedback = match get(F_FEEDBACK)? {
                None => Map::new(),
                Some(raw) => match serde_json::from_str::<Value>(&raw) {
                    Ok(Value::Object(o)) => o,
                    _ => {
                        return Err(format!(
                            "`feedback` ({}) must be an object of named ratings",
                            field_name(F_FEEDBACK)
                        ));
                    }
                },
            };
            Some((input_map.unwrap_or_default(), output_map, feedback))
        } else {
            None
        };
        Ok(Some((head, body)))
    }
}

/// A parsed line: the head, and in full mode the inputs, outputs and
/// feedback; `None` for another signature's line; or why the line is bad.
#[allow(clippy::type_complexity)]
type Parsed<'l> = Result<
    Option<(
        HeadRef<'l>,
        Option<(Map<String, Value>, Map<String, Value>, Map<String, Value>)>,
    )>,
    String,
>;

/// The scalar fields of a line.
struct Scalars<'l> {
    thread: Cow<'l, str>,
    workspace: Option<Cow<'l, str>>,
    ts: Option<DateTime<Utc>>,
    pack: Option<Cow<'l, str>>,
    status_ok: bool,
}

/// The line as text, or why it cannot be a trace line (blank, not UTF-8,
/// not starting like a JSON object).
fn decode(line: &[u8]) -> Result<&str, String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("blank line".into());
    }
    // The SIMD check first (most lines are valid, and std's check costs a
    // tenth of a line's parse); std's only to say where a bad line breaks.
    let text = match simdutf8::basic::from_utf8(line) {
        Ok(text) => Ok(text),
        Err(_) => std::str::from_utf8(line),
    }
    .map_err(|e| {
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
    Ok(text)
}

/// [`scalar_string`] keeping the borrow when the JSON text is borrowed.
fn cow_scalar(raw: Cow<'_, str>) -> Option<Cow<'_, str>> {
    match raw {
        Cow::Borrowed(r) => scalar_string(r),
        Cow::Owned(b) => scalar_string(&b).map(|c| Cow::Owned(c.into_owned())),
    }
}

/// A JSON string's value from its JSON text, borrowed when it has no
/// escapes (the common case: serde's own `Cow<str>` would allocate every time).
fn json_str(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    // core's search, not `memchr`'s: these are ids, timestamps and enum
    // values of a few dozen bytes, and `memchr`'s dispatch cost more than
    // the search (a twentieth of the statistics pass's instructions).
    if !inner.as_bytes().contains(&b'\\') {
        Some(Cow::Borrowed(inner))
    } else {
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    }
}

/// A string, or a number rendered as one (ids and threads are often numeric).
fn scalar_string(raw: &str) -> Option<Cow<'_, str>> {
    if raw.starts_with('"') {
        json_str(raw)
    } else if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(Cow::Borrowed(raw))
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

/// Captures the raw values of the named top-level keys, visits the inputs and
/// outputs objects inline, and skips everything else without building it.
struct TopLevel<'k, 's> {
    keys: &'k [String],
    inputs: Option<(&'k str, &'s InputSeed<'s>)>,
    outputs: Option<(&'k str, &'s OutputSeed<'s>)>,
}

struct Captured<'de> {
    /// Per captured key, its value's JSON text (null is absent).
    slots: [Option<&'de str>; FIELD_COUNT],
    inputs: Option<InputSummary<'de>>,
    outputs: Option<OutputSummary>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_, '_> {
    type Value = Captured<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_, '_> {
    type Value = Captured<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a trace object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Captured {
            slots: [None; FIELD_COUNT],
            // Absent until seen; an inline body field that never appears is "missing".
            inputs: self.inputs.map(|_| InputSummary::Absent),
            outputs: self.outputs.map(|_| OutputSummary::Absent),
        };
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if let Some((k, seed)) = self.inputs
                && k == key
            {
                out.inputs = Some(map.next_value_seed(seed)?);
            } else if let Some((k, seed)) = self.outputs
                && k == key
            {
                out.outputs = Some(map.next_value_seed(seed)?);
            } else if let Some(i) = self.keys.iter().position(|k| *k == *key) {
                let raw: &'de RawValue = map.next_value()?;
                out.slots[i] = if raw.get() == "null" {
                    None
                } else {
                    Some(raw.get())
                };
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// An object key, borrowed from the line unless it has escapes. (serde's own
/// `Cow<str>` always allocates, which on a hot path costs a third of the time.)
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// What the inputs field held.
enum InputSummary<'de> {
    /// Not in the line (or null).
    Absent,
    /// Something other than an object.
    NotObject,
    /// An object: which signature inputs it has, the persona, and (full mode) the values.
    Object {
        present: u64,
        persona: Option<Cow<'de, str>>,
        map: Option<Map<String, Value>>,
    },
}

impl InputSummary<'_> {
    fn into_owned(self) -> InputSummary<'static> {
        match self {
            InputSummary::Absent => InputSummary::Absent,
            InputSummary::NotObject => InputSummary::NotObject,
            InputSummary::Object {
                present,
                persona,
                map,
            } => InputSummary::Object {
                present,
                persona: persona.map(|p| Cow::Owned(p.into_owned())),
                map,
            },
        }
    }
}

/// What the outputs field held.
enum OutputSummary {
    /// Not in the line (or null).
    Absent,
    /// Something other than an object.
    NotObject,
    /// Per signature output, in order: its value if present (non-enum values
    /// are `Null` stand-ins unless in full mode).
    Object(Vec<Option<Value>>),
}

/// Consumes any non-object value, so a wrong-typed field is an answer, not a parse error.
macro_rules! not_object_visits {
    ($out:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($out)
        }
    };
}

/// Visits the inputs object once: presence of each signature input, the persona,
/// and in full mode the values themselves.
struct InputSeed<'a> {
    names: &'a [&'a str],
    persona: Option<&'a str>,
    full: bool,
}

impl<'de> DeserializeSeed<'de> for &InputSeed<'_> {
    type Value = InputSummary<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &InputSeed<'_> {
    type Value = InputSummary<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an inputs object")
    }
    not_object_visits!(InputSummary::NotObject);
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(InputSummary::Absent)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut present = 0u64;
        let mut persona = None;
        let mut values = self.full.then(Map::new);
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if let Some(i) = self.names.iter().position(|n| *n == &*key)
                && i < 64
            {
                present |= 1 << i;
            }
            let is_persona = self.persona == Some(&*key);
            if is_persona && values.is_none() {
                let raw: &'de RawValue = map.next_value()?;
                persona = persona_of(raw.get());
            } else if is_persona || values.is_some() {
                let v: Value = map.next_value()?;
                if is_persona {
                    persona = match &v {
                        Value::String(s) => Some(Cow::Owned(s.clone())),
                        Value::Null => None,
                        other => Some(Cow::Owned(other.to_string())),
                    };
                }
                if let Some(values) = values.as_mut() {
                    values.insert(key.into_owned(), v);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(InputSummary::Object {
            present,
            persona,
            map: values,
        })
    }
}

/// The persona from its value's JSON text: a string's value, nothing for
/// null, any other value's JSON text (compact).
fn persona_of(raw: &str) -> Option<Cow<'_, str>> {
    match json_str(raw) {
        Some(s) => Some(s),
        None if raw == "null" => None,
        None => serde_json::from_str::<Value>(raw)
            .ok()
            .map(|v| Cow::Owned(v.to_string())),
    }
}

/// Visits the outputs object once, keeping the signature's output values.
struct OutputSeed<'a> {
    names: &'a [&'a str],
    is_enum: &'a [bool],
    full: bool,
}

impl<'de> DeserializeSeed<'de> for &OutputSeed<'_> {
    type Value = OutputSummary;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &OutputSeed<'_> {
    type Value = OutputSummary;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an outputs object")
    }
    not_object_visits!(OutputSummary::NotObject);
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(OutputSummary::Absent)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values: Vec<Option<Value>> = vec![None; self.names.len()];
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match self.names.iter().position(|n| *n == &*key) {
                Some(i) if self.full || self.is_enum[i] => values[i] = Some(map.next_value()?),
                Some(i) => {
                    map.next_value::<IgnoredAny>()?;
                    values[i] = Some(Value::Null);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(OutputSummary::Object(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::settings::FieldMap;

    fn example() -> (Signature, Vec<String>) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gossip");
        let sig = Signature::load(&root.join("signature.yaml")).unwrap();
        let text = std::fs::read_to_string(root.join("traces/2026-09.jsonl")).unwrap();
        (sig, text.lines().map(str::to_string).collect())
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn names_are_found_by_tag_and_long_names_compared_in_full() {
        let names = [
            "a",
            "ab",
            "persona",
            "personb",
            "turn_idx",
            "turn_idy",
            "sixteen_bytes_ab",
            "sixteen_bytes_ac",
            "long_name_one_X_end",
            "long_name_one_Y_end",
        ];
        let lookup = Names::new(names.iter().copied().zip(0..));
        for (i, name) in names.iter().enumerate() {
            assert_eq!(lookup.find(Tag::of(name), name), Some(i), "{name}");
        }
        for other in [
            "",
            "b",
            "persona_",
            "turn_id",
            "long_name_one_Z_end",
            "sixteen_bytes_ad",
        ] {
            assert_eq!(lookup.find(Tag::of(other), other), None, "{other}");
        }
    }

    /// The scanner is what statistics use: on the example's lines it must not
    /// fall back, or `traces stats` would be as slow as before.
    #[test]
    fn the_scanner_reads_every_example_line_itself() {
        let (sig, lines) = example();
        let parser = LineParser::new(&sig, &FieldMap::default(), Some("persona"));
        for line in &lines {
            let text = decode(line.as_bytes()).unwrap();
            assert!(
                parser.capture_fast(text, false).is_ok(),
                "fell back on {line}"
            );
        }
    }

    /// The scanner's head and serde_json's agree on every mutated line: the
    /// same turn, the same other-signature answer, the same reason for a bad
    /// line. The mutations use JSON's own punctuation, so most stay close to
    /// valid and reach deep into the scanner.
    #[test]
    fn the_scanner_and_serde_json_give_the_same_head_on_mutated_lines() {
        let (sig, lines) = example();
        let parser = LineParser::new(&sig, &FieldMap::default(), Some("persona"));
        let alphabet = b"{}[]\",:\\ \t0123456789-+.eEunlltrfas/\x01";
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let (mut fast_turns, mut bad) = (0, 0);
        for i in 0..6000 {
            let mut line = lines[i % lines.len()].clone().into_bytes();
            for _ in 0..1 + xorshift(&mut state) % 3 {
                let pos = (xorshift(&mut state) as usize) % line.len().max(1);
                let byte = alphabet[(xorshift(&mut state) % alphabet.len() as u64) as usize];
                match xorshift(&mut state) % 3 {
                    0 => line[pos] = byte,
                    1 => line.insert(pos, byte),
                    _ => {
                        line.remove(pos);
                    }
                }
            }
            let fast = format!("{:?}", parser.parse_with(&line, false, true, false));
            let slow = format!("{:?}", parser.parse_with(&line, false, false, false));
            assert_eq!(fast, slow, "on {}", String::from_utf8_lossy(&line));
            let scanned = decode(&line).is_ok_and(|t| parser.capture_fast(t, false).is_ok());
            fast_turns += usize::from(scanned && fast.starts_with("Ok(Some"));
            bad += usize::from(fast.starts_with("Err"));
        }
        assert!(
            fast_turns > 1000 && bad > 1000,
            "{fast_turns} scanned turns, {bad} bad"
        );
    }
}
