//! Publishing a proven pack: the plan (branch, files, commit, pull request),
//! then either the dry-run folder or the push and the pull request through a
//! [`Forge`].

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::app::{Context, UsageError};
use crate::ci::env::GithubEnv;
use crate::ci::forge::Forge;
use crate::ci::result::{SignatureResult, Status};
use crate::ci::steps;
use crate::ci::text::{commit_message, lift_phrase, pr_body, reproduce};
use crate::git::{Publish, Repo};
use crate::github::{Pr, PrContent};
use crate::markdown::code;
use crate::pack;
use crate::report::{Report, inline};

/// Everything a publication changes, decided before anything is changed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The rolling branch.
    pub branch: String,
    /// The default branch it is based on.
    pub base_branch: String,
    /// The pull request's title.
    pub title: String,
    /// The pull request's body for [`Plan::branch`].
    pub body: String,
    /// The commit message.
    pub message: String,
    /// The lift as one phrase.
    pub lift_phrase: String,
    /// A draft pull request.
    pub draft: bool,
    /// Repository-relative paths and their new contents.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// The files as this run read them (none: the file is new).
    pub expect: Vec<(PathBuf, Option<Vec<u8>>)>,
    /// Labels.
    pub labels: Vec<String>,
    /// Reviewers.
    pub reviewers: Vec<String>,
    /// Commit author name.
    pub author_name: String,
    /// Commit author email.
    pub author_email: String,
    /// The A/B report (the body is rendered again if the branch moves).
    pub report: Report,
    /// The new pack's id.
    pub pack_id: crate::pack::PackId,
    /// The sha256 of the pack the candidate was built against.
    pub base_sha256: String,
}

impl Plan {
    /// The git side of the plan.
    pub fn publish<'a>(&'a self, env: &'a GithubEnv) -> Publish<'a> {
        Publish {
            remote: &env.remote,
            base_branch: &self.base_branch,
            branch: &self.branch,
            files: &self.files,
            message: &self.message,
            author_name: &self.author_name,
            author_email: &self.author_email,
            token: env.token.as_ref(),
            equivalent: Some(&same_but_timestamp),
            expect: &self.expect,
        }
    }
}

/// Writes the candidate pack with its A/B evidence and plans its publication.
pub fn plan(
    ctx: &Context,
    report: Report,
    pack_path: &Path,
    cand_path: &Path,
    repo: Option<&Repo>,
    base_branch: &str,
) -> anyhow::Result<Plan> {
    let name = &ctx.name;
    let mut cand = pack::load(cand_path, Some(&ctx.signature))?.pack;
    if let Some(p) = cand.prompt_mut() {
        p.provenance.ab = Some(steps::evidence(&report));
    }
    cand.refresh_rendered();
    let pack_id = cand.id();
    let base_sha256 = cand
        .prompt()
        .and_then(|p| p.provenance.base_pack.as_ref())
        .map(|b| b.sha256.clone())
        .unwrap_or_default();
    // Redacted again here: these bytes are committed and pushed.
    let pack_bytes = crate::secret::redact(&cand.to_json()).into_bytes();
    crate::files::write_bytes(cand_path, &pack_bytes)?;

    let gh = &ctx.config.github;
    let branch = format!("{}{name}", gh.branch_prefix);
    let mut report = report;
    report.reproduce = reproduce(ctx, pack_path, &branch, repo);
    let lift = lift_phrase(&report);
    let rel = |p: &Path| -> anyhow::Result<PathBuf> {
        match repo {
            Some(repo) => repo.relative(p).ok_or_else(|| {
                UsageError(format!(
                    "{} is outside the repository at {}",
                    p.display(),
                    repo.workdir().display()
                ))
                .into()
            }),
            None => Ok(p.to_path_buf()),
        }
    };
    let pack_rel = rel(pack_path)?;
    let expect = vec![(
        pack_rel.clone(),
        pack_path
            .exists()
            .then(|| std::fs::read(pack_path))
            .transpose()?,
    )];
    let mut files = vec![(pack_rel, pack_bytes)];
    if let Some(rp) = &gh.report_path {
        let rp = rp.to_string_lossy().replace("{signature}", name);
        files.push((
            rel(&ctx.resolve(Path::new(&rp)))?,
            crate::secret::redact(&report.markdown()).into_bytes(),
        ));
    }
    Ok(Plan {
        title: report.title(),
        body: pr_body(&report, &branch, &pack_id, &base_sha256),
        message: commit_message(&report, &lift),
        draft: steps::draft(gh.draft, report.verdict.decision),
        lift_phrase: lift,
        branch,
        base_branch: base_branch.to_string(),
        files,
        expect,
        labels: gh.labels.clone(),
        reviewers: gh.reviewers.clone(),
        author_name: gh.author_name.clone(),
        author_email: gh.author_email.clone(),
        report,
        pack_id,
        base_sha256,
    })
}

