//! The realized check inside `ci`: when today's pack has served traffic,
//! what it did against the pack it replaced goes into the job summary and
//! onto the pull request that introduced it (one comment, updated by later
//! runs), and a realized lift below zero raises a warning.

use crate::actions::Level;
use crate::app::Context;
use crate::app::realized::{self, Arms, Report, Verdict};
use crate::ci::forge::Forge;
use crate::ci::result::SignatureResult;
use crate::lm::LmClient;

/// What the check found: the report and where it was commented.
pub(crate) struct Check {
    /// The comparison.
    pub report: Report,
    /// The comment on the pull request that introduced today's pack.
    pub comment: Option<String>,
}

/// Runs the check when today's pack has served traffic and the pack it
/// replaced is known; `None` otherwise (a pack nobody has served yet, or a
/// hand-written first pack with nothing before it).
pub(crate) async fn check(
    ctx: &Context,
    forge: Option<&dyn Forge>,
    branch: &str,
) -> anyhow::Result<Option<Check>> {
    let lm = LmClient::from_config(&ctx.config)?;
    let report = match realized::run(ctx, &Arms::default(), &lm).await {
        Ok(r) => r,
        // No pack before today's to compare with: nothing to say.
        Err(e) if e.downcast_ref::<crate::app::UsageError>().is_some() => {
            tracing::info!("realized: {e}");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if report.windows[0].from.is_none() {
        return Ok(None);
    }
    let comment = match forge {
        Some(f) => match f.introduced(branch, &report.current).await? {
            Some(pr) => Some(
                f.upsert_realized_comment(pr.number, &report.markdown())
                    .await?,
            ),
            None => None,
        },
        None => None,
    };
    Ok(Some(Check { report, comment }))
}

/// Puts the check's outcome on the signature's result: its section first in
/// the summary, a warning when the deployed pack did worse, a note otherwise.
pub(crate) fn attach(check: anyhow::Result<Option<Check>>, r: &mut SignatureResult) {
    let c = match check {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            let msg = crate::secret::redact(&format!("{e:#}"));
            r.notes.push(format!("the realized check failed: {msg}"));
            return;
        }
    };
    let line = format!(
        "realized: {} — {}",
        realized::verdict_word(c.report.verdict),
        c.report.headline()
    );
    match c.report.verdict {
        Verdict::Negative => r.annotate(Level::Warning, " realized lift", &line),
        Verdict::BelowPrediction => r.annotate(Level::Notice, " realized lift", &line),
        _ => {}
    }
    r.notes.push(match &c.comment {
        Some(url) => format!("{line} (commented on {url})"),
        None => line,
    });
    r.summary = format!("{}\n{}", c.report.markdown(), r.summary);
    r.realized = Some(serde_json::json!({
        "verdict": c.report.verdict,
        "current": c.report.current,
        "previous": c.report.previous,
        "adjusted": c.report.adjusted,
        "raw": c.report.raw,
        "predicted": c.report.predicted,
        "comment_url": c.comment,
    }));
}
