//! Two packs on the fresh held-out traces: the A/B report `ab`, `ci` and
//! `review` share.

use std::path::Path;

use serde_json::Value;

use crate::ab;
use crate::app::Context;
use crate::app::data::{SplitName, examples};
use crate::app::progress::eval as progress;
use crate::eval::Program;
use crate::lm::LmClient;
use crate::pack;
use crate::report::{self, Heldout, PackRef, Report, RunInfo};

/// What the optimizer left beside a candidate pack, for the report's Run section.
fn run_info(candidate: &Path) -> Option<RunInfo> {
    let dir = candidate.parent()?;
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).ok()?).ok()?;
    let trial_scores = crate::optimize::log::trial_scores(&dir.join("trials.jsonl"));
    let lm = &report["lm"];
    let roles = lm["roles"].as_object()?;
    Some(RunInfo {
        // A report from another promptc version may not parse: the Run
        // section then names the optimizer only.
        optimizer: match serde_json::from_value::<crate::optimize::Settings>(
            report["settings"].clone(),
        ) {
            Ok(st) => crate::optimize::by_name(st.optimizer).describe(&st),
            Err(_) => report["optimizer"].as_str().unwrap_or("?").to_string(),
        },
        trials: report["trials"].as_u64().unwrap_or(0) as usize,
        calls: roles
            .iter()
            .map(|(r, v)| (r.clone(), v["calls"].as_u64().unwrap_or(0)))
            .collect(),
        cache_hits: lm["cache_hits"].as_u64().unwrap_or(0),
        input_tokens: lm["input_tokens"].as_u64().unwrap_or(0),
        output_tokens: lm["output_tokens"].as_u64().unwrap_or(0),
        cached_input_tokens: lm["cached_input_tokens"].as_u64().unwrap_or(0),
        batched_calls: lm["batched_calls"].as_u64().unwrap_or(0),
        cost_usd: lm["cost_usd"].as_f64(),
        wall_secs: report["wall_secs"].as_f64().unwrap_or(0.0),
        lms: roles
            .iter()
            .map(|(r, v)| (r.clone(), v["lm"].as_str().unwrap_or("").to_string()))
            .collect(),
        trial_scores,
    })
}

/// Both packs on the fresh held-out traces, as look `look` at today's pack
/// (see [`crate::ab::look_confidence`]): the report and the LM usage.
pub async fn compare(
    ctx: &Context,
    base_path: &Path,
    candidate_path: &Path,
    look: u32,
) -> anyhow::Result<(Report, crate::lm::budget::Usage)> {
    let lm = LmClient::from_config(&ctx.config)?;
    compare_with(ctx, base_path, candidate_path, &lm, look).await
}

