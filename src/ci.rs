//! The pipeline behind `promptc ci`, and the GitHub context it shares with
//! `promptc review` (see [`crate::review`]).
//!
//! Per signature: which traces are new (and, on a push, whether the push
//! touched this signature's trace files), the gate, the optimizer, the A/B on
//! fresh held-out traces, the decision, then publishing: promptc's rolling
//! branch (git2) and one pull request (octocrab), or with `--dry-run` the
//! branch plan and the PR body written to a folder.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use crate::ab::Decision;
use crate::actions::{Actions, Level};
use crate::app::optimize::OptimizeArgs;
use crate::app::{Context, Global, Output, UsageError};
use crate::config::{Config, DraftPolicy, OptimizerName};
use crate::git::{GitError, Publish, Repo};
use crate::github::{Github, PrContent};
use crate::lm::secret::Secret;
use crate::pack;
use crate::report::Report;

/// Where promptc runs: what GitHub Actions puts in the environment, each
/// overridable by a flag.
#[derive(Debug, Clone, Default)]
pub struct GithubEnv {
    /// REST API root (`https://api.github.com`, or `https://HOST/api/v3`).
    pub api_url: String,
    /// `owner/name`.
    pub repository: Option<String>,
    /// `push`, `workflow_dispatch`, `pull_request`, …
    pub event_name: Option<String>,
    /// The event's JSON payload.
    pub event_path: Option<PathBuf>,
    /// The commit the run is for.
    pub sha: Option<String>,
    /// The ref the run is for.
    pub git_ref: Option<String>,
    /// The token for pushing and the API.
    pub token: Option<Secret>,
    /// The default branch (else the event's repository, else the remote's HEAD, else `main`).
    pub base_branch: Option<String>,
    /// The remote to push to.
    pub remote: String,
    /// The pull request to comment on (review; else the event's).
    pub pr: Option<u64>,
}

impl GithubEnv {
    /// The API client, or a usage error naming what `doing` lacks.
    pub(crate) fn client(&self, doing: &str) -> anyhow::Result<Github> {
        let token = self.token.as_ref().ok_or_else(|| {
            UsageError(format!(
                "{doing} needs a token: set GITHUB_TOKEN or pass --token (or use --dry-run)"
            ))
        })?;
        let repository = self.repository.as_deref().ok_or_else(|| {
            UsageError(format!(
                "{doing} needs the repository: set GITHUB_REPOSITORY or pass --repository"
            ))
        })?;
        Ok(Github::new(&self.api_url, repository, token)?)
    }
}

/// What `ci` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct CiArgs {
    /// Plan and write, push and post nothing.
    pub dry_run: bool,
    /// Where run folders, reports and dry-run plans go (default `.promptc/ci` beside the config).
    pub out: Option<PathBuf>,
    /// The optimizer (default: the config's).
    pub optimizer: Option<OptimizerName>,
    /// The smoke preset.
    pub smoke: bool,
    /// Caps that replace the config's `budget:` for this run.
    pub budget: BudgetCaps,
}

/// Budget caps given on the command line (the action's inputs).
#[derive(Debug, Clone, Default)]
pub struct BudgetCaps {
    /// LM calls.
    pub max_calls: Option<u64>,
    /// US dollars.
    pub max_cost_usd: Option<f64>,
    /// Wall-clock minutes.
    pub max_wall_minutes: Option<f64>,
}

impl BudgetCaps {
    /// Replaces the config's caps with the ones given.
    pub fn apply(&self, b: &mut crate::config::BudgetConfig) {
        if self.max_calls.is_some() {
            b.max_calls = self.max_calls;
        }
        if self.max_cost_usd.is_some() {
            b.max_cost_usd = self.max_cost_usd;
        }
        if self.max_wall_minutes.is_some() {
            b.max_wall_minutes = self.max_wall_minutes;
        }
    }
}

/// How one signature's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The gate was not met: too few new traces.
    Gated,
    /// Ran, and decided not to publish.
    Skipped,
    /// A new pull request.
    Opened,
    /// The open pull request was updated.
    Updated,
    /// `--dry-run`: the plan is in the out folder.
    DryRun,
    /// Something went wrong (the error is in `reason`).
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Gated => "gated",
            Status::Skipped => "skipped",
            Status::Opened => "opened",
            Status::Updated => "updated",
            Status::DryRun => "dry-run",
            Status::Failed => "failed",
        }
    }

    /// Which signature's result the single-valued action outputs describe.
    fn rank(self) -> u8 {
        match self {
            Status::Failed => 5,
            Status::Opened | Status::Updated => 4,
            Status::DryRun => 3,
            Status::Skipped => 2,
            Status::Gated => 1,
        }
    }
}

