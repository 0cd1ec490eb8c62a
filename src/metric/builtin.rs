//! Built-in non-LM dimensions: exact match, regex, JSON-valid, enum-valid, length band.

use serde_json::{Map, Value};

use crate::signature::{Signature, match_enum};

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// 1 when the prediction's field equals the reference's (enum values compared canonically).
pub fn exact_match(
    sig: &Signature,
    field: &str,
    prediction: &Map<String, Value>,
    reference: &Map<String, Value>,
) -> f64 {
    let (p, r) = (text(prediction.get(field)), text(reference.get(field)));
    let same = match sig.outputs.get(field).and_then(|o| o.enum_values.as_ref()) {
        Some(values) => {
            match_enum(values, &p).is_some() && match_enum(values, &p) == match_enum(values, &r)
        }
        None => p.trim() == r.trim(),
    };
    if same { 1.0 } else { 0.0 }
}

/// 1 when the field matches the pattern.
pub fn regex(re: &regex::Regex, field: &str, prediction: &Map<String, Value>) -> f64 {
    if re.is_match(&text(prediction.get(field))) {
        1.0
    } else {
        0.0
    }
}

/// 1 when the field (or every output, without a field) is valid JSON.
pub fn json_valid(field: Option<&str>, prediction: &Map<String, Value>) -> f64 {
    let ok = |v: &Value| match v {
        Value::String(s) => serde_json::from_str::<Value>(s).is_ok(),
        _ => true,
    };
    let all = match field {
        Some(f) => prediction.get(f).is_some_and(ok),
        None => prediction.values().all(ok),
    };
    if all { 1.0 } else { 0.0 }
}

/// 1 when every enum output holds one of its values.
pub fn enum_valid(sig: &Signature, prediction: &Map<String, Value>) -> f64 {
    let all = sig
        .outputs
        .iter()
        .all(|(name, spec)| match &spec.enum_values {
            None => true,
            Some(values) => match_enum(values, &text(prediction.get(name))).is_some(),
        });
    if all { 1.0 } else { 0.0 }
}

/// 1 inside the band; outside it, falls linearly to 0 at twice the distance
/// of the bound (a 10% overshoot costs 10%, not everything).
pub fn length_band(
    field: &str,
    min: Option<usize>,
    max: Option<usize>,
    prediction: &Map<String, Value>,
) -> f64 {
    let n = text(prediction.get(field)).chars().count() as f64;
    if let Some(lo) = min.map(|m| m as f64)
        && n < lo
    {
        return if lo == 0.0 {
            1.0
        } else {
            (n / lo).clamp(0.0, 1.0)
        };
    }
    if let Some(hi) = max.map(|m| m as f64)
        && n > hi
    {
        return if hi == 0.0 {
            0.0
        } else {
            (1.0 - (n - hi) / hi).clamp(0.0, 1.0)
        };
    }
    1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sig() -> Signature {
        serde_yaml::from_str("name: s\ninputs: {q: {}}\noutputs:\n  a: {}\n  m: {enum: [dissent-on-evidence, probe]}\n").unwrap()
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn builtins_score_what_they_say() {
        let s = sig();
        let p = map(json!({"a": "{\"k\": 1}", "m": "Dissent on evidence"}));
        assert_eq!(
            exact_match(&s, "m", &p, &map(json!({"m": "dissent-on-evidence"}))),
            1.0
        );
        assert_eq!(exact_match(&s, "m", &p, &map(json!({"m": "probe"}))), 0.0);
        assert_eq!(regex(&regex::Regex::new("^\\{").unwrap(), "a", &p), 1.0);
        assert_eq!(json_valid(Some("a"), &p), 1.0);
        assert_eq!(json_valid(None, &p), 0.0, "m is not JSON");
        assert_eq!(enum_valid(&s, &p), 1.0);
        assert_eq!(enum_valid(&s, &map(json!({"m": "agree"}))), 0.0);
        let t = map(json!({"a": "x".repeat(110)}));
        assert_eq!(length_band("a", Some(10), Some(200), &t), 1.0);
        assert!((length_band("a", None, Some(100), &t) - 0.9).abs() < 1e-12);
        assert!((length_band("a", Some(220), None, &t) - 0.5).abs() < 1e-12);
    }
}
