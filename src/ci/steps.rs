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

/// Today's pack has served fewer turns than `gate.min_turns_on_current_pack`:
/// `gated`, so the next candidate learns from how it behaves.
pub fn current_pack_gate(
    name: &str,
    served: usize,
    min: usize,
    notes: &[String],
) -> Option<SignatureResult> {
    if served >= min {
        return None;
    }
    let reason = format!(
        "gate not met: today's pack has served {served} clean turns, fewer than gate.min_turns_on_current_pack = {min}"
    );
    let mut r = SignatureResult::new(name, Status::Gated, reason.clone());
    r.annotate(Level::Notice, " gated", &reason);
    r.summary = format!(
        "### {}: gated\n\n{}\n",
        code(name),
        crate::report::inline(&reason)
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
    let mut r = SignatureResult::new(name, Status::Skipped, reason.clone());
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
    r.look = Some(v.stats.look);
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
        "look": v.stats.look,
        "decision_ci": [v.stats.decision_ci.0, v.stats.decision_ci.1],
        "decision_confidence": v.stats.decision_confidence,
        "detectable_lift": v.stats.detectable_lift,
        "paired_sd": v.stats.paired_sd,
        "task_samples": v.stats.task_samples,
        "sampling_sd": v.stats.sampling_sd,
        "heldout_threads": report.heldout.threads,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ab::{Stats, Verdict};
    use crate::report::{DemoChanges, Heldout, PackDiff, PackRef};

    /// A report with this decision and lift (CI ±3).
    pub(crate) fn report(decision: Decision, lift: f64) -> Report {
        Report {
            signature: "speak".into(),
            simulated: false,
            base: PackRef {
                path: "packs/speak.json".into(),
                format: "promptc.pack/v2".into(),
            },
            candidate: PackRef {
                path: "run/pack.json".into(),
                format: "promptc.pack/v2".into(),
            },
            verdict: Verdict {
                stats: Stats {
                    n: 40,
                    base: 60.0,
                    candidate: 60.0 + lift,
                    lift,
                    ci: (lift - 3.0, lift + 3.0),
                    confidence: 0.95,
                    p_value: 0.2,
                    p_exact: false,
                    wins: 20,
                    ties: 0,
                    losses: 20,
                    detectable_lift: 5.5,
                    look: 1,
                    decision_confidence: 0.9696,
                    decision_ci: (lift - 3.3, lift + 3.3),
                    decision_p: 0.01,
                    decision_alpha: 0.0152,
                    paired_sd: 12.0,
                    task_samples: 1,
                    sampling_sd: None,
                },
                decision,
                reasons: vec!["the interval reaches below the minimum lift".into()],
                dimensions: Default::default(),
                worst: Vec::new(),
                guards: Vec::new(),
            },
            heldout: Heldout {
                threads: 5,
                from: None,
                to: None,
            },
            diff: PackDiff {
                old: "a".into(),
                new: "b".into(),
                persona: Default::default(),
                demos: DemoChanges::default(),
            },
            run: None,
            reproduce: String::new(),
            cautions: Vec::new(),
            ab_spend: None,
        }
    }

    fn stats(met: bool) -> TraceStats {
        TraceStats {
            ingest: Default::default(),
            clean_turns: 12,
            threads: 3,
            workspaces: 1,
            personas: Default::default(),
            first_ts: None,
            last_ts: None,
            train_cutoff: None,
            fresh_turns: 12,
            fresh_threads: 3,
            gate: crate::traces::Gate {
                met,
                reasons: if met {
                    Vec::new()
                } else {
                    vec!["3 threads, the gate wants 20".into()]
                },
            },
        }
    }

    #[test]
    fn only_a_push_to_another_branch_is_skipped() {
        let r = other_branch("speak", Some("push"), Some("refs/heads/feature"), "main")
            .expect("a push elsewhere skips");
        assert_eq!(r.status, Status::Skipped);
        assert!(
            r.reason
                .contains("refs/heads/feature, not the default branch `main`")
        );
        assert!(other_branch("speak", Some("push"), Some("refs/heads/main"), "main").is_none());
        assert!(other_branch("speak", Some("push"), Some("refs/tags/v1"), "main").is_none());
        assert!(
            other_branch(
                "speak",
                Some("workflow_dispatch"),
                Some("refs/heads/x"),
                "main"
            )
            .is_none()
        );
    }

    #[test]
    fn a_push_runs_only_when_it_touched_the_signatures_traces() {
        let ours = vec![PathBuf::from("traces/speak.jsonl")];
        let skip = push_filter(
            "speak",
            Some(("aaaaaaaaaa", "bbbbbbbbbb")),
            Some(Ok(vec![PathBuf::from("README.md")])),
            &ours,
            None,
        )
        .unwrap();
        match skip {
            PushCheck::Skip(r) => {
                assert_eq!(r.status, Status::Skipped);
                assert!(r.reason.contains("aaaaaaa..bbbbbbb"), "{}", r.reason);
            }
            other => panic!("{other:?}"),
        }
        let run = push_filter(
            "speak",
            Some(("a", "b")),
            Some(Ok(vec![PathBuf::from("traces/speak.jsonl")])),
            &ours,
            None,
        )
        .unwrap();
        assert!(
            matches!(&run, PushCheck::Run(n) if n == &vec!["this push changed traces/speak.jsonl".to_string()]),
            "{run:?}"
        );
    }

    #[test]
    fn a_shallow_or_rangeless_push_runs_and_says_which_traces_count_as_new() {
        let cutoff = "2026-11-01T00:00:00Z".parse().ok();
        let shallow = push_filter(
            "speak",
            Some(("a", "b")),
            Some(Err(GitError::MissingHistory { rev: "a".into() })),
            &[],
            cutoff,
        )
        .unwrap();
        assert!(
            matches!(&shallow, PushCheck::Run(n) if n[0].contains("depth-1 clone") && n[0].contains("2026-11-01")),
            "{shallow:?}"
        );
        let rangeless = push_filter("speak", None, None, &[], None).unwrap();
        assert!(
            matches!(&rangeless, PushCheck::Run(n) if n[0].contains("every trace is new")),
            "{rangeless:?}"
        );
    }

    #[test]
    fn an_unmet_gate_ends_the_run_with_its_reasons() {
        assert!(gate("speak", &stats(true), None, &[]).is_none());
        let r = gate("speak", &stats(false), None, &["a note".into()]).unwrap();
        assert_eq!(r.status, Status::Gated);
        assert!(
            r.reason.contains("3 threads, the gate wants 20"),
            "{}",
            r.reason
        );
        assert!(r.summary.contains("- 3 threads, the gate wants 20"));
        assert_eq!(r.notes, vec!["a note".to_string()]);
        assert_eq!(r.annotations[0].level, Level::Notice);
        assert_eq!(r.annotations[0].title, "promptc: speak gated");
    }

    #[test]
    fn a_skipped_ab_is_final_and_an_open_one_goes_on_with_its_figures() {
        let dir = Path::new("run");
        match proven("speak", &report(Decision::Skip, 1.0), Vec::new(), dir) {
            Proven::Skip(r) => {
                assert_eq!(r.status, Status::Skipped);
                assert!(
                    r.reason
                        .starts_with("A/B decided skip: +1.0 on 40 fresh turns"),
                    "{}",
                    r.reason
                );
                assert!(
                    r.reason.contains("p = 0.200"),
                    "never rounded to a win: {}",
                    r.reason
                );
            }
            other => panic!("{other:?}"),
        }
        match proven("speak", &report(Decision::Open, 9.0), Vec::new(), dir) {
            Proven::Publish(r) => {
                assert_eq!(r.lift, Some(9.0));
                assert_eq!(r.ci95, Some((6.0, 12.0)));
                assert_eq!(r.n, Some(40));
                assert_eq!(r.decision, Some(Decision::Open));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_draft_policy_follows_the_verdict_only_when_asked() {
        assert!(draft(DraftPolicy::Always, Decision::Open));
        assert!(!draft(DraftPolicy::Never, Decision::Draft));
        assert!(draft(DraftPolicy::Verdict, Decision::Draft));
        assert!(!draft(DraftPolicy::Verdict, Decision::Open));
    }

    #[test]
    fn the_published_evidence_is_the_ab_as_measured() {
        let e = evidence(&report(Decision::Draft, 2.5));
        assert_eq!(e["lift"], 2.5);
        assert_eq!(e["ci95"], serde_json::json!([-0.5, 5.5]));
        assert_eq!(e["decision"], "draft");
        assert_eq!(e["heldout_threads"], 5);
    }

    #[test]
    fn an_optimizer_that_found_nothing_ends_the_run_and_a_budget_stop_is_said() {
        let settings = crate::optimize::Settings::from_config(
            &Default::default(),
            crate::config::OptimizerName::Mipro,
            true,
        );
        let mut run = OptimizeRun {
            signature: "speak".into(),
            pack: "run/pack.json".into(),
            report: "run/report.json".into(),
            format: "promptc.pack/v2".into(),
            optimizer: crate::config::OptimizerName::Mipro,
            seed: 0,
            settings,
            smoke: true,
            baseline_val: 61.0,
            best_val: 61.0,
            improved: false,
            trials: 3,
            resumed_entries: 0,
            winner: crate::app::optimize::Winner {
                instruction: 0,
                demo_set: 0,
            },
            candidates: Vec::new(),
            full_scores: Vec::new(),
            per_persona: Vec::new(),
            stopped: Some("max_calls 10 reached".into()),
            lost_examples: Vec::new(),
            split: crate::pack::SplitSizes {
                train: 8,
                val: 8,
                heldout: 8,
            },
            usage: Default::default(),
            wall_secs: 1.0,
            simulated: true,
        };
        let (mut notes, mut warnings) = (Vec::new(), Vec::new());
        let r = optimized("speak", &run, &mut notes, &mut warnings, Path::new("run")).unwrap();
        assert_eq!(r.status, Status::Skipped);
        assert!(r.reason.contains("(61.0 today, 61.0 best)"), "{}", r.reason);
        assert!(warnings[0].contains("budget exhausted (max_calls 10 reached)"));
        assert_eq!(r.notes, warnings, "the stop is a note on the result too");
        run.improved = true;
        run.stopped = None;
        let (mut notes, mut warnings) = (Vec::new(), Vec::new());
        assert!(optimized("speak", &run, &mut notes, &mut warnings, Path::new("run")).is_none());
        assert!(warnings.is_empty() && notes.is_empty());
    }
}
