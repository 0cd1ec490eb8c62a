//! Ratings people gave a logged answer, as a dimension of a new answer.
//!
//! A rating is about the answer that was logged, not the one being scored,
//! so the dimension rewards agreeing with liked answers and disagreeing with
//! disliked ones: with the rating r in 0..1 and the agreement a in 0..1
//! between the new answer and the logged one, the value is
//! r·a + (1 − r)·(1 − a). A new answer that repeats a thumbs-down answer
//! scores 0; one that repeats a thumbs-up answer scores 1; one unlike either
//! scores near 1 − r. Turns nobody rated have no value, and the metric
//! weighs its other dimensions for them.

use serde_json::{Map, Value};

use crate::signature::Signature;

/// A rating as a number in 0..1: numbers scaled from `range` (default
/// 0..1) and clamped; booleans 1 and 0; the usual thumbs labels. `None`
/// for a label it does not know (so no guess enters the metric).
pub fn rating(v: &Value, range: [f64; 2]) -> Option<f64> {
    let x = match v {
        Value::Bool(b) => return Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "up" | "thumbs_up" | "thumbsup" | "positive" | "good" | "yes" | "true" | "👍" => {
                return Some(1.0);
            }
            "down" | "thumbs_down" | "thumbsdown" | "negative" | "bad" | "no" | "false" | "👎" => {
                return Some(0.0);
            }
            other => other.parse::<f64>().ok()?,
        },
        _ => return None,
    };
    let [lo, hi] = range;
    x.is_finite()
        .then(|| ((x - lo) / (hi - lo)).clamp(0.0, 1.0))
}

/// How much a new answer agrees with the logged one, 0..1: per output, an
/// enum the same value (1 or 0), text the share of words in common (a word
/// diff's ratio); the mean over the outputs.
pub fn agreement(
    sig: &Signature,
    prediction: &Map<String, Value>,
    logged: &Map<String, Value>,
) -> f64 {
    if sig.outputs.is_empty() {
        return 0.0;
    }
    let total: f64 = sig
        .outputs
        .iter()
        .map(|(name, field)| {
            if field.enum_values.is_some() {
                super::builtin::exact_match(sig, name, prediction, logged)
            } else {
                let (a, b) = (
                    crate::program::render_value(prediction.get(name)),
                    crate::program::render_value(logged.get(name)),
                );
                f64::from(similar::TextDiff::from_words(a.as_str(), b.as_str()).ratio())
            }
        })
        .sum();
    total / sig.outputs.len() as f64
}

/// The dimension's value for a rating and an agreement.
pub fn value(rating: f64, agreement: f64) -> f64 {
    rating * agreement + (1.0 - rating) * (1.0 - agreement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ratings_of_every_shape_land_on_zero_to_one() {
        let unit = [0.0, 1.0];
        assert_eq!(rating(&json!(true), unit), Some(1.0));
        assert_eq!(rating(&json!("thumbs_down"), unit), Some(0.0));
        assert_eq!(rating(&json!(4), [1.0, 5.0]), Some(0.75));
        assert_eq!(rating(&json!(9), [1.0, 5.0]), Some(1.0), "clamped");
        assert_eq!(rating(&json!("meh"), unit), None, "no guess");
        assert_eq!(value(0.0, 1.0), 0.0, "repeating a disliked answer");
        assert_eq!(value(1.0, 1.0), 1.0, "repeating a liked answer");
        assert_eq!(value(0.0, 0.0), 1.0, "unlike a disliked answer");
    }
}
