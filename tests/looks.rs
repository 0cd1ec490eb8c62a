//! Repeated looks on a simulated world where the instruction makes no
//! difference: between two merges, ten consecutive runs each test a new
//! candidate against the same pack on a held-out set that grows and mostly
//! overlaps the last one. The rule that spends the error rate across looks
//! must keep the chance of any false pull request in such a history within
//! the configured level; the old rule (95% at every look) is printed beside it.
//!
//! `PROMPTC_LOOK_HISTORIES=N` runs N histories instead of the default.

mod common;

use common::example_copy;
use promptc::ab::{Decision, verdict};
use promptc::commands::eval::{SplitName, examples, program};
use promptc::commands::{Context, Global};
use promptc::config::{AbConfig, CacheMode};
use promptc::eval::{Evaluator, Program};
use promptc::lm::LmClient;
use promptc::metric::Metric;

const LOOKS: u32 = 10;

/// The same program with a sentence that changes nothing the simulator
/// scores (no instruction feature), only the request and so its noise.
fn variant(p: &Program, tag: &str) -> Program {
    let mut p = p.clone();
    let note = format!("\n\nRevision note: {tag}.");
    p.system.push_str(&note);
    for s in p.persona_systems.values_mut() {
        s.push_str(&note);
    }
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_looks_at_a_pack_with_no_better_candidate_rarely_open_a_pull_request() {
    let histories: usize = std::env::var("PROMPTC_LOOK_HISTORIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let (_d, repo) = example_copy();
    // One judge keeps the test quick; the trace dimensions still count.
    let metric_path = repo.join("metric.yaml");
    let metric_text = std::fs::read_to_string(&metric_path).unwrap();
    let one_judge: String = metric_text
        .lines()
        .filter(|l| !l.contains("judges/") || l.contains("verified.md"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&metric_path, one_judge).unwrap();
    let mut ctx = Context::load(&Global {
        config: repo.join("promptc.yaml"),
        ..Default::default()
    })
    .unwrap();
    ctx.config.cache.mode = CacheMode::Off;
    ctx.config.budget.max_calls = None;
    let mut turns = examples(&ctx, SplitName::All, None).unwrap();
    turns.sort_by_key(|t| t.ts);
    let (_, base_program) = program(&ctx, None).unwrap();
    let metric = Metric::load(&metric_path, &ctx.signature, Some("persona")).unwrap();
    assert_eq!(metric.judge_calls_per_example(), 1);
    let lm = LmClient::from_config(&ctx.config).unwrap();
    let ev = Evaluator {
        lm: &lm,
        metric: &metric,
        concurrency: 32,
        max_errors: 0,
        max_error_share: 0.0,
    };
    let policy = AbConfig {
        bootstrap_resamples: 2_000,
        ..AbConfig::default()
    };
    // Look k sees the turns that arrived by then: 60 at the first, 20 more at each.
    let window = |k: u32| 60 + 20 * (k as usize - 1);
    let widest = window(LOOKS);
    assert!(turns.len() > widest + 100, "{} turns", turns.len());

    let (mut spending, mut every_look_at_95) = (0, 0);
    for h in 0..histories {
        let start = (h * 53) % (turns.len() - widest);
        let heldout = &turns[start..start + widest];
        let base = variant(&base_program, &format!("history {h}"));
        let base_report = ev.evaluate(&base, heldout, &|_, _| {}).await.unwrap();
        let (mut opened, mut opened_at_95) = (false, false);
        for k in 1..=LOOKS {
            let cand = variant(&base_program, &format!("history {h}, look {k}"));
            let seen = &heldout[..window(k)];
            let cand_report = ev.evaluate(&cand, seen, &|_, _| {}).await.unwrap();
            let v = verdict(&base_report, &cand_report, &policy, k);
            assert_eq!(v.stats.n, window(k));
            opened |= v.decision == Decision::Open;
            opened_at_95 |= v.stats.ci.0 > policy.min_lift;
        }
        spending += usize::from(opened);
        every_look_at_95 += usize::from(opened_at_95);
    }
    let rate = |n: usize| n as f64 / histories as f64;
    println!(
        "{histories} histories of {LOOKS} looks with no true effect: a false pull request in {spending} ({:.1}%) with the error rate spent across looks, in {every_look_at_95} ({:.1}%) with a 95% interval at every look",
        100.0 * rate(spending),
        100.0 * rate(every_look_at_95)
    );
    assert!(
        rate(spending) <= 1.0 - policy.confidence,
        "{spending} of {histories} histories opened a false pull request"
    );
}
