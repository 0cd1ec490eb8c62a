//! `promptc optimize`: the run itself is the application layer's
//! (`app::optimize`, private; its types are re-exported here); this prints it.

use crate::commands::{Context, Output};
use crate::lm::LmClient;

pub use crate::app::optimize::{OptimizeArgs, OptimizeRun, RunData, own_prompts, run_data};

/// `optimize`.
pub async fn optimize(ctx: &Context, args: &OptimizeArgs) -> anyhow::Result<Output> {
    let lm = LmClient::from_config(&ctx.config)?;
    optimize_with(ctx, args, &lm).await
}

/// `optimize` with a given LM client.
pub async fn optimize_with(
    ctx: &Context,
    args: &OptimizeArgs,
    lm: &LmClient,
) -> anyhow::Result<Output> {
    let run = crate::app::optimize::run(ctx, args, lm).await?;
    Ok(Output::ok(run.summary_json(), run.human()))
}
