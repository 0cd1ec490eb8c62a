//! The words promptc publishes: the pull request's body, the commit message,
//! the lift as one phrase, and how to reproduce the A/B.

use std::path::Path;

use crate::app::Context;
use crate::git::Repo;
use crate::pack::PackId;
use crate::report::Report;

/// The lift as one phrase: `+4.2 on 136 fresh turns, 95% CI [+1.0, +7.5], p = 0.012`.
pub fn lift_phrase(report: &Report) -> String {
    let s = &report.verdict.stats;
    format!(
        "{:+.1} on {} fresh turns, {:.0}% CI [{:+.1}, {:+.1}], {}",
        s.lift,
        s.n,
        s.confidence * 100.0,
        s.ci.0,
        s.ci.1,
        p_phrase(s.p_value)
    )
}

/// How a reviewer re-runs the A/B from the pull request's branch.
pub fn reproduce(ctx: &Context, pack_path: &Path, branch: &str, repo: Option<&Repo>) -> String {
    let rel = repo
        .and_then(|r| r.relative(pack_path))
        .unwrap_or_else(|| pack_path.to_path_buf());
    let rel = rel.to_string_lossy().replace('\\', "/");
    format!(
        "git fetch origin {branch}\ngit show origin/{branch}:{rel} > /tmp/candidate.json\npromptc --config {} ab --base {} --candidate /tmp/candidate.json",
        ctx.config.path.display(),
        pack_path.display()
    )
}

/// A p-value as measured: never printed as 0.
pub fn p_phrase(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

/// Lines as a markdown list, each line inline-safe.
pub fn bullets(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("- {}\n", crate::report::inline(l)))
        .collect()
}

/// The pull request body: the report, then how the branch behaves. Any
/// registered secret an LM echoed is redacted.
pub fn pr_body(report: &Report, branch: &str, pack_id: &PackId, base_sha256: &str) -> String {
    crate::lm::secret::redact(&format!(
        "{}\n\n---\n\nPack id {}: a server running this pack writes it as the `pack` field of its trace lines, so the traffic it serves can be matched to this pull request.\n\nThis is promptc's rolling branch {}: the next run that clears the gate replaces its commit and updates this description. promptc never rewrites a branch that carries someone else's commit; push a fix-up here and promptc will use a fresh branch next time.\n{}\n",
        report.markdown().trim_end(),
        crate::markdown::code(&pack_id.0),
        crate::markdown::code(branch),
        crate::github::base_marker(base_sha256)
    ))
}

/// A conventional-commit message with the evidence in the body.
pub fn commit_message(report: &Report, lift_phrase: &str) -> String {
    let s = &report.verdict.stats;
    format!(
        "chore(promptc): update the {} pack\n\nHeld-out A/B: {lift_phrase}.\nToday's pack {:.1}, candidate {:.1}; {} wins, {} ties, {} losses; decision {}.\n",
        report.signature,
        s.base,
        s.candidate,
        s.wins,
        s.ties,
        s.losses,
        report.verdict.decision.as_str()
    )
}
