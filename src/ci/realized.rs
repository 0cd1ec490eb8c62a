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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::realized::Window;
    use crate::realized::Difference;

    fn report(verdict: Verdict, lift: f64) -> Report {
        let d = Difference {
            lift,
            ci95: (lift - 2.0, lift + 2.0),
            n_current: 200,
            n_previous: 500,
        };
        Report {
            signature: "speak".into(),
            current: "sha256:new".into(),
            previous: "sha256:old".into(),
            randomized: false,
            raw: Some(d),
            adjusted: Some(d),
            comparison: None,
            strata: vec!["workspace".into()],
            windows: [
                Window {
                    from: None,
                    to: None,
                },
                Window {
                    from: None,
                    to: None,
                },
            ],
            predicted: None,
            verdict,
            reasons: vec!["because".into()],
            turns_needed: Some(100),
            precision: 2.0,
            failed: 0,
            simulated: false,
        }
    }

    fn attached(verdict: Verdict, lift: f64) -> SignatureResult {
        let mut r = SignatureResult::new("speak", crate::ci::Status::Gated, "gated".into());
        r.summary = "### gated\n".into();
        let check = Check {
            report: report(verdict, lift),
            comment: Some("https://example.test/pull/1#c".into()),
        };
        attach(Ok(Some(check)), &mut r);
        r
    }

    #[test]
    fn a_deployed_pack_that_did_worse_raises_a_warning() {
        let r = attached(Verdict::Negative, -5.0);
        assert_eq!(r.annotations.len(), 1);
        assert_eq!(r.annotations[0].level, Level::Warning);
        assert!(
            r.annotations[0].message.contains("realized -5.0"),
            "{:?}",
            r.annotations
        );
        assert!(r.summary.starts_with("### Realized lift"), "{}", r.summary);
        assert!(r.summary.ends_with("### gated\n"), "{}", r.summary);
        assert_eq!(r.realized.as_ref().unwrap()["verdict"], "negative");
        assert!(r.notes[0].contains("commented on https://example.test/pull/1#c"));
    }

    #[test]
    fn a_lift_that_holds_is_a_note_and_no_annotation() {
        let r = attached(Verdict::Holds, 3.0);
        assert!(r.annotations.is_empty());
        assert!(r.notes[0].starts_with("realized: holds"), "{:?}", r.notes);
    }

    #[test]
    fn a_failed_check_is_a_note_and_the_run_goes_on() {
        let mut r = SignatureResult::new("speak", crate::ci::Status::Gated, "gated".into());
        attach(Err(anyhow::anyhow!("judge down")), &mut r);
        assert!(r.notes[0].contains("the realized check failed: judge down"));
        assert!(r.realized.is_none());
    }
}
