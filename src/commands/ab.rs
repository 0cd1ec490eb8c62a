//! `promptc ab` and `promptc diff`.

use std::io::IsTerminal;
use std::path::Path;

use serde_json::json;

pub use crate::app::ab::{compare, compare_with, write_report};
use crate::commands::{Context, Global, Output};
use crate::pack;
use crate::report;

/// `ab --base P --candidate P2 [--report DIR] [--look K]`.
pub async fn ab(
    ctx: &Context,
    base_path: &Path,
    candidate_path: &Path,
    report_dir: Option<&Path>,
    look: u32,
) -> anyhow::Result<Output> {
    let (report, usage) = compare(ctx, base_path, candidate_path, look).await?;
    let simulated = report.simulated;
    if let Some(dir) = report_dir {
        write_report(&report, dir)?;
    }
    let s = &report.verdict.stats;
    let json = json!({
        "n": s.n,
        "base": s.base,
        "candidate": s.candidate,
        "lift": s.lift,
        "ci95": [s.ci.0, s.ci.1],
        "confidence": s.confidence,
        "p_value": s.p_value,
        "p_exact": s.p_exact,
        "wins": s.wins,
        "ties": s.ties,
        "losses": s.losses,
        "detectable_lift": s.detectable_lift,
        "look": s.look,
        "decision_confidence": s.decision_confidence,
        "decision_ci": [s.decision_ci.0, s.decision_ci.1],
        "paired_sd": s.paired_sd,
        "task_samples": s.task_samples,
        "sampling_sd": s.sampling_sd,
        "dimensions": report.verdict.dimensions,
        "decision": report.verdict.decision,
        "reasons": report.verdict.reasons,
        "worst": report.verdict.worst,
        "heldout_threads": report.heldout.threads,
        "simulated": simulated,
        "lm": crate::commands::lm_json(&usage),
    });
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    Ok(Output::ok(json, report.terminal(colour)))
}

/// How `diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Coloured lines on a terminal.
    Terminal,
    /// Markdown for a PR or a comment.
    Markdown,
}

/// `diff P P2`.
pub fn diff(_g: &Global, a: &Path, b: &Path, format: DiffFormat) -> anyhow::Result<Output> {
    let pa = pack::load(a, None)?;
    let pb = pack::load(b, None)?;
    let d = report::pack_diff(&pa.pack, &pb.pack);
    let text = match format {
        DiffFormat::Markdown => report::diff_markdown(&d),
        DiffFormat::Terminal => report::diff_terminal(
            &d,
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        ),
    };
    Ok(Output::ok(json!({"diff": d, "text": text}), text))
}
