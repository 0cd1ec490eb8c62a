//! What the next A/B could detect, before it runs: the paired spread a past
//! A/B measured, the size of today's held-out set, and for each choice of
//! `ab.task_samples` the detectable lift and the LM calls it costs, so a
//! team can buy power knowingly.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::ab::{Spread, look_confidence};
use crate::app::Context;
use crate::app::data::{SplitName, examples};

/// The task-sample counts `plan` prices.
pub const CHOICES: [u32; 3] = [1, 2, 3];

/// One choice of task samples.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// Answers per held-out example and pack.
    pub task_samples: u32,
    /// The lift it detects 80% of the time at look 1.
    pub detectable_lift: f64,
    /// LM calls of the A/B, both packs (cold cache).
    pub lm_calls: Calls,
}

/// LM calls by role.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Calls {
    /// Task calls.
    pub task: usize,
    /// Judge calls.
    pub judge: usize,
}

/// The plan for the next A/B's power.
#[derive(Debug, Clone, Serialize)]
pub struct Power {
    /// Where the spread comes from (a report file, or today's pack's provenance).
    pub source: String,
    /// Held-out examples today.
    pub n: usize,
    /// The level a first look decides at.
    pub confidence: f64,
    /// The spread it assumes.
    pub spread: Spread,
    /// Each choice.
    pub choices: Vec<Choice>,
    /// What the figures assume, when the spread's sampling part is unknown.
    pub assumes: Option<String>,
}

/// The next A/B's power, or why it cannot be said.
pub fn plan(ctx: &Context, ab_report: Option<&Path>) -> anyhow::Result<Result<Power, String>> {
    let (spread, source) = match ab_report {
        Some(p) => (from_report(p)?, p.display().to_string()),
        None => {
            let base = ctx.current_pack()?;
            match base
                .pack
                .prompt()
                .and_then(|p| p.provenance.ab.as_ref())
                .and_then(from_evidence)
            {
                Some(s) => (s, format!("{} (provenance.ab)", base.path.display())),
                None => {
                    return Ok(Err(format!(
                        "no A/B has measured the spread of the paired differences for {}: pass --ab-report FILE (an `ab --report` or `ci` ab-report.json)",
                        base.path.display()
                    )));
                }
            }
        }
    };
    let n = match examples(ctx, SplitName::Heldout, None) {
        Ok(h) => h.len(),
        Err(e) => return Ok(Err(format!("no held-out set to plan for: {e}"))),
    };
    let judge = ctx.metric()?.judge_calls_per_example();
    let confidence = look_confidence(ctx.config.ab.confidence, 1);
    let choices = CHOICES
        .iter()
        .map(|&k| Choice {
            task_samples: k,
            detectable_lift: spread.detectable_lift(n, k, confidence),
            lm_calls: Calls {
                task: 2 * n * k as usize,
                judge: 2 * n * k as usize * judge,
            },
        })
        .collect();
    let assumes = spread.sampling_sd.is_none().then(|| {
        "the sampling part of the spread was not measured (that needs an A/B with ab.task_samples of 2 or more), so all of it is taken to stay: more samples show no gain here, which is the cautious reading".to_string()
    });
    Ok(Ok(Power {
        source,
        n,
        confidence,
        spread,
        choices,
        assumes,
    }))
}

/// The spread in an A/B report JSON (`report.json`, `ab-report.json`).
fn from_report(path: &Path) -> anyhow::Result<Spread> {
    let text = crate::files::read_text(path, 64 << 20)?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        crate::app::UsageError(format!("{}: not an A/B report JSON ({e})", path.display()))
    })?;
    from_evidence(&v["verdict"]).ok_or_else(|| {
        crate::app::UsageError(format!(
            "{}: verdict.paired_sd is missing (an A/B report from before promptc measured it?)",
            path.display()
        ))
        .into()
    })
}

/// The spread in an A/B's evidence (`provenance.ab`, a report's `verdict`):
/// `paired_sd` when recorded, else derived from the interval's width.
fn from_evidence(v: &Value) -> Option<Spread> {
    let task_samples = v["task_samples"]
        .as_u64()
        .map_or(1, |k| k.clamp(1, 16) as u32);
    let sampling_sd = v["sampling_sd"]
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0);
    let paired_sd = match v["paired_sd"].as_f64() {
        Some(sd) => sd,
        None => {
            let n = v["n"].as_f64()?;
            let (lo, hi) = (v["ci95"][0].as_f64()?, v["ci95"][1].as_f64()?);
            let confidence = v["confidence"].as_f64().unwrap_or(0.95);
            let z = crate::ab::normal_quantile(1.0 - (1.0 - confidence) / 2.0);
            (hi - lo) / (2.0 * z) * n.sqrt()
        }
    };
    (paired_sd.is_finite() && paired_sd >= 0.0).then_some(Spread {
        paired_sd,
        task_samples,
        sampling_sd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_evidence_without_the_spread_gives_it_from_the_interval() {
        // sd 20 on 100 examples: the 95% interval is ±1.96 × 2.
        let v = serde_json::json!({"n": 100, "ci95": [6.08, 13.92], "confidence": 0.95});
        let s = from_evidence(&v).unwrap();
        assert!((s.paired_sd - 20.0).abs() < 0.01, "{s:?}");
        assert_eq!((s.task_samples, s.sampling_sd), (1, None));
    }

    #[test]
    fn more_samples_shrink_only_the_sampling_part() {
        // Half the variance is sampling noise, measured with 2 samples.
        let s = Spread {
            paired_sd: 10.0,
            task_samples: 2,
            sampling_sd: Some(10.0),
        };
        // Measured at k = 2: stays = 100 − 100/2 = 50; at k = 1: 50 + 100 = 150.
        let one = s.detectable_lift(100, 1, 0.95);
        let two = s.detectable_lift(100, 2, 0.95);
        let three = s.detectable_lift(100, 3, 0.95);
        assert!((two - crate::ab::detectable_lift(10.0, 100, 0.95, 0.8)).abs() < 1e-9);
        assert!((one / two - (150.0f64 / 100.0).sqrt()).abs() < 1e-9);
        assert!(three < two && two < one);
        let unknown = Spread {
            sampling_sd: None,
            ..s
        };
        assert_eq!(
            unknown.detectable_lift(100, 3, 0.95),
            unknown.detectable_lift(100, 1, 0.95)
        );
    }
}
