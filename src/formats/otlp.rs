//! The OTLP/JSON encoding: export requests (`resourceSpans[].scopeSpans[].spans[]`),
//! attribute lists of typed `AnyValue`s, times in nanoseconds, span events.
//! Shared by the OpenTelemetry GenAI and OpenInference readers.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// One span with its attributes (and its resource's) as plain JSON objects.
pub struct Span<'a> {
    /// The span as written.
    pub raw: &'a Value,
    /// Its attributes.
    pub attrs: Map<String, Value>,
    /// Its resource's attributes (shared by the resource's spans).
    pub resource: std::rc::Rc<Map<String, Value>>,
}

impl Span<'_> {
    /// An attribute of the span, else of its resource.
    pub fn attr(&self, k: &str) -> Option<&Value> {
        self.attrs.get(k).or_else(|| self.resource.get(k))
    }

    /// A string attribute of the span or its resource.
    pub fn text(&self, k: &str) -> Option<String> {
        super::text_of(self.attr(k))
    }

    /// The span failed: status `STATUS_CODE_ERROR` (or 2), or an `error.type` attribute.
    pub fn failed(&self) -> bool {
        let code = &self.raw["status"]["code"];
        code.as_str() == Some("STATUS_CODE_ERROR")
            || code.as_i64() == Some(2)
            || self.attrs.contains_key("error.type")
    }

    /// The span's start time.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        nanos_time(&self.raw["startTimeUnixNano"])
    }

    /// The span's id, and its trace id for `meta`.
    pub fn ids(&self) -> (String, Option<String>) {
        (
            self.raw["spanId"].as_str().unwrap_or("").to_string(),
            self.raw["traceId"].as_str().map(str::to_string),
        )
    }

    /// The span's events named `name`, each with its attributes.
    pub fn events(&self, name: &str) -> Vec<Map<String, Value>> {
        self.raw["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["name"].as_str() == Some(name))
            .map(|e| attributes(&e["attributes"]))
            .collect()
    }
}

/// Every span of an export request, in order; the error: it is not one.
///
/// The attribute lists are taken out of the request (moved, not copied:
/// they hold most of an export's bytes, the prompts and answers); the rest
/// of each span is read in place through `raw`.
pub fn spans(req: &mut Value) -> Result<Vec<Span<'_>>, String> {
    let resource_spans = req
        .get_mut("resourceSpans")
        .and_then(Value::as_array_mut)
        .ok_or("not an OTLP/JSON request: no `resourceSpans` array")?;
    // First the attributes, in the order the spans are read below.
    // (`get_mut`, never `value[key]` on a mutable value: that panics on a
    // value that is not an object, and the request is outside input.)
    let mut taken = Vec::new();
    for rs in resource_spans.iter_mut() {
        let resource = rs
            .get_mut("resource")
            .and_then(|r| r.get_mut("attributes"))
            .map(take_attributes)
            .unwrap_or_default();
        let resource = std::rc::Rc::new(resource);
        let scopes = rs.get_mut("scopeSpans").and_then(Value::as_array_mut);
        for ss in scopes.into_iter().flatten() {
            let spans = ss.get_mut("spans").and_then(Value::as_array_mut);
            for span in spans.into_iter().flatten() {
                let attrs = span.get_mut("attributes").map(take_attributes);
                taken.push((resource.clone(), attrs.unwrap_or_default()));
            }
        }
    }
    let mut taken = taken.into_iter();
    let mut out = Vec::new();
    for rs in resource_spans.iter() {
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for span in ss["spans"].as_array().into_iter().flatten() {
                let Some((resource, attrs)) = taken.next() else {
                    break;
                };
                out.push(Span {
                    raw: span,
                    attrs,
                    resource,
                });
            }
        }
    }
    Ok(out)
}

/// An OTLP attribute list as a JSON object.
pub fn attributes(list: &Value) -> Map<String, Value> {
    take_attributes(&mut list.clone())
}

/// An OTLP attribute list as a JSON object, its values moved out of `list`
/// (left null).
fn take_attributes(list: &mut Value) -> Map<String, Value> {
    let Value::Array(items) = std::mem::take(list) else {
        return Map::new();
    };
    items
        .into_iter()
        .filter_map(|kv| {
            let Value::Object(mut kv) = kv else {
                return None;
            };
            let Some(Value::String(key)) = kv.remove("key") else {
                return None;
            };
            Some((key, owned_any_value(kv.remove("value").unwrap_or_default())))
        })
        .collect()
}