/// `--dry-run`: the branch plan, the PR body and the files, in `plan_dir`.
pub fn write_dry_run(
    plan: &Plan,
    plan_dir: &Path,
    repo: Option<&Repo>,
    env: &GithubEnv,
    r: &mut SignatureResult,
) -> anyhow::Result<()> {
    let git_plan = match repo {
        Some(repo) => serde_json::to_value(repo.plan(&plan.publish(env))?)?,
        None => json!({"branch": plan.branch, "base_branch": plan.base_branch, "remote_url": null,
            "files": plan.files.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
            "message": plan.message, "author": format!("{} <{}>", plan.author_name, plan.author_email)}),
    };
    let doc = json!({
        "git": git_plan,
        "pull_request": {
            "repository": env.repository,
            "title": plan.title,
            "head": plan.branch,
            "base": plan.base_branch,
            "draft": plan.draft,
            "labels": plan.labels,
            "reviewers": plan.reviewers,
            "body_file": "pr-body.md",
        },
    });
    crate::files::write_text(
        &plan_dir.join("branch-plan.json"),
        &(serde_json::to_string_pretty(&doc)? + "\n"),
    )?;
    crate::files::write_text(&plan_dir.join("pr-body.md"), &plan.body)?;
    for (path, bytes) in &plan.files {
        crate::files::write_bytes(&plan_dir.join("files").join(path), bytes)?;
    }
    r.status = Status::DryRun;
    r.branch = Some(plan.branch.clone());
    r.reason = format!(
        "would open {} pull request: \"{}\" ({}); the plan and the PR body are in {}",
        if plan.draft { "a draft" } else { "a" },
        plan.title,
        plan.lift_phrase,
        plan_dir.display()
    );
    r.summary = format!(
        "### {}: dry run — {}\n\n{}\n",
        code(&r.name),
        inline(&plan.title),
        plan.body
    );
    Ok(())
}

/// What promptc says on its open pull request when the latest run no longer
/// supports it: the pull request's new title and body, and the comment.
pub struct Withdrawal {
    /// The new title.
    pub title: String,
    /// The new body.
    pub body: String,
    /// The comment saying what changed.
    pub comment: String,
}

impl Withdrawal {
    /// For a run that ended in `reason`, with the A/B report when there was one.
    pub fn new(name: &str, reason: &str, report: Option<&Report>, base_sha256: &str) -> Withdrawal {
        let why = format!(
            "promptc's latest run no longer supports this pull request: {reason}. It is a draft until a run supports it again; the branch still holds the earlier candidate."
        );
        let marker = crate::github::base_marker(base_sha256);
        let (title, body) = match report {
            Some(r) => (
                format!("[not supported] {}", r.title()),
                format!(
                    "{}\n\n---\n\n{}\n{marker}\n",
                    r.markdown().trim_end(),
                    inline(&why)
                ),
            ),
            None => (
                format!("[not supported] {name}: no candidate beats today's pack"),
                format!("{}\n{marker}\n", inline(&why)),
            ),
        };
        Withdrawal {
            title: crate::secret::redact(&title),
            body: crate::secret::redact(&body),
            comment: crate::secret::redact(&inline(&why)),
        }
    }
}

