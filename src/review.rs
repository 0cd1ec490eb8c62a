//! The pipeline behind `promptc review`: for each pack a pull request edits,
//! the A/B of the base version against the head version on the fresh
//! held-out traces, posted as one sticky comment.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::json;

use crate::ab::Decision;
use crate::app::{Context, Global, Output, UsageError};
use crate::ci::{
    BudgetCaps, CiHost, Forge, GithubEnv, event_payload, out_dir, root_dir, short, start,
};
use crate::git::{GitError, Repo};
use crate::github::REVIEW_MARKER;

/// One pack a pull request changed, and how it compared.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewedPack {
    /// Repository-relative path.
    pub path: PathBuf,
    /// The signature it serves.
    pub signature: String,
    /// Mean lift of head over base, when compared.
    pub lift: Option<f64>,
    /// Its interval.
    pub ci95: Option<(f64, f64)>,
    /// The decision the policy gives.
    pub decision: Option<Decision>,
    /// Why it was not compared, when it was not.
    pub note: Option<String>,
    /// The sticky comment.
    pub comment_url: Option<String>,
}

/// What `review` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ReviewArgs {
    /// The base revision (default: the pull_request event's base).
    pub base: Option<String>,
    /// The head revision (default: the event's head, else HEAD).
    pub head: Option<String>,
    /// Write the comment to the out folder instead of posting it.
    pub dry_run: bool,
    /// Where reports and the dry-run comment go.
    pub out: Option<PathBuf>,
    /// Caps that replace the config's `budget:`.
    pub budget: BudgetCaps,
}

/// `promptc review --base REV --head REV`.
pub async fn review(
    g: &Global,
    env: &GithubEnv,
    args: &ReviewArgs,
    json_out: bool,
) -> anyhow::Result<Output> {
    let dry_run = args.dry_run;
    let (config, actions) = start(g, env, json_out)?;
    let host: &dyn CiHost = &actions;
    let event = event_payload(env)?;
    let revs = revisions(args, &event)?;
    let repo = Repo::discover(&root_dir(&config))?;
    let changed = repo.changed_files(&revs.base, &revs.head).map_err(|e| match e {
        GitError::MissingHistory { rev } => UsageError(format!(
            "commit {rev} is not in this checkout: review compares two revisions, so check out with history (actions/checkout with fetch-depth: 0)"
        ))
        .into(),
        other => anyhow::Error::from(other),
    })?;
    let out = out_dir(&config, args.out.as_deref()).join("review");
    let names: Vec<String> = match &g.signature {
        Some(s) => vec![config.select_signature(Some(s))?.0.to_string()],
        None => config.signatures.keys().cloned().collect(),
    };

    let mut packs = Vec::new();
    let mut sections = Vec::new();
    for name in &names {
        let mut ctx = Context::load(&Global {
            signature: Some(name.clone()),
            ..g.clone()
        })?;
        args.budget.apply(&mut ctx.config.budget);
        let pack_path = ctx.resolve(&ctx.sig_cfg.pack);
        let Some(rel) = repo.relative(&pack_path) else {
            continue;
        };
        if !changed.contains(&rel) {
            continue;
        }
        let (rp, section) = review_pack(&ctx, &repo, &rel, &revs, &out.join(name)).await?;
        packs.push(rp);
        sections.push(section);
    }

    let body = crate::lm::secret::redact(&comment_body(&sections));
    let mut comment_url = None;
    if dry_run {
        crate::files::write_text(&out.join("comment.md"), &body)?;
    } else if !packs.is_empty() {
        let number = env
            .pr
            .or_else(|| event["pull_request"]["number"].as_u64())
            .ok_or_else(|| {
                UsageError("review needs --pr N (or a pull_request event) to comment on".into())
            })?;
        let gh = env.client("commenting")?;
        let forge: &dyn Forge = &gh;
        comment_url = Some(forge.upsert_sticky_comment(number, &body).await?);
    }
    for p in &mut packs {
        p.comment_url = comment_url.clone();
    }
    set_outputs(host, &packs, dry_run, comment_url.as_deref())?;
    host.summary(&body)?;
    let human = human(
        &packs,
        comment_url.as_deref(),
        dry_run.then(|| out.join("comment.md")),
    );
    Ok(Output::ok(
        json!({"packs": packs, "comment_url": comment_url, "dry_run": dry_run}),
        human,
    ))
}

/// The two revisions compared.
struct Revisions {
    base: String,
    head: String,
}

/// `--base` and `--head`, else the pull_request event's shas (head: else `HEAD`).
fn revisions(args: &ReviewArgs, event: &serde_json::Value) -> anyhow::Result<Revisions> {
    let sha = |side: &str| {
        event["pull_request"][side]["sha"]
            .as_str()
            .map(str::to_string)
    };
    let base =
        args.base.clone().or_else(|| sha("base")).ok_or_else(|| {
            UsageError("review needs --base REV (or a pull_request event)".into())
        })?;
    let head = args
        .head
        .clone()
        .or_else(|| sha("head"))
        .unwrap_or_else(|| "HEAD".into());
    Ok(Revisions { base, head })
}