/// One signature's result.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureResult {
    /// The signature.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// The A/B decision, when there was an A/B.
    pub decision: Option<Decision>,
    /// Mean lift on held-out, 0..100 points.
    pub lift: Option<f64>,
    /// Its confidence interval.
    pub ci95: Option<(f64, f64)>,
    /// Held-out examples compared.
    pub n: Option<usize>,
    /// The pull request.
    pub pr_url: Option<String>,
    /// The branch pushed or planned.
    pub branch: Option<String>,
    /// Why it ended so, in a sentence or a few.
    pub reason: String,
    /// What else a reader should know (fallbacks, budget, moved branch).
    pub notes: Vec<String>,
    /// The run folder (report, pack, trial log).
    pub run_dir: Option<PathBuf>,
    #[serde(skip)]
    summary: String,
    /// The exit code a failure calls for (2: the input is at fault).
    #[serde(skip)]
    exit: i32,
}

impl SignatureResult {
    fn new(name: &str, status: Status, reason: String) -> SignatureResult {
        SignatureResult {
            name: name.into(),
            status,
            decision: None,
            lift: None,
            ci95: None,
            n: None,
            pr_url: None,
            branch: None,
            reason,
            notes: Vec::new(),
            run_dir: None,
            summary: String::new(),
            exit: 0,
        }
    }
}

/// The event's payload, or `null` when there is none.
pub(crate) fn event_payload(env: &GithubEnv) -> anyhow::Result<Value> {
    let Some(path) = &env.event_path else {
        return Ok(Value::Null);
    };
    let text = crate::files::read_text(path, 64 << 20)
        .map_err(|e| UsageError(format!("the event payload: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "{}: the event payload is not JSON: {e}",
            path.display()
        ))
        .into()
    })
}

/// Masks every secret promptc knows of before anything prints.
/// The runner's channels and the config, with every secret masked before
/// anything can print: the token first, then the LM keys the config names.
pub(crate) fn start(
    g: &Global,
    env: &GithubEnv,
    json_out: bool,
) -> anyhow::Result<(Config, Actions)> {
    let actions = Actions::from_env(json_out);
    if let Some(t) = &env.token {
        actions.mask(t.expose());
    }
    let mut config = Config::load(&g.config)?;
    config.apply_lm_overrides(&g.lm);
    mask_lm_keys(&actions, &config);
    Ok((config, actions))
}

fn mask_lm_keys(actions: &Actions, config: &Config) {
    for lm in [&config.lms.task, &config.lms.judge, &config.lms.proposer] {
        if let Some(var) = crate::lm::client::key_env(lm)
            && let Ok(v) = std::env::var(&var)
        {
            crate::lm::secret::register(&v);
            actions.mask(&v);
        }
    }
}

fn default_branch(env: &GithubEnv, event: &Value, repo: Option<&Repo>) -> String {
    if let Some(b) = &env.base_branch {
        return b.clone();
    }
    if let Some(b) = event["repository"]["default_branch"].as_str() {
        return b.into();
    }
    repo.and_then(|r| r.remote_head(&env.remote))
        .unwrap_or_else(|| "main".into())
}

/// The config's folder, `.` when the config path has none.
pub(crate) fn root_dir(config: &Config) -> PathBuf {
    let r = config.root();
    if r.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        r.to_path_buf()
    }
}

pub(crate) fn out_dir(config: &Config, out: Option<&Path>) -> PathBuf {
    out.map(Path::to_path_buf)
        .unwrap_or_else(|| config.root().join(".promptc/ci"))
}

