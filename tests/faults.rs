//! A flaky provider changes how long a search takes, never what it finds:
//! the same search against a local server that answers one request in five
//! with a 429, 500 or 503, hangs one in twenty and garbles one in twenty
//! chooses the same pack, with the same scores, as against a clean one.

mod common;

use std::path::Path;
use std::time::Duration;

use promptc::commands::optimize::{OptimizeArgs, optimize};
use promptc::commands::{Context, Global};
use promptc::lm::sim_server::{FaultMix, ServerOptions, SimServer};

/// The chosen pack's instructions and demos, and the run's val scores.
async fn search(repo: &Path, fault_mix: Option<FaultMix>) -> (String, String, u64) {
    let srv = SimServer::start(ServerOptions {
        latency: Duration::from_millis(5),
        fault_mix,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut ctx = Context::load(&Global {
        config: repo.join("promptc.yaml"),
        ..Default::default()
    })
    .unwrap();
    let overrides: Vec<_> = [
        ("task", "sim-task"),
        ("judge", "sim-judge"),
        ("proposer", "sim-proposer"),
    ]
    .iter()
    .map(|(role, model)| {
        format!("{role}=openai:{model}@{}/v1", srv.url())
            .parse()
            .unwrap()
    })
    .collect();
    ctx.config.apply_lm_overrides(&overrides);
    for lm in [
        &mut ctx.config.lms.task,
        &mut ctx.config.lms.judge,
        &mut ctx.config.lms.proposer,
    ] {
        lm.concurrency = 8;
        lm.retry_backoff_ms = 20;
        lm.max_retries = 8;
    }
    ctx.config.limits.max_in_flight = Some(8);
    ctx.config.split.max_train = Some(24);
    ctx.config.split.max_val = Some(16);
    ctx.config.optimizer.num_candidates = 3;
    ctx.config.optimizer.num_trials = 8;
    ctx.config.optimizer.minibatch_size = 10;
    ctx.config.optimizer.full_eval_every = 4;
    ctx.config.optimizer.parallel_trials = 4;
    let dir = tempfile::tempdir().unwrap();
    ctx.config.cache.path = dir.path().join("cache.sqlite");
    let args = OptimizeArgs {
        out: Some(dir.path().join("run")),
        ..Default::default()
    };
    let out = optimize(&ctx, &args).await.unwrap();
    let pack: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.json["pack"].as_str().unwrap()).unwrap())
            .unwrap();
    let scores = format!("{} -> {}", out.json["baseline_val"], out.json["best_val"]);
    let retries = ["task", "judge", "proposer"]
        .iter()
        .map(|r| out.json["lm"]["roles"][r]["retries"].as_u64().unwrap_or(0))
        .sum();
    (
        format!("{}\n{}", pack["instructions"], pack["demos"]),
        scores,
        retries,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flaky_provider_changes_the_wall_time_not_the_chosen_pack() {
    let (_d, repo) = common::example_copy();
    let (clean, clean_scores, clean_retries) = search(&repo, None).await;
    assert_eq!(clean_retries, 0);
    let mix = FaultMix {
        errors: 0.20,
        hangs: 0.05,
        hang: Duration::from_secs(3),
        garbage: 0.05,
    };
    let (faulty, faulty_scores, retries) = search(&repo, Some(mix)).await;
    assert!(retries > 20, "the faults happened: {retries} retries");
    assert_eq!(faulty_scores, clean_scores);
    assert_eq!(faulty, clean, "the same instructions and demos");
}
