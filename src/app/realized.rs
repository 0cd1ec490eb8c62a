//! `realized`: the deployed pack's traffic against the traffic of the pack
//! it replaced, each turn scored as users got it (the logged answer; judges
//! and trace dimensions only, never a task call), beside the lift the A/B
//! predicted.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::app::{Context, UsageError};
use crate::lm::LmClient;
use crate::markdown::{code, inline};
use crate::realized::{self, Arm, Comparison, Difference, Observation};
use crate::traces::Turn;

/// Which logged `pack` values are the two arms (default: today's pack id
/// and the id its provenance names as the pack it replaced).
#[derive(Debug, Clone, Default)]
pub struct Arms {
    /// The deployed pack's value.
    pub current: Option<String>,
    /// The replaced pack's value.
    pub previous: Option<String>,
}

/// What the realized lift says about the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Consistent with the prediction (or above zero without one).
    Holds,
    /// The whole interval lies below the predicted interval.
    BelowPrediction,
    /// The whole interval lies below zero.
    Negative,
    /// Too few turns of the deployed pack to say (a normal outcome).
    TooLittleTraffic,
}

/// The lift the A/B predicted (`provenance.ab`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Predicted {
    /// Its mean lift.
    pub lift: f64,
    /// Its interval.
    pub ci95: (f64, f64),
    /// Its held-out turns.
    pub n: u64,
}

/// When an arm's traffic was logged.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// First turn.
    pub from: Option<DateTime<Utc>>,
    /// Last turn.
    pub to: Option<DateTime<Utc>>,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The signature.
    pub signature: String,
    /// The deployed pack's logged value.
    pub current: String,
    /// The replaced pack's logged value.
    pub previous: String,
    /// Whether the application chose the pack per thread at random (a rollout).
    pub randomized: bool,
    /// Plain difference of means (null without traffic in both arms).
    pub raw: Option<Difference>,
    /// Within strata, reweighted to the common mix.
    pub adjusted: Option<Difference>,
    /// Threads per arm, strata shared, turns outside shared strata.
    pub comparison: Option<Comparison>,
    /// What a stratum is.
    pub strata: Vec<String>,
    /// Each arm's window.
    pub windows: [Window; 2],
    /// The A/B's prediction, when the deployed pack carries one.
    pub predicted: Option<Predicted>,
    /// What it says.
    pub verdict: Verdict,
    /// Why, in a sentence or two.
    pub reasons: Vec<String>,
    /// About how many turns of the deployed pack an interval of ±`precision` needs.
    pub turns_needed: Option<usize>,
    /// That half-width, in points.
    pub precision: f64,
    /// Turns whose scoring failed for good (left out).
    pub failed: usize,
    /// A `sim` judge scored them.
    pub simulated: bool,
}

/// Scores both arms' traffic and compares them.
pub async fn run(ctx: &Context, arms: &Arms, lm: &LmClient) -> anyhow::Result<Report> {
    if let Some(rollout) = &ctx.sig_cfg.rollout
        && arms.current.is_none()
        && arms.previous.is_none()
    {
        return run_rollout(ctx, rollout, lm).await;
    }
    let pack = ctx.current_pack()?;
    let prompt = pack.pack.prompt();
    let provenance = prompt.map(|p| &p.provenance);
    let current = arms.current.clone().unwrap_or_else(|| pack.pack.id().0);
    let files = ctx.trace_files(&[])?;
    let data = ctx.dataset(&files)?;
    data.report.check_strict(ctx.config.traces.strict)?;
    let named = provenance
        .and_then(|p| p.base_pack.as_ref())
        .and_then(|b| b.id.clone());
    let previous = match arms.previous.clone().or(named) {
        Some(p) => p,
        None => preceding(&data.turns, &current).ok_or_else(|| {
            UsageError(format!(
                "{}: which pack came before `{current}` is not recorded (no provenance.base_pack.id, and no other pack logged before its first turn); name it with --previous VALUE",
                pack.path.display()
            ))
        })?,
    };
    let turns = arms_of(&data.turns, &current, &previous, None);
    let predicted = provenance.and_then(|p| p.ab.as_ref()).and_then(predicted);
    compare(ctx, lm, (current, previous), &turns, predicted, false).await
}

