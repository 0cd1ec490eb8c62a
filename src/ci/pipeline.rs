//! One signature through the pipeline: push filter, gate, optimize, prove,
//! decide, publish. The decisions are [`crate::ci::steps`]; this file only
//! fetches what they need and hands their results on.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::actions::Level;
use crate::app::optimize::OptimizeArgs;
use crate::app::{Context, Global, UsageError};
use crate::ci::env::GithubEnv;
use crate::ci::forge::Forge;
use crate::ci::looks::{self, Ledger};
use crate::ci::publish;
use crate::ci::result::{CiArgs, SignatureResult};
use crate::ci::steps::{self, PushCheck};
use crate::git::{GitError, Repo};
use crate::markdown::code;
use crate::report::inline;

/// What every signature's run shares.
pub(crate) struct Pipeline<'a> {
    pub env: &'a GithubEnv,
    pub event: &'a Value,
    pub repo: Option<&'a Repo>,
    pub forge: Option<&'a dyn Forge>,
    pub base_branch: &'a str,
    pub out: &'a Path,
    pub args: &'a CiArgs,
}

impl Pipeline<'_> {
    /// Runs one signature to its result: what today's pack did on its
    /// traffic, then the loop that may replace it.
    pub async fn run(&self, g: &Global, name: &str) -> anyhow::Result<SignatureResult> {
        let ctx = Context::load(g)?;
        let branch = format!("{}{}", ctx.config.github.branch_prefix, ctx.name);
        let forge = self.forge.filter(|_| !self.args.dry_run);
        let check = crate::ci::realized::check(&ctx, forge, &branch).await;
        let mut r = self.optimize_and_publish(ctx, name).await?;
        crate::ci::realized::attach(check, &mut r);
        Ok(r)
    }

    /// Push filter, gate, optimize, prove, decide, publish.
    async fn optimize_and_publish(
        &self,
        mut ctx: Context,
        name: &str,
    ) -> anyhow::Result<SignatureResult> {
        self.args.budget.apply(&mut ctx.config.budget);
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
                return Ok(steps::no_traces(name, &e.to_string()));
            }
            Err(e) => return Err(e),
        };
        let env = self.env;
        if let Some(r) = steps::other_branch(
            name,
            env.event_name.as_deref(),
            env.git_ref.as_deref(),
            self.base_branch,
        ) {
            return Ok(r);
        }
        let mut notes = match self.push_check(name, &files, cutoff)? {
            PushCheck::Run(notes) => notes,
            PushCheck::Skip(r) => return Ok(*r),
        };
        self.close_if_base_changed(&ctx, &base.sha256, &mut notes)
            .await?;
        let stats = crate::traces::stats::compute(&files, &ctx.stats_input(cutoff))?;
        if let Some(r) = steps::gate(name, &stats, cutoff, &notes) {
            return Ok(r);
        }
        let wait = ctx.config.gate.min_turns_on_current_pack;
        if wait > 0 {
            let served = crate::app::realized::served(&ctx)?;
            if let Some(r) = steps::current_pack_gate(name, served, wait, &notes) {
                return Ok(r);
            }
        }

        // The looks so far, before any LM is paid for: without the count, no decision.
        let ledger = self.ledger(name, &base.sha256)?;

        // Optimize, on one client for the optimizer and the A/B: the budget caps the whole run.
        let run_dir = self.out.join("runs").join(name);
        let lm = crate::lm::LmClient::from_config(&ctx.config)?;
        let args = OptimizeArgs {
            optimizer: self.args.optimizer,
            smoke: self.args.smoke,
            per_persona: false,
            out: Some(run_dir.clone()),
            resume: false,
        };
        let opt = crate::app::optimize::run(&ctx, &args, &lm).await?;
        crate::console::write(crate::console::Stream::Stderr, &opt.human());
        let mut warnings = Vec::new();
        let stopped = steps::optimized(name, &opt, &mut notes, &mut warnings, &run_dir);
        // The budget's warning comes first, as it happened first.
        let warn = |mut r: SignatureResult| {
            let later = std::mem::take(&mut r.annotations);
            for w in &warnings {
                r.annotate(Level::Warning, " budget", w);
            }
            r.annotations.extend(later);
            r
        };
        if let Some(mut r) = stopped {
            self.withdraw(&ctx, &base.sha256, None, &mut r).await?;
            return Ok(warn(r));
        }

        // Prove it on fresh held-out traces, as the next look at today's pack.
        let pack_path = ctx.resolve(&ctx.sig_cfg.pack);
        let cand = crate::pack::load(&opt.pack, Some(&ctx.signature))?.pack;
        let candidate_id = cand.id().0;
        let traces = cand
            .prompt()
            .and_then(|p| p.provenance.trace_fingerprint.clone())
            .unwrap_or_default();
        let (look, repeat) = ledger
            .as_ref()
            .map_or((1, false), |l| l.look_for(&candidate_id, &traces));
        let (report, _usage) =
            crate::app::ab::compare_with(&ctx, &pack_path, &opt.pack, &lm, look).await?;
        // Beside the optimizer's own report.json, which the A/B report's Run
        // section reads: neither overwrites the other.
        crate::app::ab::write_report_as(&report, &run_dir, "ab-report")?;
        match (&ledger, self.repo) {
            (Some(_), Some(_)) if repeat => notes.push(format!(
                "the same candidate on the same traces as look {look}: the same look again, not a new one"
            )),
            (Some(ledger), Some(repo)) => {
                let gh = &ctx.config.github;
                let record = looks::record_of(
                    &report.verdict,
                    &base.sha256,
                    (&candidate_id, &traces),
                    env.sha.as_deref(),
                );
                ledger.record(repo, env, (&gh.author_name, &gh.author_email), record)?;
            }
            _ => notes.push(
                "a dry run decides as the first look at today's pack and records no look".into(),
            ),
        }
        let mut r = match steps::proven(name, &report, notes, &run_dir) {
            steps::Proven::Publish(r) => r,
            steps::Proven::Skip(mut r) => {
                self.withdraw(&ctx, &base.sha256, Some(&report), &mut r)
                    .await?;
                return Ok(warn(r));
            }
        };

        // Publish.
        let plan = publish::plan(
            &ctx,
            report,
            &pack_path,
            &opt.pack,
            self.repo,
            self.base_branch,
        )?;
        if self.args.dry_run {
            let plan_dir = self.out.join("dry-run").join(name);
            publish::write_dry_run(&plan, &plan_dir, self.repo, env, &mut r)?;
            return Ok(warn(r));
        }
        let (Some(repo), Some(forge)) = (self.repo, self.forge) else {
            return Err(
                UsageError("publishing needs a git repository and a GitHub client".into()).into(),
            );
        };
        // A candidate a person already turned down is not proposed again.
        if rejected(forge, &plan, &mut r).await? {
            return Ok(warn(r));
        }
        let published = match repo.publish(&plan.publish(env)) {
            Ok(p) => p,
            Err(e @ GitError::Stale { .. }) => {
                let why = e.to_string();
                r.annotate(Level::Warning, " not published", &why);
                r.reason = format!("not published: {why}");
                r.summary = format!("### {}: not published\n\n{}\n", code(name), inline(&why));
                return Ok(warn(r));
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(why) = &published.moved {
            r.annotate(Level::Warning, " branch", why);
            r.notes.push(why.clone());
        }
        publish::open_pr(forge, &plan, &published.branch, &mut r).await?;
        Ok(warn(r))
    }

    /// The look ledger of a signature (none in a dry run, which neither
    /// reads nor records looks).
    fn ledger(&self, name: &str, base_sha256: &str) -> anyhow::Result<Option<Ledger>> {
        if self.args.dry_run {
            return Ok(None);
        }
        let Some(repo) = self.repo else {
            return Err(
                UsageError("publishing needs a git repository and a GitHub client".into()).into(),
            );
        };
        Ok(Some(Ledger::read(repo, self.env, name, base_sha256)?))
    }

    /// A run that no longer supports promptc's open pull request turns it
    /// into a draft with the new evidence (nothing is looked up in a dry run).
    async fn withdraw(
        &self,
        ctx: &Context,
        base_sha256: &str,
        report: Option<&crate::report::Report>,
        r: &mut SignatureResult,
    ) -> anyhow::Result<()> {
        let Some(forge) = self.forge.filter(|_| !self.args.dry_run) else {
            return Ok(());
        };
        let branch = format!("{}{}", ctx.config.github.branch_prefix, ctx.name);
        let w = publish::Withdrawal::new(&ctx.name, &r.reason, report, base_sha256);
        publish::withdraw(forge, &branch, &w, r).await
    }

    /// promptc's open pull request was built against another version of
    /// today's pack (someone changed it on the default branch since): merging
    /// it would undo that change, so it is closed with a comment saying why.
    async fn close_if_base_changed(
        &self,
        ctx: &Context,
        base_sha256: &str,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let Some(forge) = self.forge.filter(|_| !self.args.dry_run) else {
            return Ok(());
        };
        let branch = format!("{}{}", ctx.config.github.branch_prefix, ctx.name);
        let comment = format!(
            "Closed by promptc: this pull request's candidate was built against another version of {} than the default branch holds now, so merging it would undo that change. The next run that clears the gate proposes a candidate built on the current pack.",
            crate::markdown::code(&ctx.sig_cfg.pack.display().to_string())
        );
        if let Some(pr) = forge
            .close_if_based_elsewhere(&branch, base_sha256, &comment)
            .await?
        {
            notes.push(format!(
                "closed {}: it was built against another version of today's pack",
                pr.url
            ));
        }
        Ok(())
    }

    /// On a push: which of this signature's trace files it changed.
    fn push_check(
        &self,
        name: &str,
        files: &[PathBuf],
        cutoff: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<PushCheck, GitError> {
        let (Some("push"), Some(repo)) = (self.env.event_name.as_deref(), self.repo) else {
            return Ok(PushCheck::Run(Vec::new()));
        };
        let before = self.event["before"].as_str();
        let after = self.event["after"].as_str().or(self.env.sha.as_deref());
        let range = before.zip(after);
        let changed = range.map(|(b, a)| repo.changed_files(b, a));
        let ours: Vec<PathBuf> = files.iter().filter_map(|f| repo.relative(f)).collect();
        steps::push_filter(name, range, changed, &ours, cutoff)
    }
}

/// Whether a person closed a pull request for this same candidate without
/// merging it; if so, the result says which and why nothing is proposed.
async fn rejected(
    forge: &dyn Forge,
    plan: &publish::Plan,
    r: &mut SignatureResult,
) -> anyhow::Result<bool> {
    let Some(pr) = forge.rejected(&plan.branch, &plan.pack_id.0).await? else {
        return Ok(false);
    };
    r.reason = format!(
        "a person closed {} for this same candidate (pack id {}) without merging it; promptc does not propose it again",
        pr.url, plan.pack_id
    );
    let reason = r.reason.clone();
    r.annotate(Level::Notice, " skipped", &reason);
    r.summary = format!("### {}: skipped\n\n{}\n", code(&r.name), inline(&reason));
    Ok(true)
}