/// [`compare`] with a given LM client (and so a shared budget).
pub async fn compare_with(
    ctx: &Context,
    base_path: &Path,
    candidate_path: &Path,
    lm: &LmClient,
    look: u32,
) -> anyhow::Result<(Report, crate::lm::budget::Usage)> {
    let load = |p: &Path| -> anyhow::Result<(pack::LoadedPack, Program)> {
        let l = pack::load(p, Some(&ctx.signature))?;
        let prog = Program::from_pack(&l.pack).ok_or_else(|| {
            crate::app::UsageError(format!(
                "{}: a v1 pack has no program to compare",
                p.display()
            ))
        })?;
        Ok((l, prog))
    };
    let (base, base_prog) = load(base_path)?;
    let (cand, cand_prog) = load(candidate_path)?;
    let heldout = examples(ctx, SplitName::Heldout, None)?;
    let metric = ctx.metric()?;
    let names = metric.dimension_names();
    if let Some(unknown) = ctx
        .config
        .ab
        .guards
        .keys()
        .find(|g| !names.contains(&g.as_str()))
    {
        return Err(crate::app::UsageError(format!(
            "{}: ab.guards.{unknown} is not a dimension of the metric ({})",
            ctx.config.path.display(),
            names.join(", ")
        ))
        .into());
    }
    let before = lm.usage();
    // The A/B can wait: with batches enabled its calls go out as batches,
    // both packs at once (one batch of task calls, then one of judge calls).
    let batched = lm.set_batching(ctx.config.batch.enabled);
    let mut ev = ctx.evaluator(lm, &metric);
    ev.task_samples = ctx.config.ab.task_samples;
    let (base_progress, cand_progress) = (
        progress("ab: today's pack", lm),
        progress("ab: candidate", lm),
    );
    let base_run = ev.evaluate(&base_prog, &heldout, &base_progress);
    let cand_run = ev.evaluate(&cand_prog, &heldout, &cand_progress);
    let (base_report, cand_report) = if batched {
        let (b, c) = futures::join!(base_run, cand_run);
        (b, c)
    } else {
        (base_run.await, cand_run.await)
    };
    lm.set_batching(false);
    let (base_report, cand_report) = (base_report?, cand_report?);
    let verdict = ab::verdict(&base_report, &cand_report, &ctx.config.ab, look);
    let mut threads: Vec<&str> = heldout.iter().map(|t| t.thread.as_str()).collect();
    threads.sort_unstable();
    threads.dedup();
    let day =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.format("%Y-%m-%d").to_string());
    let simulated = !lm.simulated_roles().is_empty();
    let mut cautions = Vec::new();
    let (task, judge) = (
        lm.label(crate::lm::Role::Task),
        lm.label(crate::lm::Role::Judge),
    );
    if task == judge && !task.starts_with("sim:") && metric.judge_calls_per_example() > 0 {
        cautions.push(format!(
            "The task and the judge are the same model ({task}): a model tends to rate answers like its own higher, so these scores may favour the pack that sounds most like it; a judge from another model family is a more independent measure."
        ));
    }
    if let Some(d) = metric.judge_disagreement() {
        cautions.push(format!(
            "The judge's {} samples of one answer differed by {d:.2} on average (scores 0..1): a difference between the packs on one example smaller than that is within the judge's own noise.",
            metric.judge_samples()
        ));
    }
    let report = Report {
        cautions,
        signature: ctx.name.clone(),
        simulated,
        base: PackRef {
            path: base_path.display().to_string(),
            format: base.pack.format().as_str().into(),
        },
        candidate: PackRef {
            path: candidate_path.display().to_string(),
            format: cand.pack.format().as_str().into(),
        },
        heldout: Heldout {
            threads: threads.len(),
            from: day(heldout.iter().filter_map(|t| t.ts).min()),
            to: day(heldout.iter().filter_map(|t| t.ts).max()),
        },
        diff: report::pack_diff(&base.pack, &cand.pack),
        run: run_info(candidate_path),
        reproduce: format!(
            "promptc --config {} ab --base {} --candidate {}{}",
            ctx.config.path.display(),
            base_path.display(),
            candidate_path.display(),
            if look > 1 {
                format!(" --look {look}")
            } else {
                String::new()
            }
        ),
        verdict,
        ab_spend: Some(report::Spend::between(&before, &lm.usage())),
    };
    Ok((report, lm.usage()))
}

/// `report.md` and `report.json` in `dir`.
pub fn write_report(report: &Report, dir: &Path) -> Result<(), crate::files::FileError> {
    write_report_as(report, dir, "report")
}

/// `STEM.md` and `STEM.json` in `dir` (`ci` writes `ab-report`, beside the
/// optimizer's own `report.json`).
pub fn write_report_as(
    report: &Report,
    dir: &Path,
    stem: &str,
) -> Result<(), crate::files::FileError> {
    crate::files::write_text(&dir.join(format!("{stem}.md")), &report.markdown())?;
    crate::files::write_text(
        &dir.join(format!("{stem}.json")),
        &(serde_json::to_string_pretty(report).unwrap_or_default() + "\n"),
    )
}