/// One changed pack: the A/B of its base version against its head version,
/// or why there is none (new, deleted, does not load); and its comment section.
async fn review_pack(
    ctx: &Context,
    repo: &Repo,
    rel: &std::path::Path,
    revs: &Revisions,
    dir: &std::path::Path,
) -> anyhow::Result<(ReviewedPack, String)> {
    let mut rp = ReviewedPack {
        path: rel.to_path_buf(),
        signature: ctx.name.clone(),
        lift: None,
        ci95: None,
        decision: None,
        note: None,
        comment_url: None,
    };
    let path_md = crate::markdown::code(&rel.display().to_string());
    let (old, new) = match (
        repo.file_at(&revs.base, rel)?,
        repo.file_at(&revs.head, rel)?,
    ) {
        (Some(o), Some(n)) => (o, n),
        (None, _) => {
            rp.note = Some("a new pack: there is nothing in production to compare it with".into());
            let section =
                format!("### {path_md}\n\nA new pack: nothing in production to compare it with.\n");
            return Ok((rp, section));
        }
        (_, None) => {
            rp.note = Some("the pack is deleted".into());
            return Ok((rp, format!("### {path_md}\n\nDeleted.\n")));
        }
    };
    let (bp, hp) = (dir.join("base.json"), dir.join("head.json"));
    crate::files::write_bytes(&bp, &old)?;
    crate::files::write_bytes(&hp, &new)?;
    let at = |rev: &str| format!("{} @ {}", rel.display(), short(rev));
    let (mut report, _usage) = match crate::app::ab::compare(ctx, &bp, &hp, 1).await {
        Ok(r) => r,
        // A pack that does not load (broken JSON, a bad enum, a stale
        // signature hash) is the review's finding, not a failure of the run.
        Err(e) if e.chain().any(|c| c.is::<crate::pack::PackError>()) => {
            let msg = format!("{e:#}")
                .replace(&bp.display().to_string(), &at(&revs.base))
                .replace(&hp.display().to_string(), &at(&revs.head));
            rp.note = Some(format!("not compared: {msg}"));
            let section = format!(
                "### {path_md}\n\nNot compared: this pack does not load.\n\n{}\n",
                crate::report::fenced("text", &msg)
            );
            return Ok((rp, section));
        }
        Err(e) => return Err(e),
    };
    report.base.path = at(&revs.base);
    report.candidate.path = at(&revs.head);
    report.reproduce = format!(
        "promptc review --base {} --head {}",
        short(&revs.base),
        short(&revs.head)
    );
    crate::app::ab::write_report(&report, dir)?;
    let v = &report.verdict;
    rp.lift = Some(v.stats.lift);
    rp.ci95 = Some(v.stats.ci);
    rp.decision = Some(v.decision);
    Ok((rp, report.markdown()))
}

/// The sticky comment: every section, each within its share of GitHub's limit.
fn comment_body(sections: &[String]) -> String {
    if sections.is_empty() {
        return format!(
            "{REVIEW_MARKER}\n## promptc review\n\nThis pull request changes no pack promptc manages.\n"
        );
    }
    let mut b = format!(
        "{REVIEW_MARKER}\n## promptc review\n\nEach pack this pull request edits, scored against the version on the base branch on the same fresh held-out traces.\n\n"
    );
    let budget = crate::report::BODY_BUDGET / sections.len().max(1);
    for s in sections {
        b.push_str(&crate::actions::truncate_markdown(s, budget));
        b.push_str("\n\n");
    }
    b
}

/// The action's outputs: status, the first compared pack's decision and lift,
/// and the comment.
fn set_outputs(
    host: &dyn CiHost,
    packs: &[ReviewedPack],
    dry_run: bool,
    comment_url: Option<&str>,
) -> std::io::Result<()> {
    let lead = packs.iter().find(|p| p.lift.is_some());
    let status = if packs.is_empty() {
        "no-packs"
    } else if dry_run {
        "dry-run"
    } else {
        "commented"
    };
    host.set_outputs(&[
        ("status", status.to_string()),
        (
            "decision",
            lead.and_then(|p| p.decision)
                .map(|d| d.as_str().to_string())
                .unwrap_or_default(),
        ),
        (
            "lift",
            lead.and_then(|p| p.lift)
                .map(|l| format!("{l:.2}"))
                .unwrap_or_default(),
        ),
        ("pr-url", String::new()),
        ("comment-url", comment_url.unwrap_or_default().to_string()),
    ])
}

/// What a person reads.
fn human(packs: &[ReviewedPack], comment_url: Option<&str>, written: Option<PathBuf>) -> String {
    let mut human = String::new();
    if packs.is_empty() {
        human.push_str("review: no pack managed by promptc changed between the revisions\n");
    }
    for p in packs {
        match (p.lift, p.ci95) {
            (Some(l), Some(ci)) => {
                let _ = writeln!(
                    human,
                    "{}: {:+.1} [{:+.1}, {:+.1}] ({})",
                    p.path.display(),
                    l,
                    ci.0,
                    ci.1,
                    p.decision.map(|d| d.as_str()).unwrap_or("?")
                );
            }
            _ => {
                let _ = writeln!(
                    human,
                    "{}: {}",
                    p.path.display(),
                    p.note.as_deref().unwrap_or("")
                );
            }
        }
    }
    if let Some(u) = comment_url {
        let _ = writeln!(human, "comment: {u}");
    } else if let Some(path) = written {
        let _ = writeln!(human, "comment written to {}", path.display());
    }
    human
}
