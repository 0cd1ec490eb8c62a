//! Judge prompts: rendering the user's templates, and reading the verdicts.
//!
//! A judge answers a score in 0..1 and a rationale, as JSON or as a
//! `score:` line. Anything else, including a score outside 0..1, is an
//! unreadable answer: the evaluator asks again rather than guess, and never
//! clamps a score into range.

use serde_json::Value;

/// One judge verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// 0..1.
    pub score: f64,
    /// Why, in the judge's words.
    pub rationale: String,
}

/// The template that asks for several dimensions in one call.
pub const COMBINED_TEMPLATE: &str = include_str!("../../prompts/judge/combined.md.j2");

fn check_score(score: f64) -> Result<f64, String> {
    if score.is_finite() && (0.0..=1.0).contains(&score) {
        Ok(score)
    } else {
        Err(format!("score {score} is outside 0..1"))
    }
}

fn verdict_from_object(v: &Value) -> Result<Verdict, String> {
    let score = match v.get("score") {
        Some(Value::Number(n)) => n.as_f64().ok_or("score is not a number")?,
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("score `{s}` is not a number"))?,
        _ => return Err("no `score` in the answer".into()),
    };
    let rationale = v
        .get("rationale")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    Ok(Verdict {
        score: check_score(score)?,
        rationale,
    })
}

/// The outermost `{…}` of a text, if it parses as a JSON object.
fn json_object(text: &str) -> Option<Value> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    let v: Value = serde_json::from_str(text.get(start..=end)?).ok()?;
    v.is_object().then_some(v)
}

/// Reads one verdict: a JSON object with `score` (and `rationale`), or lines
/// `score: 0.7` and `rationale: …`.
pub fn parse_verdict(text: &str) -> Result<Verdict, String> {
    if let Some(v) = json_object(text) {
        return verdict_from_object(&v);
    }
    if let Some(v) = broken_json_verdict(text) {
        return v;
    }
    let mut score = None;
    let mut rationale = String::new();
    for line in text.lines() {
        let l = line.trim().trim_start_matches(['*', '-', ' ']);
        let lower = l.to_lowercase();
        if let Some(rest) = lower.strip_prefix("score:") {
            let raw = rest.trim().trim_matches('*').trim();
            score = Some(
                raw.parse::<f64>()
                    .map_err(|_| format!("score `{raw}` is not a number"))?,
            );
        } else if lower.starts_with("rationale:") {
            rationale = l["rationale:".len()..].trim().to_string();
        }
    }
    match score {
        Some(s) => Ok(Verdict {
            score: check_score(s)?,
            rationale,
        }),
        None => Err(format!(
            "no JSON object with a score and no `score:` line in {:?}",
            crate::text::truncate_for_message(text.trim())
        )),
    }
}

