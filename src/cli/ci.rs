//! `ci` and `review`.

use std::path::PathBuf;

use promptc::commands::{Global, Output};
use promptc::config::OptimizerName;

use super::runtime;
use super::shared::{BudgetArgs, GithubArgs};

/// `ci`'s flags.
#[derive(clap::Args, Debug)]
pub struct CiCmd {
    /// Run everything, but write the branch plan and the PR body to --out
    /// instead of pushing and posting.
    #[arg(long)]
    dry_run: bool,
    /// Run folders, reports and dry-run plans (default .promptc/ci beside the config).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The optimizer (default: the config's).
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerName>,
    /// The smoke preset: tiny sizes, every step exercised.
    #[arg(long)]
    smoke: bool,
    #[command(flatten)]
    budget: BudgetArgs,
    #[command(flatten)]
    github: GithubArgs,
}

impl CiCmd {
    pub fn run(&self, g: &Global, json: bool) -> anyhow::Result<Output> {
        let args = promptc::ci::CiArgs {
            dry_run: self.dry_run,
            out: self.out.clone(),
            optimizer: self.optimizer,
            smoke: self.smoke,
            budget: self.budget.caps(),
        };
        runtime()?.block_on(promptc::ci::ci(g, &self.github.env(None), &args, json))
    }
}

/// `review`'s flags.
#[derive(clap::Args, Debug)]
pub struct ReviewCmd {
    /// The base revision (default: the pull_request event's base).
    #[arg(long)]
    base: Option<String>,
    /// The head revision (default: the pull_request event's head, else HEAD).
    #[arg(long)]
    head: Option<String>,
    /// Write the comment to --out instead of posting it.
    #[arg(long)]
    dry_run: bool,
    /// Where the reports and the dry-run comment go (default .promptc/ci beside the config).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The pull request to comment on (default: the pull_request event's).
    #[arg(long)]
    pr: Option<u64>,
    #[command(flatten)]
    budget: BudgetArgs,
    #[command(flatten)]
    github: GithubArgs,
}

impl ReviewCmd {
    pub fn run(&self, g: &Global, json: bool) -> anyhow::Result<Output> {
        let args = promptc::review::ReviewArgs {
            base: self.base.clone(),
            head: self.head.clone(),
            dry_run: self.dry_run,
            out: self.out.clone(),
            budget: self.budget.caps(),
        };
        runtime()?.block_on(promptc::review::review(
            g,
            &self.github.env(self.pr),
            &args,
            json,
        ))
    }
}
