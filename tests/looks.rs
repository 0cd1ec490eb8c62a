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

/// Look k sees the turns that arrived by then: 40 at the first, 12 more at each.
fn window(k: u32) -> usize {
    40 + 12 * (k as usize - 1)
}

/// What every history shares.
struct World {
    lm: LmClient,
    metric: Metric,
    turns: Vec<promptc::Turn>,
    base_program: Program,
    policy: AbConfig,
}

impl World {
    /// One history between two merges: today's pack against a new candidate
    /// at each of ten looks. Whether any look opened a pull request, under
    /// the rule and under a 95% interval at every look.
    async fn history(&self, h: usize) -> (bool, bool) {
        let ev = Evaluator {
            lm: &self.lm,
            metric: &self.metric,
            concurrency: 32,
            max_errors: 0,
            max_error_share: 0.0,
            task_samples: 1,
        };
        let widest = window(LOOKS);
        let start = (h * 53) % (self.turns.len() - widest);
        let heldout = &self.turns[start..start + widest];
        let base = variant(&self.base_program, &format!("history {h}"));
        let base_report = ev.evaluate(&base, heldout, &|_, _| {}).await.unwrap();
        let (mut opened, mut opened_at_95) = (false, false);
        for k in 1..=LOOKS {
            let cand = variant(&self.base_program, &format!("history {h}, look {k}"));
            let seen = &heldout[..window(k)];
            let cand_report = ev.evaluate(&cand, seen, &|_, _| {}).await.unwrap();
            let v = verdict(&base_report, &cand_report, &self.policy, k);
            assert_eq!(v.stats.n, window(k));
            opened |= v.decision == Decision::Open;
            opened_at_95 |= v.stats.ci.0 > self.policy.min_lift;
        }
        (opened, opened_at_95)
    }
}

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

#[test]
fn ten_looks_at_a_pack_with_no_better_candidate_rarely_open_a_pull_request() {
    let histories: usize = std::env::var("PROMPTC_LOOK_HISTORIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
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
    // The policy as shipped (95%), with 2,000 bootstrap resamples instead of
    // 10,000 to keep a debug build's test quick: the sign-flip p-value, which
    // draws as many patterns as the look needs, is what holds the rate.
    let policy = AbConfig {
        bootstrap_resamples: 2_000,
        ..AbConfig::default()
    };
    let world = World {
        lm: LmClient::from_config(&ctx.config).unwrap(),
        metric,
        turns,
        base_program,
        policy: policy.clone(),
    };
    assert!(
        world.turns.len() > window(LOOKS) + 100,
        "{} turns",
        world.turns.len()
    );
    // Histories in parallel, one runtime per core: an evaluation's examples
    // share one task, and so one core.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let results: Vec<(bool, bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let world = &world;
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    (t..histories)
                        .step_by(threads)
                        .map(|h| rt.block_on(world.history(h)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let spending = results.iter().filter(|r| r.0).count();
    let every_look_at_95 = results.iter().filter(|r| r.1).count();
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
    // The world is noisy enough for the old rule to be fooled: the spending is what holds.
    assert!(
        every_look_at_95 > 2 * spending.max(1),
        "{every_look_at_95} vs {spending}: this world cannot tell the rules apart"
    );
}
