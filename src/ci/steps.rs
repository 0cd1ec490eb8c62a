//! The decisions of the pipeline, as pure functions over typed values: which
//! push runs, whether the gate is met, whether the optimizer found anything,
//! what the A/B says. Each returns either the way forward or the signature's
//! final [`SignatureResult`]; none does I/O, so each is tested on its own.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::ab::Decision;
use crate::actions::Level;
use crate::app::optimize::OptimizeRun;
use crate::ci::result::{SignatureResult, Status};
use crate::ci::text::{bullets, lift_phrase};
use crate::config::DraftPolicy;
use crate::git::GitError;
use crate::markdown::code;
use crate::report::{Report, inline};
use crate::traces::TraceStats;

/// A result that ends the run for this signature with a one-paragraph summary.
fn ended(name: &str, status: Status, reason: String, what: &str) -> SignatureResult {
    let mut r = SignatureResult::new(name, status, reason.clone());
    r.summary = format!("### {}: {what}\n\n{}\n", code(name), inline(&reason));
    r
}

/// A signature with no trace files yet: nothing to do.
pub fn no_traces(name: &str, why: &str) -> SignatureResult {
    let reason = format!("gate not met: {why}");
    let mut r = ended(name, Status::Gated, reason.clone(), "gated");
    r.annotate(Level::Notice, " gated", &reason);
    r
}

/// A push to another branch than the default one: the pull request would be
/// based on traces the default branch does not have.
pub fn other_branch(
    name: &str,
    event_name: Option<&str>,
    git_ref: Option<&str>,
    base_branch: &str,
) -> Option<SignatureResult> {
    let r = git_ref?;
    if event_name != Some("push")
        || !r.starts_with("refs/heads/")
        || r == format!("refs/heads/{base_branch}")
    {
        return None;
    }
    let reason = format!(
        "this push is to {r}, not the default branch `{base_branch}`; promptc optimizes from the default branch's traces"
    );
    let mut out = SignatureResult::new(name, Status::Skipped, reason.clone());
    out.summary = format!("### {}: skipped\n\n{}.\n", code(name), inline(&reason));
    Some(out)
}

/// What a push says about this signature.
#[derive(Debug)]
pub enum PushCheck {
    /// Run, with these notes for the reader.
    Run(Vec<String>),
    /// The push touched none of this signature's trace files.
    Skip(Box<SignatureResult>),
}

/// On a push, run only when it touched this signature's trace files.
/// `changed` is the push's changed files (repository-relative) as git gave
/// them, `ours` the signature's trace files (repository-relative).
pub fn push_filter(
    name: &str,
    range: Option<(&str, &str)>,
    changed: Option<Result<Vec<PathBuf>, GitError>>,
    ours: &[PathBuf],
    cutoff: Option<DateTime<Utc>>,
) -> Result<PushCheck, GitError> {
    let Some((before, after)) = range else {
        return Ok(PushCheck::Run(vec![match cutoff {
            Some(c) => format!(
                "the push event names no before/after commits; new traces are those after the pack's train_cutoff ({})",
                c.to_rfc3339()
            ),
            None => "the push event names no before/after commits, and the pack has no train_cutoff yet: every trace is new".into(),
        }]));
    };
    let changed = match changed {
        None => return Ok(PushCheck::Run(Vec::new())),
        Some(Ok(c)) => c,
        Some(Err(GitError::MissingHistory { .. })) => {
            return Ok(PushCheck::Run(vec![format!(
                "the push's previous commit is not in this checkout (a depth-1 clone), so new traces are those after the pack's train_cutoff ({})",
                cutoff
                    .map(|c| c.to_rfc3339())
                    .unwrap_or_else(|| "none yet: every trace is new".into())
            )]));
        }
        Some(Err(e)) => return Err(e),
    };
    let touched: Vec<&PathBuf> = ours.iter().filter(|f| changed.contains(f)).collect();
    if touched.is_empty() {
        let reason = format!(
            "this push ({}..{}) changed no trace file of `{name}`",
            crate::ci::env::short(before),
            crate::ci::env::short(after)
        );
        let mut r = SignatureResult::new(name, Status::Skipped, reason.clone());
        r.summary = format!("### {}: skipped\n\n{}.\n", code(name), inline(&reason));
        return Ok(PushCheck::Skip(Box::new(r)));
    }
    Ok(PushCheck::Run(vec![format!(
        "this push changed {}",
        touched
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )]))
}