/// Marks promptc's open pull request for this signature stale, when there is
/// one, and says so on the result.
pub async fn withdraw(
    forge: &dyn Forge,
    branch: &str,
    w: &Withdrawal,
    r: &mut SignatureResult,
) -> anyhow::Result<()> {
    if let Some(pr) = forge
        .mark_stale(branch, &w.title, &w.body, &w.comment)
        .await?
    {
        let note = format!(
            "the open pull request {} is a draft now: the latest run no longer supports it",
            pr.url
        );
        r.annotate(crate::actions::Level::Warning, " stale", &note);
        r.notes.push(note);
        r.pr_url = Some(pr.url);
    }
    Ok(())
}

/// Opens or updates the pull request for the branch that was pushed (the
/// rolling branch, or a fresh one when the rolling branch carried someone
/// else's commit), and records it on the result.
pub async fn open_pr(
    forge: &dyn Forge,
    plan: &Plan,
    pushed_branch: &str,
    r: &mut SignatureResult,
) -> anyhow::Result<Pr> {
    let body = if pushed_branch != plan.branch {
        pr_body(
            &plan.report,
            pushed_branch,
            &plan.pack_id,
            &plan.base_sha256,
        )
    } else {
        plan.body.clone()
    };
    let pr = forge
        .upsert_pr(&PrContent {
            head_branch: pushed_branch,
            base_branch: &plan.base_branch,
            title: &plan.title,
            body: &body,
            draft: plan.draft,
            labels: &plan.labels,
            reviewers: &plan.reviewers,
        })
        .await?;
    let verb = if pr.created { "opened" } else { "updated" };
    r.status = if pr.created {
        Status::Opened
    } else {
        Status::Updated
    };
    r.branch = Some(pushed_branch.to_string());
    r.pr_url = Some(pr.url.clone());
    r.reason = format!(
        "{verb} {}: \"{}\" ({})",
        pr.url, plan.title, plan.lift_phrase
    );
    let reason = r.reason.clone();
    r.annotate(crate::actions::Level::Notice, "", &reason);
    r.summary = format!(
        "### {}: [{}]({}) {verb}\n\n{}\n",
        code(&r.name),
        inline(&plan.title),
        pr.url,
        plan.lift_phrase
    );
    Ok(pr)
}

