//! `optimize`, `ab` and `diff`.

use std::path::PathBuf;

use promptc::commands::optimize::OptimizeArgs;
use promptc::commands::{self, Global, Output};
use promptc::config::OptimizerName;

use super::runtime;

/// `optimize`'s flags.
#[derive(clap::Args, Debug)]
pub struct OptimizeCmd {
    /// The optimizer (default: the config's).
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerName>,
    /// Tiny sizes, every step exercised: the first run on a new repository.
    #[arg(long)]
    smoke: bool,
    /// Also optimize the instructions per persona (writes a v3 pack).
    #[arg(long)]
    per_persona: bool,
    /// Output folder (default .promptc/runs/<signature> beside the config).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue a killed run from its trial log and the cache.
    #[arg(long)]
    resume: bool,
}

impl OptimizeCmd {
    /// The run these flags ask for.
    fn request(&self) -> OptimizeArgs {
        OptimizeArgs {
            optimizer: self.optimizer,
            smoke: self.smoke,
            per_persona: self.per_persona,
            out: self.out.clone(),
            resume: self.resume,
        }
    }

    pub fn run(&self, g: &Global) -> anyhow::Result<Output> {
        let ctx = commands::Context::load(g)?;
        runtime()?.block_on(commands::optimize::optimize(&ctx, &self.request()))
    }
}

/// `ab`'s flags.
#[derive(clap::Args, Debug)]
pub struct AbCmd {
    /// The pack running today.
    #[arg(long)]
    base: PathBuf,
    /// The candidate.
    #[arg(long)]
    candidate: PathBuf,
    /// Also write report.md and report.json to this folder.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Decide as the K-th look at the base pack since it was merged (what
    /// `ci` counts in its look ledger): each later look needs a wider
    /// interval, so that all of them together keep the configured error rate.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    look: u32,
}

impl AbCmd {
    pub fn run(&self, g: &Global) -> anyhow::Result<Output> {
        let ctx = commands::Context::load(g)?;
        runtime()?.block_on(commands::ab::ab(
            &ctx,
            &self.base,
            &self.candidate,
            self.report.as_deref(),
            self.look,
        ))
    }
}

/// `realized`'s flags.
#[derive(clap::Args, Debug)]
pub struct RealizedCmd {
    /// The `pack` value the deployed pack's traces carry (default: its pack id).
    #[arg(long)]
    current: Option<String>,
    /// The `pack` value of the pack it replaced (default: the id in its
    /// provenance.base_pack, else the pack logged most before it).
    #[arg(long)]
    previous: Option<String>,
    /// Also write realized.md and realized.json to this folder.
    #[arg(long)]
    report: Option<PathBuf>,
}

impl RealizedCmd {
    pub fn run(&self, g: &Global) -> anyhow::Result<Output> {
        let ctx = commands::Context::load(g)?;
        let arms = commands::realized::Arms {
            current: self.current.clone(),
            previous: self.previous.clone(),
        };
        runtime()?.block_on(commands::realized::realized(
            &ctx,
            &arms,
            self.report.as_deref(),
        ))
    }
}

/// `diff`'s flags.
#[derive(clap::Args, Debug)]
pub struct DiffCmd {
    /// The old pack.
    a: PathBuf,
    /// The new pack.
    b: PathBuf,
    /// terminal (colour on a terminal) or markdown.
    #[arg(long, value_enum, default_value = "terminal")]
    format: commands::ab::DiffFormat,
}

impl DiffCmd {
    pub fn run(&self, g: &Global) -> anyhow::Result<Output> {
        commands::ab::diff(g, &self.a, &self.b, self.format)
    }
}