/// The gate: enough fresh traces to optimize on, or the gated result.
pub fn gate(
    name: &str,
    stats: &TraceStats,
    cutoff: Option<DateTime<Utc>>,
    notes: &[String],
) -> Option<SignatureResult> {
    if stats.gate.met {
        return None;
    }
    let since = match cutoff {
        Some(_) => "since the pack's train_cutoff",
        None => "in all: the pack has no train_cutoff yet",
    };
    let reason = format!(
        "gate not met: {} ({} fresh turns in {} threads {since})",
        stats.gate.reasons.join("; "),
        stats.fresh_turns,
        stats.fresh_threads
    );
    let mut r = SignatureResult::new(name, Status::Gated, reason.clone());
    r.annotate(Level::Notice, " gated", &reason);
    r.summary = format!(
        "### {}: gated\n\n{}\n",
        code(name),
        bullets(&stats.gate.reasons)
    );
    r.notes = notes.to_vec();
    Some(r)
}

/// After the optimizer: a note when the budget stopped it, and the skipped
/// result when no candidate beat today's pack on validation.
pub fn optimized(
    name: &str,
    run: &OptimizeRun,
    notes: &mut Vec<String>,
    warnings: &mut Vec<String>,
    run_dir: &Path,
) -> Option<SignatureResult> {
    if let Some(why) = &run.stopped {
        let n = format!(
            "the optimizer stopped early: budget exhausted ({why}); the best candidate so far was tested"
        );
        warnings.push(n.clone());
        notes.push(n);
    }
    if run.improved {
        return None;
    }
    let reason = format!(
        "no candidate beat today's pack on validation ({:.1} today, {:.1} best); nothing to propose",
        run.baseline_val, run.best_val
    );
    let mut r = ended(name, Status::Skipped, reason.clone(), "skipped");
    r.summary = format!("### {}: skipped\n\n{}.\n", code(name), inline(&reason));
    r.annotate(Level::Notice, " skipped", &reason);
    r.notes = notes.clone();
    r.run_dir = Some(run_dir.to_path_buf());
    Some(r)
}

/// What the A/B leaves to do.
#[derive(Debug)]
pub enum Proven {
    /// Publish; the result so far carries the A/B's figures.
    Publish(SignatureResult),
    /// The A/B decided skip: the final result.
    Skip(SignatureResult),
}

/// The A/B's figures on the result; when it decided skip, the final result.
pub fn proven(name: &str, report: &Report, notes: Vec<String>, run_dir: &Path) -> Proven {
    let v = &report.verdict;
    let mut r = SignatureResult::new(name, Status::Skipped, String::new());
    r.decision = Some(v.decision);
    r.lift = Some(v.stats.lift);
    r.ci95 = Some(v.stats.ci);
    r.n = Some(v.stats.n);
    r.run_dir = Some(run_dir.to_path_buf());
    r.notes = notes;
    if v.decision != Decision::Skip {
        return Proven::Publish(r);
    }
    r.reason = format!(
        "A/B decided skip: {} ({})",
        lift_phrase(report),
        v.reasons.join("; ")
    );
    let reason = r.reason.clone();
    r.annotate(Level::Notice, " skipped", &reason);
    r.summary = format!(
        "### {}: skipped\n\n{}\n\n<details><summary>The A/B report</summary>\n\n{}\n</details>\n",
        code(name),
        r.reason,
        report.markdown()
    );
    Proven::Skip(r)
}

/// Whether the pull request is a draft.
pub fn draft(policy: DraftPolicy, decision: Decision) -> bool {
    match policy {
        DraftPolicy::Always => true,
        DraftPolicy::Never => false,
        DraftPolicy::Verdict => decision == Decision::Draft,
    }
}

/// The A/B evidence a published pack carries in `provenance.ab`.
pub fn evidence(report: &Report) -> serde_json::Value {
    let v = &report.verdict;
    serde_json::json!({
        "n": v.stats.n,
        "base": v.stats.base,
        "candidate": v.stats.candidate,
        "lift": v.stats.lift,
        "ci95": [v.stats.ci.0, v.stats.ci.1],
        "confidence": v.stats.confidence,
        "p_value": v.stats.p_value,
        "decision": v.decision,
        "heldout_threads": report.heldout.threads,
    })
}
