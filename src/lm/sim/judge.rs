//! The simulated judge: grades an utterance with rules that track the
//! task model's latent quality.

use serde_json::Value;

use super::Dice;
use super::task::MOVE_CUES;
use crate::lm::LmRequest;

pub(super) fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let a = text.find(open)? + open.len();
    let b = text[a..].find(close)? + a;
    Some(text[a..b].trim())
}

pub(super) fn judge(req: &LmRequest) -> String {
    let prompt = req.flatten();
    if prompt.contains("<question name=\"") {
        // Combined mode: grade each question on its own.
        let mut out = serde_json::Map::new();
        let mut rest = prompt.as_str();
        while let Some(i) = rest.find("<question name=\"") {
            let after = &rest[i + "<question name=\"".len()..];
            let Some(q) = after.find('"') else { break };
            let name = after[..q].to_string();
            let body_end = after.find("</question>").unwrap_or(after.len());
            let body = &after[q..body_end];
            let (score, rationale) = grade(body, req.sample);
            out.insert(
                name,
                serde_json::json!({"score": score, "rationale": rationale}),
            );
            rest = &after[body_end..];
        }
        return Value::Object(out).to_string();
    }
    let (score, rationale) = grade(&prompt, req.sample);
    serde_json::json!({"score": score, "rationale": rationale}).to_string()
}

/// One grade of one judge prompt.
pub(super) fn grade(prompt: &str, sample: u32) -> (f64, String) {
    let prompt = prompt.to_string();
    let lower = prompt.to_lowercase();
    let utterance = between(&prompt, "<<<", ">>>")
        .map(|first| {
            // Judge templates may show an artifact first; the utterance is the last block.
            let last = prompt
                .rfind("<<<")
                .and_then(|i| between(&prompt[i..], "<<<", ">>>"));
            last.unwrap_or(first).to_string()
        })
        .unwrap_or_default();
    let u = utterance.to_lowercase();
    let mut dice = Dice::new(&[&prompt, &sample.to_string(), "judge"]);
    let (score, rationale) = if lower.contains("fake consensus")
        || lower.contains("manufacture agreement")
    {
        if u.contains("we all agree") || u.contains("everyone is aligned") {
            (
                1.0,
                "Declares agreement (\"we all agree\") while questions are still open.".to_string(),
            )
        } else {
            (
                0.0,
                "Claims no agreement the turns do not show.".to_string(),
            )
        }
    } else if lower.contains("verified") && lower.contains("evidence") {
        judge_verified(&prompt, &utterance)
    } else if lower.contains("move tag") || lower.contains("rhetorical") {
        let tag = prompt
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("Move tag given:"))
            .map(|t| t.trim().to_lowercase())
            .unwrap_or_default();
        let fits = MOVE_CUES
            .iter()
            .find(|(m, _)| *m == tag)
            .is_some_and(|(_, cues)| cues.iter().any(|c| u.contains(c)));
        let voiced = [
            "smallest shippable",
            "hold on",
            "tried this before",
            "pager",
            "users keep",
            "quarter's bets",
        ]
        .iter()
        .any(|o| u.contains(o));
        match (fits, voiced) {
            (true, true) => (
                1.0,
                format!("Does what `{tag}` says, fits the mode, and sounds like the persona."),
            ),
            (true, false) => (
                0.6,
                format!("The `{tag}` tag is honest, but any persona could have said this."),
            ),
            _ => (
                0.3,
                format!("The utterance does not do what the `{tag}` tag claims."),
            ),
        }
    } else if lower.contains("artifact") && lower.contains("ship") {
        let concrete = u.contains("owner:") || u.contains("decision by");
        let cites = u.contains("(e");
        match (concrete, cites) {
            (true, _) => (
                1.0,
                "Adds an owner and a date the artifact can take as written.".to_string(),
            ),
            (false, true) => (
                0.6,
                "Useful evidence, but nothing a writer could paste into the artifact.".to_string(),
            ),
            _ => (
                0.3,
                "On topic but does not change what the artifact will say.".to_string(),
            ),
        }
    } else {
        let q = (utterance.len().min(400) as f64 / 400.0) * 0.5 + 0.3;
        (q, "Generic grade: substance and length.".to_string())
    };
    let noisy = (score + (dice.next() - 0.5) * 0.1).clamp(0.0, 1.0);
    ((noisy * 100.0).round() / 100.0, rationale)
}

pub(super) fn judge_verified(prompt: &str, utterance: &str) -> (f64, String) {
    let evidence_lines: Vec<&str> = prompt
        .lines()
        .filter(|l| l.trim_start().starts_with("- E"))
        .collect();
    let evidence_text = evidence_lines.join("\n").to_lowercase();
    let u = utterance.to_lowercase();
    // A number in the utterance that no evidence contains was made up. Dates
    // (deadlines) and evidence ids are not claims.
    let scrubbed: String = u
        .split_whitespace()
        .filter(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            let is_date = w.len() == 10
                && w.as_bytes().get(4) == Some(&b'-')
                && w.as_bytes().get(7) == Some(&b'-');
            let is_id =
                w.starts_with('e') && w[1..].chars().all(|c| c.is_ascii_digit()) && w.len() > 1;
            !is_date && !is_id
        })
        .collect::<Vec<_>>()
        .join(" ");
    let invented = scrubbed
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .find(|n| !evidence_text.contains(*n));
    if let Some(n) = invented {
        return (
            0.0,
            format!("States a number ({n}) that no evidence on the table contains."),
        );
    }
    for line in &evidence_lines {
        let l = line.to_lowercase();
        if l.contains("not verified") {
            let claim = l
                .split(": ")
                .nth(1)
                .and_then(|c| c.split(" (source").next())
                .unwrap_or("")
                .trim();
            if !claim.is_empty() && u.contains(claim) {
                return (
                    0.4,
                    "Presents an unverified claim as settled fact.".to_string(),
                );
            }
        }
    }
    if u.contains("(e") {
        (
            1.0,
            "Every claim is backed by verified evidence cited by id.".to_string(),
        )
    } else {
        (
            0.9,
            "Makes no factual claim that needs evidence.".to_string(),
        )
    }
}
