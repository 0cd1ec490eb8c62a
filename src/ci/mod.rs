//! The pipeline behind `promptc ci`, and the CI context it shares with
//! `promptc review` (see `crate::review`).
//!
//! Per signature: which traces are new (and, on a push, whether the push
//! touched this signature's trace files), the gate, the optimizer, the A/B on
//! fresh held-out traces, the decision, then publishing: promptc's rolling
//! branch (git2) and one pull request through a [`Forge`], or with
//! `--dry-run` the branch plan and the PR body written to a folder.
//!
//! - `env`: the CI host's facts and the secrets masked before anything prints;
//! - `steps`: the decisions, pure and unit-tested;
//! - `pipeline`: one signature through the steps;
//! - `publish`: the plan, the dry-run folder, the pull request;
//! - `looks`: the ledger of A/B looks at today's pack, on a ref of the remote;
//! - `realized`: what today's pack did on its traffic, in the summary and on its pull request;
//! - `host`, `forge`: the seams to GitHub Actions and GitHub;
//! - `result`, `text`: what a run ends with and the words it publishes.

mod env;
pub mod forge;
pub mod host;
pub mod looks;
mod pipeline;
pub mod publish;
mod realized;
mod result;
pub mod steps;
pub mod text;

use std::fmt::Write as _;

use serde_json::json;

pub use env::GithubEnv;
pub(crate) use env::{default_branch, event_payload, out_dir, root_dir, short, start};
pub use forge::{Forge, ForgeError, MemoryForge};
pub use host::CiHost;
use pipeline::Pipeline;
pub use result::{Annotation, BudgetCaps, CiArgs, SignatureResult, Status};

use crate::actions::Level;
use crate::app::{Global, Output};
use crate::git::Repo;

/// `promptc ci`.
pub async fn ci(
    g: &Global,
    env: &GithubEnv,
    args: &CiArgs,
    json_out: bool,
) -> anyhow::Result<Output> {
    let (config, actions) = start(g, env, json_out)?;
    let host: &dyn CiHost = &actions;
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
    let forge = github.as_ref().map(|g| g as &dyn Forge);

    let mut results = Vec::new();
    for name in &names {
        let g1 = Global {
            signature: Some(name.clone()),
            ..g.clone()
        };
        let pipeline = Pipeline {
            env,
            event: &event,
            repo: repo.as_ref(),
            forge,
            base_branch: &base_branch,
            out: &out,
            args,
        };
        let r = match pipeline.run(&g1, name).await {
            Ok(r) => r,
            Err(e) => {
                let msg = crate::lm::secret::redact(&format!("{e:#}"));
                let mut r = SignatureResult::new(name, Status::Failed, msg.clone());
                r.annotate(Level::Error, "", &msg);
                r.exit = crate::app::exit_code(&e);
                r.summary = format!(
                    "### {}: failed\n\n{}\n",
                    crate::markdown::code(name),
                    crate::report::inline(&msg)
                );
                r
            }
        };
        for a in &r.annotations {
            host.annotate(a.level, &a.title, &a.message);
        }
        results.push(r);
    }
    finish_ci(host, results, args)
}

/// The host's outputs and summary, and the command's output, from every
/// signature's result.
fn finish_ci(
    actions: &dyn CiHost,
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