/// A verdict from JSON that does not parse as JSON, as small models write
/// it: cut off before its closing `"}` (a length cap), or with unescaped
/// quotes inside the rationale. The `"score": <number>` pair must be intact;
/// the rationale is what follows `"rationale": "` up to the last quote (or
/// the end). `None` when the text has no such score.
fn broken_json_verdict(text: &str) -> Option<Result<Verdict, String>> {
    // Constant patterns, exercised by the tests: `None` never ships.
    static SCORE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    static RATIONALE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let score_re = SCORE
        .get_or_init(|| {
            regex::Regex::new(
                r#""score"\s*:\s*"?(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"?\s*[,}\n]"#,
            )
            .ok()
        })
        .as_ref()?;
    let rationale_re = RATIONALE
        .get_or_init(|| regex::Regex::new(r#"(?s)"rationale"\s*:\s*"(.*)"#).ok())
        .as_ref()?;
    // A score at the very end of a cut-off answer has no terminator: add one.
    let padded = format!("{text}\n");
    let raw = score_re.captures(&padded)?.get(1)?.as_str();
    let score: f64 = raw.parse().ok()?;
    let rationale = rationale_re
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| {
            let r = m.as_str();
            // Up to the quote that closed it, when one is left.
            let r = match r.rfind('"') {
                Some(i) => &r[..i],
                None => r,
            };
            r.trim().trim_end_matches(['}', '`']).trim().to_string()
        })
        .unwrap_or_default();
    Some(check_score(score).map(|score| Verdict { score, rationale }))
}

/// Reads a combined answer: one verdict per name, all required. Accepted
/// shapes: `{"name": {"score": …, "rationale": …}}`, a bare number per name
/// (`{"name": 0.6}`), and either of those under a `scores` key.
pub fn parse_combined(text: &str, names: &[&str]) -> Result<Vec<Verdict>, String> {
    let mut v = json_object(text).ok_or("the combined answer is not a JSON object")?;
    if names.iter().all(|n| v.get(*n).is_none())
        && let Some(inner) = v.get("scores").filter(|s| s.is_object()).cloned()
    {
        v = inner;
    }
    names
        .iter()
        .map(|n| {
            let entry = v
                .get(*n)
                .ok_or_else(|| format!("the combined answer has no entry for `{n}`"))?;
            let verdict = match entry {
                Value::Number(_) | Value::String(_) => {
                    verdict_from_object(&serde_json::json!({ "score": entry }))
                }
                _ => verdict_from_object(entry),
            };
            verdict.map_err(|e| format!("`{n}`: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_answers_parse_in_both_forms() {
        let v = parse_verdict(
            "Here you go:\n```json\n{\"score\": 0.75, \"rationale\": \"Cites E2.\"}\n```",
        )
        .unwrap();
        assert_eq!(
            v,
            Verdict {
                score: 0.75,
                rationale: "Cites E2.".into()
            }
        );
        let v = parse_verdict("**Score:** 0.4\nRationale: Presents E3 as settled.").unwrap();
        assert_eq!(
            v,
            Verdict {
                score: 0.4,
                rationale: "Presents E3 as settled.".into()
            }
        );
        assert_eq!(parse_verdict("{\"score\": \"1\"}").unwrap().score, 1.0);
        assert_eq!(parse_verdict("score: 0").unwrap().score, 0.0);
    }

    #[test]
    fn bad_answers_are_rejected_never_clamped() {
        for (text, want) in [
            (
                "{\"score\": 1.2, \"rationale\": \"great\"}",
                "score 1.2 is outside 0..1",
            ),
            ("score: -0.1", "score -0.1 is outside 0..1"),
            ("score: 8/10", "score `8/10` is not a number"),
            ("{\"rating\": 0.5}", "no `score` in the answer"),
            (
                "I would say it is fine.",
                "no JSON object with a score and no `score:` line",
            ),
            ("{\"score\": NaN}", "no JSON object with a score"),
        ] {
            let err = parse_verdict(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn what_small_models_write_still_parses() {
        // Cut off before the closing quote and brace (a length cap).
        let v = parse_verdict(
            "```json\n{\"score\": 0.7, \"rationale\": \"The claim about E2 is backed by the ver",
        )
        .unwrap();
        assert_eq!(v.score, 0.7);
        assert_eq!(v.rationale, "The claim about E2 is backed by the ver");
        // Unescaped quotes inside the rationale.
        let v = parse_verdict(
            "{\"score\": 0.4, \"rationale\": \"It says \"users want X\" without evidence.\"}",
        )
        .unwrap();
        assert_eq!(v.score, 0.4);
        assert_eq!(v.rationale, "It says \"users want X\" without evidence.");
        // Cut off right after the score.
        assert_eq!(parse_verdict("{\"score\": 1").unwrap().score, 1.0);
        // Still never clamped, and a half-written number is not a score.
        assert!(parse_verdict("{\"score\": 1.5, \"rationale\": \"x").is_err());
        assert!(parse_verdict("{\"score\": 0.").is_err());
    }

    #[test]
    fn combined_answers_in_the_shapes_models_write() {
        let names = ["a", "b"];
        let bare = parse_combined("{\"a\": 0.6, \"b\": \"1\"}", &names).unwrap();
        assert_eq!((bare[0].score, bare[1].score), (0.6, 1.0));
        let nested = parse_combined(
            "Here:\n```json\n{\"scores\": {\"a\": {\"score\": 0.2, \"rationale\": \"r\"}, \"b\": 0}}\n```",
            &names,
        )
        .unwrap();
        assert_eq!((nested[0].score, nested[1].score), (0.2, 0.0));
        assert_eq!(nested[0].rationale, "r");
    }

    #[test]
    fn combined_answers_need_every_dimension() {
        let names = ["a", "b"];
        let ok = parse_combined(
            "{\"a\": {\"score\": 0.5, \"rationale\": \"x\"}, \"b\": {\"score\": 1}}",
            &names,
        )
        .unwrap();
        assert_eq!((ok[0].score, ok[1].score), (0.5, 1.0));
        let err = parse_combined("{\"a\": {\"score\": 0.5}}", &names).unwrap_err();
        assert_eq!(err, "the combined answer has no entry for `b`");
        let err =
            parse_combined("{\"a\": {\"score\": 0.5}, \"b\": {\"score\": 3}}", &names).unwrap_err();
        assert_eq!(err, "`b`: score 3 is outside 0..1");
    }
}