/// A rollout: the candidate against today's pack on the threads each was
/// served in the same window (from the candidate's first turn), chosen per
/// thread by the stable hash: a randomized experiment.
async fn run_rollout(
    ctx: &Context,
    rollout: &crate::config::Rollout,
    lm: &LmClient,
) -> anyhow::Result<Report> {
    let today = ctx.current_pack()?.pack.id().0;
    let path = ctx.resolve(&rollout.candidate);
    let cand = crate::pack::load(&path, Some(&ctx.signature))?;
    let candidate = cand.pack.id().0;
    let files = ctx.trace_files(&[])?;
    let data = ctx.dataset(&files)?;
    data.report.check_strict(ctx.config.traces.strict)?;
    let start = data
        .turns
        .iter()
        .filter(|t| t.pack.as_deref() == Some(candidate.as_str()))
        .filter_map(|t| t.ts)
        .min();
    let turns = arms_of(&data.turns, &candidate, &today, Some(start));
    let predicted = cand
        .pack
        .prompt()
        .and_then(|p| p.provenance.ab.as_ref())
        .and_then(predicted);
    compare(ctx, lm, (candidate, today), &turns, predicted, true).await
}

/// The clean turns of the two packs (from `since` on, when given; `Some(None)`:
/// the candidate has no turn yet, so neither arm has any).
fn arms_of<'t>(
    turns: &'t [Turn],
    current: &str,
    previous: &str,
    since: Option<Option<DateTime<Utc>>>,
) -> Vec<(Arm, &'t Turn)> {
    if since == Some(None) {
        return Vec::new();
    }
    let start = since.flatten();
    turns
        .iter()
        .filter(|t| t.clean)
        .filter(|t| start.is_none_or(|s| t.ts.is_some_and(|ts| ts >= s)))
        .filter_map(|t| match t.pack.as_deref() {
            Some(p) if p == current => Some((Arm::Current, t)),
            Some(p) if p == previous => Some((Arm::Previous, t)),
            _ => None,
        })
        .collect()
}

/// Scores both arms and compares them.
async fn compare(
    ctx: &Context,
    lm: &LmClient,
    (current, previous): (String, String),
    turns: &[(Arm, &Turn)],
    predicted: Option<Predicted>,
    randomized: bool,
) -> anyhow::Result<Report> {
    let capped = newest(turns, ctx.config.realized.max_turns);
    let turns = capped.as_slice();
    // One arm without traffic: nothing to compare, so nothing is scored.
    let both = [Arm::Current, Arm::Previous]
        .iter()
        .all(|arm| turns.iter().any(|(a, _)| a == arm));
    let (obs, failed) = if both {
        score(ctx, lm, turns).await?
    } else {
        (Vec::new(), 0)
    };
    let settings = realized::Settings {
        resamples: ctx.config.ab.bootstrap_resamples,
        confidence: ctx.config.ab.confidence,
        seed: ctx.config.ab.seed,
    };
    let comparison = realized::compare(&obs, settings);
    let window = |arm: Arm| {
        let ts = turns
            .iter()
            .filter(|(a, _)| *a == arm)
            .filter_map(|(_, t)| t.ts);
        Window {
            from: ts.clone().min(),
            to: ts.max(),
        }
    };
    let n_current = turns.iter().filter(|(a, _)| *a == Arm::Current).count();
    let rc = &ctx.config.realized;
    let (verdict, reasons, turns_needed) = judge(
        comparison.as_ref(),
        predicted,
        n_current,
        (rc.min_turns, rc.precision),
        randomized,
    );
    Ok(Report {
        signature: ctx.name.clone(),
        current,
        previous,
        randomized,
        raw: comparison.as_ref().map(|c| c.raw),
        adjusted: comparison.as_ref().map(|c| c.adjusted),
        comparison,
        strata: rc.strata.clone(),
        windows: [window(Arm::Current), window(Arm::Previous)],
        predicted,
        verdict,
        reasons,
        turns_needed,
        precision: rc.precision,
        failed,
        simulated: lm.simulated_roles().contains(&crate::lm::Role::Judge),
    })
}

