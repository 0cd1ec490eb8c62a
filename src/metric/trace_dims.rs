//! Dimensions computed from the example itself: no LM involved.

use serde_json::{Map, Value};

/// The `(speaker, move)` pairs of the prior-turns input, oldest first.
fn turns(inputs: &Map<String, Value>, turns_field: &str) -> Vec<(String, String)> {
    let list = match inputs.get(turns_field) {
        Some(Value::Array(a)) => a.clone(),
        // Some logs store the list as a JSON string.
        Some(Value::String(s)) => serde_json::from_str::<Vec<Value>>(s).unwrap_or_default(),
        _ => Vec::new(),
    };
    list.iter()
        .map(|t| {
            let get = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (get("speaker"), get("move"))
        })
        .collect()
}

/// 1 when the predicted move is not among the moves this persona made in its
/// last `window` turns, 0 when the persona is repeating itself.
pub fn move_repetition(
    inputs: &Map<String, Value>,
    persona: &str,
    predicted_move: &str,
    turns_field: &str,
    window: usize,
) -> f64 {
    let recent: Vec<String> = turns(inputs, turns_field)
        .into_iter()
        .filter(|(speaker, _)| speaker == persona)
        .map(|(_, m)| m)
        .collect();
    let start = recent.len().saturating_sub(window);
    if recent[start..].iter().any(|m| m == predicted_move) {
        0.0
    } else {
        1.0
    }
}

/// Distinct speakers over the last `window` turns, this one included, as a
/// fraction of the turns looked at: 1 when the floor moves around.
pub fn speaker_diversity(
    inputs: &Map<String, Value>,
    persona: &str,
    turns_field: &str,
    window: usize,
) -> f64 {
    let mut speakers: Vec<String> = turns(inputs, turns_field)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    speakers.push(persona.to_string());
    let start = speakers.len().saturating_sub(window);
    let recent = &speakers[start..];
    let distinct = recent
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    distinct as f64 / recent.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inputs(turns: &[(&str, &str)]) -> Map<String, Value> {
        let list: Vec<Value> = turns
            .iter()
            .map(|(s, m)| json!({"speaker": s, "move": m, "text": "…"}))
            .collect();
        json!({"prior_turns": list}).as_object().unwrap().clone()
    }

    #[test]
    fn move_repetition_looks_only_at_this_personas_last_window_turns() {
        let i = inputs(&[
            ("skeptic", "probe"),
            ("builder", "verify"),
            ("skeptic", "reframe"),
            ("skeptic", "steelman"),
            ("skeptic", "synthesize"),
        ]);
        // The skeptic's last three moves: reframe, steelman, synthesize.
        assert_eq!(
            move_repetition(&i, "skeptic", "steelman", "prior_turns", 3),
            0.0
        );
        assert_eq!(
            move_repetition(&i, "skeptic", "probe", "prior_turns", 3),
            1.0,
            "probe is four turns back"
        );
        assert_eq!(
            move_repetition(&i, "skeptic", "probe", "prior_turns", 4),
            0.0
        );
        assert_eq!(
            move_repetition(&i, "skeptic", "verify", "prior_turns", 3),
            1.0,
            "another persona's move"
        );
        assert_eq!(
            move_repetition(&i, "historian", "probe", "prior_turns", 3),
            1.0,
            "no history"
        );
        // A list logged as a JSON string reads the same.
        let s = json!({"prior_turns": i["prior_turns"].to_string()})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            move_repetition(&s, "skeptic", "steelman", "prior_turns", 3),
            0.0
        );
    }

    #[test]
    fn speaker_diversity_counts_distinct_speakers_in_the_window() {
        let i = inputs(&[("a", "x"), ("b", "x"), ("a", "x"), ("a", "x"), ("c", "x")]);
        // Window 6: a b a a c + d → 4 distinct of 6.
        assert!((speaker_diversity(&i, "d", "prior_turns", 6) - 4.0 / 6.0).abs() < 1e-12);
        // Window 3: a c a → 2 of 3.
        assert!((speaker_diversity(&i, "a", "prior_turns", 3) - 2.0 / 3.0).abs() < 1e-12);
        // Nothing before: the speaker alone is a full floor.
        assert_eq!(speaker_diversity(&inputs(&[]), "a", "prior_turns", 6), 1.0);
    }
}