/// Two versions of a published file that differ at most in when they were
/// made: a pack but for `provenance.created_at`. The committed report
/// (markdown) follows the pack: with the same pack and the same traces the
/// scores are the same, and only its run figures (calls, cache hits, wall
/// time) move, so it never forces a push on its own.
fn same_but_timestamp(path: &Path, old: &[u8], new: &[u8]) -> bool {
    if path.extension().is_some_and(|e| e == "md") {
        return true;
    }
    fn strip(bytes: &[u8]) -> Option<Value> {
        let mut v: Value = serde_json::from_slice(bytes).ok()?;
        if let Some(p) = v.get_mut("provenance").and_then(Value::as_object_mut) {
            p.remove("created_at");
        }
        Some(v)
    }
    match (strip(old), strip(new)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ab::Decision;
    use crate::ci::forge::MemoryForge;

    fn pack_id() -> crate::pack::PackId {
        crate::pack::PackId("sha256:00ff".into())
    }

    fn plan() -> Plan {
        let report = crate::ci::steps::tests::report(Decision::Open, 9.0);
        Plan {
            branch: "promptc/speak".into(),
            base_branch: "main".into(),
            title: report.title(),
            body: pr_body(&report, "promptc/speak", &pack_id(), "sha256:base"),
            message: String::new(),
            lift_phrase: lift_phrase(&report),
            draft: false,
            files: Vec::new(),
            expect: Vec::new(),
            labels: vec!["promptc".into()],
            reviewers: Vec::new(),
            author_name: "promptc".into(),
            author_email: "promptc@example.invalid".into(),
            report,
            pack_id: pack_id(),
            base_sha256: "sha256:base".into(),
        }
    }

    #[tokio::test]
    async fn the_first_run_opens_the_pull_request_and_the_next_updates_it() {
        let forge = MemoryForge::default();
        let plan = plan();
        let mut r = SignatureResult::new("speak", Status::Skipped, String::new());
        let pr = open_pr(&forge, &plan, &plan.branch, &mut r).await.unwrap();
        assert!(pr.created);
        assert_eq!(r.status, Status::Opened);
        assert!(
            r.reason.starts_with("opened memory://pull/1"),
            "{}",
            r.reason
        );
        let mut again = SignatureResult::new("speak", Status::Skipped, String::new());
        let pr2 = open_pr(&forge, &plan, &plan.branch, &mut again)
            .await
            .unwrap();
        assert_eq!((pr2.created, pr2.number), (false, pr.number));
        assert_eq!(again.status, Status::Updated);
        let prs = forge.prs();
        assert_eq!(prs.len(), 1, "one pull request per signature");
        assert_eq!(prs[0].base, "main");
        assert_eq!(prs[0].labels, vec!["promptc".to_string()]);
        assert!(prs[0].body.contains("+9.0"), "{}", prs[0].body);
        assert!(
            prs[0].body.contains("Pack id `sha256:00ff`"),
            "{}",
            prs[0].body
        );
    }

    #[tokio::test]
    async fn a_moved_branch_gets_its_own_pull_request_naming_it() {
        let forge = MemoryForge::default();
        let plan = plan();
        let mut r = SignatureResult::new("speak", Status::Skipped, String::new());
        open_pr(&forge, &plan, "promptc/speak-2", &mut r)
            .await
            .unwrap();
        let prs = forge.prs();
        assert_eq!(prs[0].head, "promptc/speak-2");
        assert!(prs[0].body.contains("`promptc/speak-2`"), "{}", prs[0].body);
        assert!(!prs[0].body.contains("`promptc/speak`"), "{}", prs[0].body);
        assert_eq!(r.branch.as_deref(), Some("promptc/speak-2"));
    }

    #[tokio::test]
    async fn a_withdrawal_drafts_the_open_pull_request_and_leaves_none_alone() {
        let forge = MemoryForge::default();
        let plan = plan();
        let w = Withdrawal::new(
            "speak",
            "A/B decided skip: +1.0 on 40 fresh turns",
            Some(&plan.report),
            "sha256:base",
        );
        let mut r = SignatureResult::new("speak", Status::Skipped, String::new());
        withdraw(&forge, &plan.branch, &w, &mut r).await.unwrap();
        assert!(
            forge.prs().is_empty() && r.pr_url.is_none(),
            "no open pull request: nothing to do"
        );
        open_pr(
            &forge,
            &plan,
            &plan.branch,
            &mut SignatureResult::new("speak", Status::Skipped, String::new()),
        )
        .await
        .unwrap();
        withdraw(&forge, &plan.branch, &w, &mut r).await.unwrap();
        let prs = forge.prs();
        assert!(prs[0].draft);
        assert!(
            prs[0].title.starts_with("[not supported] "),
            "{}",
            prs[0].title
        );
        assert!(
            prs[0]
                .body
                .contains("A/B decided skip: +1.0 on 40 fresh turns")
        );
        assert_eq!(forge.comments().len(), 1);
        assert_eq!(r.pr_url.as_deref(), Some("memory://pull/1"));
        assert_eq!(r.annotations[0].title, "promptc: speak stale");
    }

    #[test]
    fn the_body_records_the_base_pack_and_a_body_without_it_records_none() {
        let p = plan();
        assert_eq!(crate::github::recorded_base(&p.body), Some("sha256:base"));
        assert_eq!(crate::github::recorded_base("a body a person wrote"), None);
    }

    #[test]
    fn a_pack_differing_only_in_its_timestamp_is_the_same() {
        let a = br#"{"format":"promptc.pack/v2","provenance":{"created_at":"2026-11-01T00:00:00Z","x":1}}"#;
        let b = br#"{"format":"promptc.pack/v2","provenance":{"created_at":"2026-11-02T00:00:00Z","x":1}}"#;
        let c = br#"{"format":"promptc.pack/v2","provenance":{"created_at":"2026-11-02T00:00:00Z","x":2}}"#;
        let p = Path::new("packs/speak.json");
        assert!(same_but_timestamp(p, a, b));
        assert!(!same_but_timestamp(p, a, c));
    }
}
