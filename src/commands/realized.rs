//! `promptc realized`: what the deployed pack did on the traffic it served.

use std::path::Path;

use crate::app::realized;
pub use crate::app::realized::Arms;
use crate::commands::{Context, Output};
use crate::lm::LmClient;

/// `realized [--current V] [--previous V] [--report DIR]`.
pub async fn realized(
    ctx: &Context,
    arms: &Arms,
    report_dir: Option<&Path>,
) -> anyhow::Result<Output> {
    let lm = LmClient::from_config(&ctx.config)?;
    let r = realized::run(ctx, arms, &lm).await?;
    if let Some(dir) = report_dir {
        crate::files::write_text(&dir.join("realized.md"), &r.markdown())?;
        crate::files::write_text(
            &dir.join("realized.json"),
            &(serde_json::to_string_pretty(&r)? + "\n"),
        )?;
    }
    let mut j = serde_json::to_value(&r)?;
    j["lm"] = crate::commands::lm_json(&lm.usage());
    let mut human = format!(
        "{}: {} — {}\n  {}\n",
        r.signature,
        realized::verdict_word(r.verdict),
        r.headline(),
        r.reasons.join("; ")
    );
    if let (Some(raw), Some(adj)) = (r.raw, r.adjusted) {
        human.push_str(&format!(
            "  adjusted {:+.1} [{:+.1}, {:+.1}] ({} / {} turns) · raw {:+.1} [{:+.1}, {:+.1}] ({} / {} turns){}\n",
            adj.lift, adj.ci95.0, adj.ci95.1, adj.n_current, adj.n_previous,
            raw.lift, raw.ci95.0, raw.ci95.1, raw.n_current, raw.n_previous,
            if r.simulated { " · simulated judge" } else { "" }
        ));
    }
    Ok(Output::ok(j, human))
}