/// An OTLP `AnyValue` as plain JSON, taken apart instead of copied.
fn owned_any_value(v: Value) -> Value {
    let Value::Object(mut v) = v else {
        return Value::Null;
    };
    if let Some(s) = v.remove("stringValue") {
        return s;
    }
    if let Some(i) = v.remove("intValue") {
        // int64 is a string in protobuf's JSON mapping; a number is accepted too.
        return match i {
            Value::String(s) => s.parse::<i64>().map_or(Value::String(s), Value::from),
            other => other,
        };
    }
    for k in ["doubleValue", "boolValue", "bytesValue"] {
        if let Some(x) = v.remove(k) {
            return x;
        }
    }
    if let Some(mut a) = v.remove("arrayValue") {
        return match a.get_mut("values").map(std::mem::take) {
            Some(Value::Array(values)) => {
                Value::Array(values.into_iter().map(owned_any_value).collect())
            }
            _ => Value::Array(Vec::new()),
        };
    }
    if let Some(mut kv) = v.remove("kvlistValue") {
        return match kv.get_mut("values") {
            Some(values) => Value::Object(take_attributes(values)),
            None => Value::Object(Map::new()),
        };
    }
    Value::Null
}

/// Flattened list attributes (`prefix.0.rest`, `prefix.1.rest`) as a list of
/// objects keyed by `rest`, in index order.
pub fn indexed(attrs: &Map<String, Value>, prefix: &str) -> Vec<Map<String, Value>> {
    let mut items: std::collections::BTreeMap<usize, Map<String, Value>> = Default::default();
    for (k, v) in attrs {
        let Some(tail) = k.strip_prefix(prefix).and_then(|t| t.strip_prefix('.')) else {
            continue;
        };
        let (index, rest) = tail.split_once('.').unwrap_or((tail, ""));
        // An index beyond any real message list is a hostile key, not a list.
        if let Ok(i) = index.parse::<usize>()
            && i < 100_000
        {
            items
                .entry(i)
                .or_default()
                .insert(rest.to_string(), v.clone());
        }
    }
    items.into_values().collect()
}

/// `...UnixNano` (a string or a number) as a time.
pub fn nanos_time(v: &Value) -> Option<DateTime<Utc>> {
    let nanos: i128 = match v {
        Value::String(s) => s.parse().ok()?,
        Value::Number(n) => i128::from(n.as_u64()?),
        _ => return None,
    };
    let secs = i64::try_from(nanos / 1_000_000_000).ok()?;
    DateTime::from_timestamp(secs, (nanos % 1_000_000_000) as u32)
}

/// The ratings in a span's `gen_ai.evaluation.result` events: by
/// `gen_ai.evaluation.name`, the score's value, else its label.
pub fn evaluations(span: &Span<'_>) -> Map<String, Value> {
    span.events("gen_ai.evaluation.result")
        .into_iter()
        .filter_map(|e| {
            let name = e.get("gen_ai.evaluation.name")?.as_str()?.to_string();
            let v = e
                .get("gen_ai.evaluation.score.value")
                .or_else(|| e.get("gen_ai.evaluation.score.label"))?
                .clone();
            Some((name, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A request is outside input: values of the wrong shape anywhere read
    /// as nothing (never a panic), and the spans around them still count.
    #[test]
    fn misshapen_parts_of_a_request_read_as_nothing() {
        let mut req = json!({"resourceSpans": [1, {"resource": 2, "scopeSpans": [3, {"spans": [
            4,
            {"attributes": 5},
            {"attributes": [
                {"key": "a", "value": {"intValue": "7"}},
                6,
                {"key": 1, "value": {"stringValue": "x"}},
                {"key": "b", "value": {"arrayValue": {"values": [{"boolValue": true}, 8]}}},
                {"key": "c", "value": {"kvlistValue": {"values": 9}}},
                {"key": "d"}
            ]}
        ]}]}]});
        let read = spans(&mut req).unwrap();
        assert_eq!(read.len(), 3);
        assert!(read[0].attrs.is_empty() && read[1].attrs.is_empty());
        assert!(read[2].resource.is_empty());
        assert_eq!(
            Value::Object(read[2].attrs.clone()),
            json!({"a": 7, "b": [true, null], "c": {}, "d": null})
        );
        assert!(spans(&mut json!({"resourceSpans": 1})).is_err());
    }
}
