//! `eval` and `plan`.

use promptc::commands::{self, Global, Output};
use promptc::config::OptimizerName;

use super::runtime;
use super::shared::EvalTarget;

/// `eval`'s flags.
#[derive(clap::Args, Debug)]
pub struct EvalCmd {
    #[command(flatten)]
    target: EvalTarget,
    /// Score the pack under this adapter instead of its own (sections or json).
    #[arg(long, value_enum)]
    adapter: Option<promptc::program::Adapter>,
}

impl EvalCmd {
    pub fn run(&self, g: &Global) -> anyhow::Result<Output> {
        let ctx = commands::Context::load(g)?;
        let EvalTarget { pack, split, limit } = &self.target;
        runtime()?.block_on(commands::eval::eval(
            &ctx,
            pack.as_deref(),
            self.adapter,
            *split,
            *limit,
        ))
    }
}

/// `plan`'s flags.
#[derive(clap::Args, Debug)]
pub struct PlanCmd {
    /// Plan an optimizer run instead of an evaluation.
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerName>,
    /// With --optimizer: the smoke preset.
    #[arg(long)]
    smoke: bool,
    #[command(flatten)]
    target: EvalTarget,
    /// The A/B report (an `ab --report` or `ci` ab-report.json) whose paired
    /// spread the power figures start from (default: today's pack's
    /// provenance.ab).
    #[arg(long)]
    ab_report: Option<std::path::PathBuf>,
}

impl PlanCmd {
    pub fn run(&self, g: &Global) -> anyhow::Result<Output> {
        let ctx = commands::Context::load(g)?;
        let EvalTarget { pack, split, limit } = &self.target;
        match self.optimizer {
            Some(o) => commands::eval::plan_optimizer(&ctx, o, self.smoke),
            None => commands::eval::plan(
                &ctx,
                pack.as_deref(),
                *split,
                *limit,
                self.ab_report.as_deref(),
            ),
        }
    }
}
