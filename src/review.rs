//! The pipeline behind `promptc review`: for each pack a pull request edits,
//! the A/B of the base version against the head version on the fresh
//! held-out traces, posted as one sticky comment.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::json;

use crate::ab::Decision;
use crate::app::{Context, Global, Output, UsageError};
use crate::ci::{BudgetCaps, GithubEnv, event_payload, out_dir, root_dir, short, start};
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
    let actions: &dyn crate::ci::CiHost = &actions;
    let event = event_payload(env)?;
    let base_rev = args
        .base
        .clone()
        .or_else(|| {
            event["pull_request"]["base"]["sha"]
                .as_str()
                .map(str::to_string)
        })
        .ok_or_else(|| UsageError("review needs --base REV (or a pull_request event)".into()))?;
    let head_rev = args
        .head
        .clone()
        .or_else(|| {
            event["pull_request"]["head"]["sha"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "HEAD".into());
    let repo = Repo::discover(&root_dir(&config))?;
    let changed = repo.changed_files(&base_rev, &head_rev).map_err(|e| match e {
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
        let mut rp = ReviewedPack {
            path: rel.clone(),
            signature: name.clone(),
            lift: None,
            ci95: None,
            decision: None,
            note: None,
            comment_url: None,
        };
        let (old, new) = (
            repo.file_at(&base_rev, &rel)?,
            repo.file_at(&head_rev, &rel)?,
        );
        let (old, new) = match (old, new) {
            (Some(o), Some(n)) => (o, n),
            (None, _) => {
                rp.note =
                    Some("a new pack: there is nothing in production to compare it with".into());
                sections.push(format!(
                    "### {}\n\nA new pack: nothing in production to compare it with.\n",
                    crate::markdown::code(&rel.display().to_string())
                ));
                packs.push(rp);
                continue;
            }
            (_, None) => {
                rp.note = Some("the pack is deleted".into());
                sections.push(format!(
                    "### {}\n\nDeleted.\n",
                    crate::markdown::code(&rel.display().to_string())
                ));
                packs.push(rp);
                continue;
            }
        };
        let dir = out.join(name);
        let (bp, hp) = (dir.join("base.json"), dir.join("head.json"));
        crate::files::write_bytes(&bp, &old)?;
        crate::files::write_bytes(&hp, &new)?;
        let (mut report, _usage) = match crate::app::ab::compare(&ctx, &bp, &hp).await {
            Ok(r) => r,
            // A pack that does not load (broken JSON, a bad enum, a stale
            // signature hash) is the review's finding, not a failure of the run.
            Err(e) if e.chain().any(|c| c.is::<crate::pack::PackError>()) => {
                let msg = format!("{e:#}")
                    .replace(
                        &bp.display().to_string(),
                        &format!("{} @ {}", rel.display(), short(&base_rev)),
                    )
                    .replace(
                        &hp.display().to_string(),
                        &format!("{} @ {}", rel.display(), short(&head_rev)),
                    );
                rp.note = Some(format!("not compared: {msg}"));
                sections.push(format!(
                    "### {}\n\nNot compared: this pack does not load.\n\n{}\n",
                    crate::markdown::code(&rel.display().to_string()),
                    crate::report::fenced("text", &msg)
                ));
                packs.push(rp);
                continue;
            }
            Err(e) => return Err(e),
        };
        report.base.path = format!("{} @ {}", rel.display(), short(&base_rev));
        report.candidate.path = format!("{} @ {}", rel.display(), short(&head_rev));
        report.reproduce = format!(
            "promptc review --base {} --head {}",
            short(&base_rev),
            short(&head_rev)
        );
        crate::app::ab::write_report(&report, &dir)?;
        let v = &report.verdict;
        rp.lift = Some(v.stats.lift);
        rp.ci95 = Some(v.stats.ci);
        rp.decision = Some(v.decision);
        sections.push(report.markdown());
        packs.push(rp);
    }

    let body = if sections.is_empty() {
        format!(
            "{REVIEW_MARKER}\n## promptc review\n\nThis pull request changes no pack promptc manages.\n"
        )
    } else {
        let mut b = format!(
            "{REVIEW_MARKER}\n## promptc review\n\nEach pack this pull request edits, scored against the version on the base branch on the same fresh held-out traces.\n\n"
        );
        let budget = crate::report::BODY_BUDGET / sections.len().max(1);
        for s in &sections {
            b.push_str(&crate::actions::truncate_markdown(s, budget));
            b.push_str("\n\n");
        }
        b
    };
    let body = crate::lm::secret::redact(&body);
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
        let forge: &dyn crate::ci::Forge = &gh;
        comment_url = Some(forge.upsert_sticky_comment(number, &body).await?);
    }
    for p in &mut packs {
        p.comment_url = comment_url.clone();
    }
    let lead = packs.iter().find(|p| p.lift.is_some());
    actions.set_outputs(&[
        (
            "status",
            if packs.is_empty() {
                "no-packs"
            } else if dry_run {
                "dry-run"
            } else {
                "commented"
            }
            .to_string(),
        ),
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
        ("comment-url", comment_url.clone().unwrap_or_default()),
    ])?;
    actions.summary(&body)?;
    let mut human = String::new();
    if packs.is_empty() {
        human.push_str("review: no pack managed by promptc changed between the revisions\n");
    }
    for p in &packs {
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
    if let Some(u) = &comment_url {
        let _ = writeln!(human, "comment: {u}");
    } else if dry_run {
        let _ = writeln!(
            human,
            "comment written to {}",
            out.join("comment.md").display()
        );
    }
    Ok(Output::ok(
        json!({"packs": packs, "comment_url": comment_url, "dry_run": dry_run}),
        human,
    ))
}