/// `promptc ci`.
pub async fn ci(
    g: &Global,
    env: &GithubEnv,
    args: &CiArgs,
    json_out: bool,
) -> anyhow::Result<Output> {
    let (config, actions) = start(g, env, json_out)?;
    let names: Vec<String> = match &g.signature {
        Some(s) => vec![config.select_signature(Some(s))?.0.to_string()],
        None => config.signatures.keys().cloned().collect(),
    };
    let event = event_payload(env)?;
    let repo = Repo::discover(&root_dir(&config));
    let repo = match repo {
        Ok(r) => Some(r),
        Err(e) if args.dry_run => {
            tracing::info!("{e}; the dry run plans without git");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let base_branch = default_branch(env, &event, repo.as_ref());
    let out = out_dir(&config, args.out.as_deref());
    let github = if args.dry_run {
        None
    } else {
        Some(env.client("publishing")?)
    };

    let mut results = Vec::new();
    for name in &names {
        let g1 = Global {
            signature: Some(name.clone()),
            ..g.clone()
        };
        let step = Step {
            env,
            event: &event,
            repo: repo.as_ref(),
            github: github.as_ref(),
            base_branch: &base_branch,
            out: &out,
            args,
            actions: &actions,
        };
        let r = match step.run(&g1, name).await {
            Ok(r) => r,
            Err(e) => {
                let msg = crate::lm::secret::redact(&format!("{e:#}"));
                actions.annotate(Level::Error, &format!("promptc: {name}"), &msg);
                let mut r = SignatureResult::new(name, Status::Failed, msg.clone());
                r.exit = crate::app::exit_code(&e);
                r.summary = format!(
                    "### {}: failed\n\n{}\n",
                    crate::markdown::code(name),
                    crate::report::inline(&msg)
                );
                r
            }
        };
        results.push(r);
    }
    finish_ci(&actions, results, args)
}

fn finish_ci(
    actions: &Actions,
    results: Vec<SignatureResult>,
    args: &CiArgs,
) -> anyhow::Result<Output> {
    let lead = results.iter().max_by_key(|r| r.status.rank());
    if let Some(r) = lead {
        let mut outputs = vec![
            ("status", r.status.as_str().to_string()),
            (
                "decision",
                r.decision
                    .map(|d| d.as_str().to_string())
                    .unwrap_or_default(),
            ),
            (
                "lift",
                r.lift.map(|l| format!("{l:.2}")).unwrap_or_default(),
            ),
            ("pr-url", r.pr_url.clone().unwrap_or_default()),
        ];
        outputs.push((
            "signatures",
            serde_json::to_string(&results).unwrap_or_default(),
        ));
        actions.set_outputs(&outputs)?;
    }
    let mut summary = String::from("## promptc\n\n");
    for r in &results {
        summary.push_str(&r.summary);
        summary.push('\n');
    }
    actions.summary(&summary)?;

    let mut human = String::new();
    for r in &results {
        let _ = writeln!(human, "{}: {} — {}", r.name, r.status.as_str(), r.reason);
        for n in &r.notes {
            let _ = writeln!(human, "  note: {n}");
        }
        if let Some(u) = &r.pr_url {
            let _ = writeln!(human, "  pull request: {u}");
        }
        if let Some(d) = &r.run_dir {
            let _ = writeln!(human, "  run folder: {}", d.display());
        }
    }
    let exit = results.iter().map(|r| r.exit).max().unwrap_or(0);
    let mut out = Output::ok(
        json!({"signatures": results, "dry_run": args.dry_run}),
        human,
    );
    out.exit = exit;
    Ok(out)
}

/// What every signature's run shares.
struct Step<'a> {
    env: &'a GithubEnv,
    event: &'a Value,
    repo: Option<&'a Repo>,
    github: Option<&'a Github>,
    base_branch: &'a str,
    out: &'a Path,
    args: &'a CiArgs,
    actions: &'a Actions,
}

impl Step<'_> {
    async fn run(&self, g: &Global, name: &str) -> anyhow::Result<SignatureResult> {
        // The signature name as markdown: a code span, whatever it holds.
        let name_md = crate::markdown::code(name);
        let mut ctx = Context::load(g)?;
        self.args.budget.apply(&mut ctx.config.budget);
        let pack_path = ctx.resolve(&ctx.sig_cfg.pack);
        let base = ctx.current_pack()?;
        for w in &base.warnings {
            tracing::warn!("{w}");
        }
        let cutoff = base.pack.train_cutoff();
        let files = match ctx.trace_files(&[]) {
            Ok(f) => f,
            // A signature configured before its first traces: nothing to do yet.
            Err(e)
                if matches!(
                    e.downcast_ref::<crate::traces::TraceError>(),
                    Some(crate::traces::TraceError::NoFiles { .. })
                ) =>
            {
                let reason = format!("gate not met: {e}");
                self.actions
                    .annotate(Level::Notice, &format!("promptc: {name} gated"), &reason);
                let mut r = SignatureResult::new(name, Status::Gated, reason.clone());
                r.summary = format!(
                    "### {}: gated\n\n{}\n",
                    crate::markdown::code(name),
                    crate::report::inline(&reason)
                );
                return Ok(r);
            }
            Err(e) => return Err(e),
        };
        let mut notes = Vec::new();

        // A push elsewhere than the default branch: the pull request would be
        // based on traces the default branch does not have.
        if self.env.event_name.as_deref() == Some("push")
            && let Some(r) = self.env.git_ref.as_deref()
            && r.starts_with("refs/heads/")
            && r != format!("refs/heads/{}", self.base_branch)
        {
            let reason = format!(
                "this push is to {r}, not the default branch `{}`; promptc optimizes from the default branch's traces",
                self.base_branch
            );
            let mut r = SignatureResult::new(name, Status::Skipped, reason.clone());
            r.summary = format!(
                "### {name_md}: skipped\n\n{}.\n",
                crate::report::inline(&reason)
            );
            return Ok(r);
        }

        // On a push, run only when the push touched this signature's traces.
        if self.env.event_name.as_deref() == Some("push")
            && let Some(repo) = self.repo
        {
            let before = self.event["before"].as_str();
            let after = self.event["after"].as_str().or(self.env.sha.as_deref());
            match (before, after) {
                (Some(b), Some(a)) => match repo.changed_files(b, a) {
                    Ok(changed) => {
                        let ours: Vec<PathBuf> = files
                            .iter()
                            .filter_map(|f| repo.relative(f))
                            .filter(|f| changed.contains(f))
                            .collect();
                        if ours.is_empty() {
                            let reason = format!(
                                "this push ({}..{}) changed no trace file of `{name}`",
                                short(b),
                                short(a)
                            );
                            let mut r = SignatureResult::new(name, Status::Skipped, reason.clone());
                            r.summary = format!(
                "### {name_md}: skipped\n\n{}.\n",
                crate::report::inline(&reason)
            );
                            return Ok(r);
                        }
                        notes.push(format!(
                            "this push changed {}",
                            ours.iter()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    Err(GitError::MissingHistory { .. }) => notes.push(format!(
                        "the push's previous commit is not in this checkout (a depth-1 clone), so new traces are those after the pack's train_cutoff ({})",
                        cutoff
                            .map(|c| c.to_rfc3339())
                            .unwrap_or_else(|| "none yet: every trace is new".into())
                    )),
                    Err(e) => return Err(e.into()),
                },
                _ => notes.push(match cutoff {
                    Some(c) => format!(
                        "the push event names no before/after commits; new traces are those after the pack's train_cutoff ({})",
                        c.to_rfc3339()
                    ),
                    None => "the push event names no before/after commits, and the pack has no train_cutoff yet: every trace is new".into(),
                }),
            }
        }

        // The gate.
        let stats = crate::traces::stats::compute(&files, &ctx.stats_input(cutoff))?;
        if !stats.gate.met {
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
            self.actions
                .annotate(Level::Notice, &format!("promptc: {name} gated"), &reason);
            let mut r = SignatureResult::new(name, Status::Gated, reason.clone());
            r.summary = format!("### {name_md}: gated\n\n{}\n", bullets(&stats.gate.reasons));
            r.notes = notes;
            return Ok(r);
        }

        // Optimize.
        let run_dir = self.out.join("runs").join(name);
        // One client for the optimizer and the A/B: the budget caps the whole run.
        let lm = crate::lm::LmClient::from_config(&ctx.config)?;
        let opt = crate::app::optimize::run(
            &ctx,
            &OptimizeArgs {
                optimizer: self.args.optimizer,
                smoke: self.args.smoke,
                per_persona: false,
                out: Some(run_dir.clone()),
                resume: false,
            },
            &lm,
        )
        .await?;
        crate::console::write(crate::console::Stream::Stderr, &opt.human());
        if let Some(why) = &opt.stopped {
            let n = format!(
                "the optimizer stopped early: budget exhausted ({why}); the best candidate so far was tested"
            );
            self.actions
                .annotate(Level::Warning, &format!("promptc: {name} budget"), &n);
            notes.push(n);
        }
        let (baseline_val, best_val) = (opt.baseline_val, opt.best_val);
        if !opt.improved {
            let reason = format!(
                "no candidate beat today's pack on validation ({baseline_val:.1} today, {best_val:.1} best); nothing to propose"
            );
            self.actions
                .annotate(Level::Notice, &format!("promptc: {name} skipped"), &reason);
            let mut r = SignatureResult::new(name, Status::Skipped, reason.clone());
            r.summary = format!(
                "### {name_md}: skipped\n\n{}.\n",
                crate::report::inline(&reason)
            );
            r.notes = notes;
            r.run_dir = Some(run_dir);
            return Ok(r);
        }
        let cand_path = opt.pack.clone();

        // A/B on fresh held-out traces.
        let (report, _usage) =
            crate::app::ab::compare_with(&ctx, &pack_path, &cand_path, &lm).await?;
        // Beside the optimizer's own report.json, which the A/B report's Run
        // section reads: neither overwrites the other.
        crate::app::ab::write_report_as(&report, &run_dir, "ab-report")?;
        let v = &report.verdict;
        let mut r = SignatureResult::new(name, Status::Skipped, String::new());
        r.decision = Some(v.decision);
        r.lift = Some(v.stats.lift);
        r.ci95 = Some(v.stats.ci);
        r.n = Some(v.stats.n);
        r.run_dir = Some(run_dir.clone());
        r.notes = notes;
        let lift_phrase = format!(
            "{:+.1} on {} fresh turns, {:.0}% CI [{:+.1}, {:+.1}], {}",
            v.stats.lift,
            v.stats.n,
            v.stats.confidence * 100.0,
            v.stats.ci.0,
            v.stats.ci.1,
            p_phrase(v.stats.p_value)
        );
        if v.decision == Decision::Skip {
            r.reason = format!("A/B decided skip: {lift_phrase} ({})", v.reasons.join("; "));
            self.actions.annotate(
                Level::Notice,
                &format!("promptc: {name} skipped"),
                &r.reason,
            );
            r.summary = format!(
                "### {name_md}: skipped\n\n{}\n\n<details><summary>The A/B report</summary>\n\n{}\n</details>\n",
                r.reason,
                report.markdown()
            );
            return Ok(r);
        }

        // The pack to publish carries its own A/B evidence.
        let mut cand = pack::load(&cand_path, Some(&ctx.signature))?.pack;
        if let Some(p) = cand.prompt_mut() {
            p.provenance.ab = Some(json!({
                "n": v.stats.n,
                "base": v.stats.base,
                "candidate": v.stats.candidate,
                "lift": v.stats.lift,
                "ci95": [v.stats.ci.0, v.stats.ci.1],
                "confidence": v.stats.confidence,
                "p_value": v.stats.p_value,
                "decision": v.decision,
                "heldout_threads": report.heldout.threads,
            }));
        }
        cand.refresh_rendered();
        // Redacted again here: these bytes are committed and pushed.
        let pack_bytes = crate::secret::redact(&cand.to_json()).into_bytes();
        crate::files::write_bytes(&cand_path, &pack_bytes)?;

        let draft = match ctx.config.github.draft {
            DraftPolicy::Always => true,
            DraftPolicy::Never => false,
            DraftPolicy::Verdict => v.decision == Decision::Draft,
        };
        let branch = format!("{}{name}", ctx.config.github.branch_prefix);
        let title = report.title();
        let mut report = report;
        report.reproduce = reproduce(&ctx, &pack_path, &branch, self.repo);
        let body = pr_body(&report, &branch);
        let message = commit_message(&report, &lift_phrase);

        let rel = |p: &Path| -> anyhow::Result<PathBuf> {
            match self.repo {
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
        let pack_rel = rel(&pack_path)?;
        // The pack as this run read it (none: the first pack is being added).
        let expect = vec![(
            pack_rel.clone(),
            pack_path
                .exists()
                .then(|| std::fs::read(&pack_path))
                .transpose()?,
        )];
        let mut files = vec![(pack_rel, pack_bytes)];
        if let Some(rp) = &ctx.config.github.report_path {
            let rp = rp.to_string_lossy().replace("{signature}", name);
            files.push((
                rel(&ctx.resolve(Path::new(&rp)))?,
                crate::secret::redact(&report.markdown()).into_bytes(),
            ));
        }

        let publish = Publish {
            remote: &self.env.remote,
            base_branch: self.base_branch,
            branch: &branch,
            files: &files,
            message: &message,
            author_name: &ctx.config.github.author_name,
            author_email: &ctx.config.github.author_email,
            token: self.env.token.as_ref(),
            equivalent: Some(&same_but_timestamp),
            expect: &expect,
        };
        if self.args.dry_run {
            let plan_dir = self.out.join("dry-run").join(name);
            let git_plan = match self.repo {
                Some(repo) => serde_json::to_value(repo.plan(&publish)?)?,
                None => {
                    json!({"branch": branch, "base_branch": self.base_branch, "remote_url": null,
                    "files": files.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
                    "message": message, "author": format!("{} <{}>", ctx.config.github.author_name, ctx.config.github.author_email)})
                }
            };
            let plan = json!({
                "git": git_plan,
                "pull_request": {
                    "repository": self.env.repository,
                    "title": title,
                    "head": branch,
                    "base": self.base_branch,
                    "draft": draft,
                    "labels": ctx.config.github.labels,
                    "reviewers": ctx.config.github.reviewers,
                    "body_file": "pr-body.md",
                },
            });
            crate::files::write_text(
                &plan_dir.join("branch-plan.json"),
                &(serde_json::to_string_pretty(&plan)? + "\n"),
            )?;
            crate::files::write_text(&plan_dir.join("pr-body.md"), &body)?;
            for (path, bytes) in &files {
                crate::files::write_bytes(&plan_dir.join("files").join(path), bytes)?;
            }
            r.status = Status::DryRun;
            r.branch = Some(branch.clone());
            r.reason = format!(
                "would open {} pull request: \"{title}\" ({lift_phrase}); the plan and the PR body are in {}",
                if draft { "a draft" } else { "a" },
                plan_dir.display()
            );
            r.summary = format!(
                "### {name_md}: dry run — {}\n\n{body}\n",
                crate::report::inline(&title)
            );
            return Ok(r);
        }

        let (Some(repo), Some(github)) = (self.repo, self.github) else {
            return Err(
                UsageError("publishing needs a git repository and a GitHub client".into()).into(),
            );
        };
        let published = match repo.publish(&publish) {
            Ok(p) => p,
            Err(e @ GitError::Stale { .. }) => {
                let why = e.to_string();
                self.actions.annotate(
                    Level::Warning,
                    &format!("promptc: {name} not published"),
                    &why,
                );
                r.reason = format!("not published: {why}");
                r.summary = format!(
                    "### {name_md}: not published\n\n{}\n",
                    crate::report::inline(&why)
                );
                return Ok(r);
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(why) = &published.moved {
            self.actions
                .annotate(Level::Warning, &format!("promptc: {name} branch"), why);
            r.notes.push(why.clone());
        }
        let body = if published.branch != branch {
            pr_body(&report, &published.branch)
        } else {
            body
        };
        let pr = github
            .upsert_pr(&PrContent {
                head_branch: &published.branch,
                base_branch: self.base_branch,
                title: &title,
                body: &body,
                draft,
                labels: &ctx.config.github.labels,
                reviewers: &ctx.config.github.reviewers,
            })
            .await?;
        r.status = if pr.created {
            Status::Opened
        } else {
            Status::Updated
        };
        r.branch = Some(published.branch.clone());
        r.pr_url = Some(pr.url.clone());
        r.reason = format!(
            "{} {}: \"{title}\" ({lift_phrase})",
            if pr.created { "opened" } else { "updated" },
            pr.url
        );
        self.actions
            .annotate(Level::Notice, &format!("promptc: {name}"), &r.reason);
        r.summary = format!(
            "### {name_md}: [{}]({}) {}\n\n{lift_phrase}\n",
            crate::report::inline(&title),
            pr.url,
            if pr.created { "opened" } else { "updated" }
        );
        Ok(r)
    }
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

/// How a reviewer re-runs the A/B from the pull request's branch.
fn reproduce(ctx: &Context, pack_path: &Path, branch: &str, repo: Option<&Repo>) -> String {
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
fn p_phrase(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

pub(crate) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

fn bullets(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("- {}\n", crate::report::inline(l)))
        .collect()
}

/// The pull request body: the report, then how the branch behaves. Any
/// registered secret an LM echoed is redacted.
fn pr_body(report: &Report, branch: &str) -> String {
    crate::lm::secret::redact(&format!(
        "{}\n\n---\n\nThis is promptc's rolling branch {}: the next run that clears the gate replaces its commit and updates this description. promptc never rewrites a branch that carries someone else's commit; push a fix-up here and promptc will use a fresh branch next time.\n",
        report.markdown().trim_end(),
        crate::markdown::code(branch)
    ))
}

/// A conventional-commit message with the evidence in the body.
fn commit_message(report: &Report, lift_phrase: &str) -> String {
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