/// Clean turns of the signature that today's pack served (its id in `pack`).
pub fn served(ctx: &Context) -> anyhow::Result<usize> {
    let current = ctx.current_pack()?.pack.id().0;
    let files = ctx.trace_files(&[])?;
    let data = ctx.dataset(&files)?;
    Ok(data
        .turns
        .iter()
        .filter(|t| t.clean && t.pack.as_deref() == Some(current.as_str()))
        .count())
}

/// The most recent `max` turns of each arm (whole threads are not kept
/// together: a thread cut at the edge keeps its latest turns).
fn newest<'t>(turns: &[(Arm, &'t Turn)], max: usize) -> Vec<(Arm, &'t Turn)> {
    let mut out = Vec::with_capacity(turns.len().min(2 * max));
    for arm in [Arm::Current, Arm::Previous] {
        let mut mine: Vec<(Arm, &Turn)> =
            turns.iter().copied().filter(|(a, _)| *a == arm).collect();
        mine.sort_by_key(|(_, t)| std::cmp::Reverse(t.ts));
        mine.truncate(max);
        out.extend(mine);
    }
    out
}

/// The pack logged most often before `current`'s first turn.
fn preceding(turns: &[Turn], current: &str) -> Option<String> {
    let first = turns
        .iter()
        .filter(|t| t.pack.as_deref() == Some(current))
        .filter_map(|t| t.ts)
        .min()?;
    let mut counts: indexmap::IndexMap<&str, usize> = indexmap::IndexMap::new();
    for t in turns.iter().filter(|t| t.ts.is_some_and(|ts| ts < first)) {
        if let Some(p) = t.pack.as_deref().filter(|p| *p != current) {
            *counts.entry(p).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(p, _)| p.to_string())
}

/// Each turn's logged answer scored with the metric (judges and trace
/// dimensions; no task call). Turns whose judge calls fail for good are
/// left out and counted, up to the evaluation's error tolerance.
async fn score(
    ctx: &Context,
    lm: &LmClient,
    turns: &[(Arm, &Turn)],
) -> anyhow::Result<(Vec<Observation>, usize)> {
    let metric = ctx.metric()?;
    let strata = &ctx.config.realized.strata;
    let scored: Vec<_> = futures::stream::iter(turns.iter())
        .map(|(arm, t)| {
            let metric = &metric;
            async move { (*arm, *t, metric.score(lm, t, &t.outputs).await) }
        })
        .buffer_unordered(ctx.config.eval.concurrency.max(1))
        .collect()
        .await;
    let allowed = ctx
        .config
        .eval
        .max_errors
        .max((ctx.config.eval.max_error_share * turns.len() as f64).ceil() as usize);
    let mut obs = Vec::with_capacity(scored.len());
    let mut failed = Vec::new();
    for (arm, t, r) in scored {
        match r {
            Ok(s) => obs.push(Observation {
                arm,
                thread: t.thread.clone(),
                stratum: stratum(t, strata),
                score: s.score,
            }),
            Err(e) if e.ends_the_run() => return Err(e.into()),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.len() > allowed {
        return Err(crate::eval::EvalError::TooManyErrors {
            errors: failed.len(),
            max: allowed,
            total: turns.len(),
            first: failed[0].clone(),
        }
        .into());
    }
    // The bootstrap draws threads in the order they first appear: keep it repeatable.
    obs.sort_by(|a, b| (a.arm as u8, &a.thread).cmp(&(b.arm as u8, &b.thread)));
    Ok((obs, failed.len()))
}

/// A turn's stratum: the configured keys' values joined.
fn stratum(t: &Turn, keys: &[String]) -> String {
    let mut parts = Vec::with_capacity(keys.len());
    for k in keys {
        let v = match k.as_str() {
            "workspace" => t.workspace.clone().unwrap_or_default(),
            "persona" => t.persona.clone().unwrap_or_default(),
            other => match other.strip_prefix("inputs.").and_then(|n| t.inputs.get(n)) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            },
        };
        parts.push(v);
    }
    parts.join(" × ")
}

/// The prediction in `provenance.ab`.
fn predicted(ab: &Value) -> Option<Predicted> {
    Some(Predicted {
        lift: ab["lift"].as_f64()?,
        ci95: (ab["ci95"][0].as_f64()?, ab["ci95"][1].as_f64()?),
        n: ab["n"].as_u64().unwrap_or(0),
    })
}

/// The verdict, its reasons and the turns a precise answer needs.
fn judge(
    c: Option<&Comparison>,
    predicted: Option<Predicted>,
    n_current: usize,
    (min_turns, precision): (usize, f64),
    randomized: bool,
) -> (Verdict, Vec<String>, Option<usize>) {
    let Some(c) = c else {
        return (
            Verdict::TooLittleTraffic,
            vec![format!(
                "{n_current} turns of the deployed pack, and one of the two packs has none: nothing to compare yet"
            )],
            Some(min_turns),
        );
    };
    // A randomized rollout's plain difference is the experiment's estimate;
    // before/after traffic needs the reweighted one.
    let (a, which) = if randomized {
        (c.raw, "the randomized comparison's interval")
    } else {
        (c.adjusted, "the adjusted interval")
    };
    let needed = realized::turns_needed(a.ci95, a.n_current.max(1), precision);
    if n_current < min_turns {
        return (
            Verdict::TooLittleTraffic,
            vec![format!(
                "{n_current} turns of the deployed pack, fewer than realized.min_turns = {min_turns}; about {needed} are needed for an interval of ±{precision:.1}"
            )],
            Some(needed.max(min_turns)),
        );
    }
    let interval = format!("[{:+.1}, {:+.1}]", a.ci95.0, a.ci95.1);
    if a.ci95.1 < 0.0 {
        return (
            Verdict::Negative,
            vec![format!(
                "{which} {interval} lies below zero: the deployed pack did worse"
            )],
            Some(needed),
        );
    }
    if let Some(p) = predicted.filter(|p| a.ci95.1 < p.ci95.0) {
        return (
            Verdict::BelowPrediction,
            vec![format!(
                "{which} {interval} lies below the predicted [{:+.1}, {:+.1}]",
                p.ci95.0, p.ci95.1
            )],
            Some(needed),
        );
    }
    let why = match predicted {
        Some(p) => format!(
            "{which} {interval} is consistent with the predicted [{:+.1}, {:+.1}]",
            p.ci95.0, p.ci95.1
        ),
        None => format!("{which} is {interval}; no prediction to hold it against"),
    };
    (Verdict::Holds, vec![why], Some(needed))
}

impl Report {
    /// The one line that says it: predicted beside realized.
    pub fn headline(&self) -> String {
        let main = if self.randomized {
            self.raw
        } else {
            self.adjusted
        };
        let realized = match main {
            Some(a) => format!(
                "realized {:+.1} [{:+.1}, {:+.1}] on {} production turns",
                a.lift, a.ci95.0, a.ci95.1, a.n_current
            ),
            None => "realized: not measurable yet".into(),
        };
        match self.predicted {
            Some(p) => format!(
                "predicted {:+.1} [{:+.1}, {:+.1}] on {} held-out turns; {realized}",
                p.lift, p.ci95.0, p.ci95.1, p.n
            ),
            None => realized,
        }
    }

    /// The markdown section (job summary, pull-request comment): inert whatever the traces say.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "### Realized lift · {}\n\n**{}** — {}\n\n",
            code(&self.signature),
            verdict_word(self.verdict),
            inline(&self.headline())
        );
        if self.simulated {
            md.push_str(
                "> [!WARNING]\n> Scored with the offline `sim` judge: simulated scores.\n\n",
            );
        }
        let _ = writeln!(md, "{}\n", inline(&self.reasons.join("; ")));
        if let (Some(r), Some(a), Some(c)) = (self.raw, self.adjusted, &self.comparison) {
            let _ = writeln!(
                md,
                "| | lift | 95% CI | turns now / before |\n|---|---:|---:|---:|\n| adjusted (within {}) | {:+.1} | {:+.1} … {:+.1} | {} / {} |\n| raw | {:+.1} | {:+.1} … {:+.1} | {} / {} |\n",
                inline(&self.strata.join(" × ")),
                a.lift,
                a.ci95.0,
                a.ci95.1,
                a.n_current,
                a.n_previous,
                r.lift,
                r.ci95.0,
                r.ci95.1,
                r.n_current,
                r.n_previous
            );
            let _ = writeln!(
                md,
                "{} threads now, {} before · {} strata both served; {} turns in strata only one served are left out of the adjusted figure{}\n",
                c.threads_current,
                c.threads_previous,
                c.strata_shared,
                c.turns_unmatched,
                if self.randomized {
                    " · randomized: the application chose the pack per thread"
                } else {
                    " · before/after: not randomized, so only the adjusted figure accounts for a changed mix, and only for the strata named"
                }
            );
        }
        let day =
            |t: &Option<DateTime<Utc>>| t.map_or("?".into(), |t| t.format("%Y-%m-%d").to_string());
        let _ = writeln!(
            md,
            "Deployed pack {} served {} … {}; the pack it replaced, {}, {} … {}.\n",
            code(&self.current),
            day(&self.windows[0].from),
            day(&self.windows[0].to),
            code(&self.previous),
            day(&self.windows[1].from),
            day(&self.windows[1].to)
        );
        md
    }
}

/// The verdict in words.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::BelowPrediction => "below the prediction",
        Verdict::Negative => "negative",
        Verdict::TooLittleTraffic => "too little traffic",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(id: usize, day: u32) -> Turn {
        Turn {
            id: crate::traces::TraceId(format!("t{id}")),
            thread: format!("th{id}"),
            workspace: None,
            ts: chrono::DateTime::from_timestamp(1_764_000_000 + i64::from(day) * 86_400, 0),
            persona: None,
            pack: None,
            clean: true,
            inputs: Default::default(),
            outputs: Default::default(),
            feedback: Default::default(),
        }
    }

    #[test]
    fn at_most_the_newest_turns_of_each_pack_are_scored() {
        let old: Vec<Turn> = (0..30).map(|i| turn(i, i as u32)).collect();
        let new: Vec<Turn> = (30..35).map(|i| turn(i, i as u32)).collect();
        let arms: Vec<(Arm, &Turn)> = old
            .iter()
            .map(|t| (Arm::Previous, t))
            .chain(new.iter().map(|t| (Arm::Current, t)))
            .collect();
        let kept = newest(&arms, 10);
        assert_eq!(kept.iter().filter(|(a, _)| *a == Arm::Current).count(), 5);
        let prev: Vec<&str> = kept
            .iter()
            .filter(|(a, _)| *a == Arm::Previous)
            .map(|(_, t)| t.id.0.as_str())
            .collect();
        assert_eq!(prev.len(), 10);
        assert!(prev.contains(&"t29") && prev.contains(&"t20") && !prev.contains(&"t19"));
    }
}
