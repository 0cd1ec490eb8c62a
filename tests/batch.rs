//! `--batch`: the A/B's calls through the OpenAI Batch API and Anthropic
//! Message Batches, against local fakes of both, end to end.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BETTER, example_copy, promptc_in};
use promptc::lm::sim_server::{ServerOptions, SimServer};

/// A copy of the example with a better candidate pack beside today's.
fn repo_with_candidate() -> (tempfile::TempDir, PathBuf) {
    let (dir, repo) = example_copy();
    let text = std::fs::read_to_string(repo.join("packs/speak.json")).unwrap();
    let old: serde_json::Value = serde_json::from_str(&text).unwrap();
    let better = text.replacen(
        &serde_json::to_string(&old["instructions"]).unwrap(),
        &serde_json::to_string(BETTER).unwrap(),
        1,
    );
    std::fs::write(repo.join("better.json"), better).unwrap();
    let render = promptc_in(
        &repo,
        &[
            "pack",
            "render",
            "better.json",
            "--write",
            "--signature",
            "speak",
        ],
    );
    assert_eq!(render.code, 0, "{}", render.stderr);
    (dir, repo)
}

/// `ab` of the candidate against today's pack with both roles on `provider`
/// at `url`, plus `extra` flags.
fn ab_args(provider: &str, url: &str, extra: &[&str]) -> Vec<String> {
    let base = if provider == "openai" {
        format!("{url}/v1")
    } else {
        url.to_string()
    };
    let mut args: Vec<String> = [
        "--lm".to_string(),
        format!("task={provider}:sim-task@{base}"),
        "--lm".into(),
        format!("judge={provider}:sim-judge@{base}"),
    ]
    .into();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(
        [
            "ab",
            "--base",
            "packs/speak.json",
            "--candidate",
            "better.json",
            "--json",
        ]
        .map(String::from),
    );
    args
}

fn run(repo: &Path, args: &[String]) -> serde_json::Value {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = promptc_in(repo, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json()
}

/// The figures a batched and a live A/B must agree on.
fn verdict(j: &serde_json::Value) -> serde_json::Value {
    serde_json::json!([
        j["n"],
        j["lift"],
        j["ci95"],
        j["decision"],
        j["wins"],
        j["losses"]
    ])
}

/// A short poll and gather for tests (the defaults wait seconds).
const FAST: &str = "batch:\n  poll_secs: 0.05\n  max_poll_secs: 0.2\n  gather_ms: 100\n";

fn fast(repo: &Path, extra: &str) {
    let path = repo.join("promptc.yaml");
    let mut yaml = std::fs::read_to_string(&path).unwrap();
    yaml.push_str(FAST);
    yaml.push_str(extra);
    std::fs::write(path, yaml).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn ab_through_both_batch_apis_decides_as_the_live_ab() {
    let srv = SimServer::start(ServerOptions::default()).await.unwrap();
    for provider in ["openai", "anthropic"] {
        let (_d1, live_repo) = repo_with_candidate();
        let live = run(&live_repo, &ab_args(provider, &srv.url(), &[]));
        let live_requests = srv.requests();
        let (_d2, repo) = repo_with_candidate();
        fast(&repo, "");
        let batches_before = srv.batches_created().len();
        let batched = run(&repo, &ab_args(provider, &srv.url(), &["--batch"]));
        assert_eq!(verdict(&batched), verdict(&live), "{provider}");
        // Every call went through a batch: one of task calls for both packs,
        // then one of judge calls; no live completion was asked.
        let lm = &batched["lm"];
        assert!(lm["calls"].as_u64().unwrap() > 500, "{lm}");
        assert_eq!(lm["batched_calls"], lm["calls"], "{provider}: {lm}");
        let new = &srv.batches_created()[batches_before..];
        // One batch of task calls for both packs, one of the re-asks of
        // answers that did not parse, one or two of judge calls: a handful
        // of round trips, each request in exactly one batch.
        let sizes: Vec<usize> = new.iter().map(Vec::len).collect();
        assert!((2..=5).contains(&new.len()), "{provider}: {sizes:?}");
        assert_eq!(
            sizes[0],
            136 * 2 * 2,
            "{provider}: every task call of both packs at once"
        );
        let mut ids: Vec<&String> = new.iter().flatten().collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "{provider}: a request in two batches");
        let live_paths = srv.recorded()[live_requests as usize..]
            .iter()
            .filter(|r| r.path.ends_with("/chat/completions") || r.path == "/v1/messages")
            .count();
        assert_eq!(live_paths, 0, "{provider}: no live call");
        // A re-run reads the batch's answers from the cache.
        let again = run(&repo, &ab_args(provider, &srv.url(), &["--batch"]));
        assert_eq!(verdict(&again), verdict(&live));
        assert_eq!(again["lm"]["calls"], 0, "{}", again["lm"]);
        assert_eq!(srv.batches_created().len(), batches_before + new.len());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_while_its_batch_is_pending_resumes_it_without_resubmitting() {
    let srv = SimServer::start(ServerOptions::default()).await.unwrap();
    let (_d1, live_repo) = repo_with_candidate();
    let live = run(&live_repo, &ab_args("openai", &srv.url(), &[]));
    let (_d2, repo) = repo_with_candidate();
    fast(&repo, "");
    srv.hold_batches(true);
    let args = ab_args("openai", &srv.url(), &["--batch"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_promptc"))
        .args(&args)
        .current_dir(&repo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once it has submitted its task batch and polled it (so the
    // batch was recorded before anything waited on it).
    let start = Instant::now();
    let polled = || {
        srv.recorded()
            .iter()
            .any(|r| r.path.starts_with("/v1/batches/batch_sim"))
    };
    while !polled() {
        assert!(start.elapsed() < Duration::from_secs(60), "no batch polled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let pending = srv.batches_created();
    assert_eq!(pending.len(), 1, "{} batches", pending.len());
    srv.hold_batches(false);
    let resumed = run(&repo, &args);
    assert_eq!(verdict(&resumed), verdict(&live));
    let all = srv.batches_created();
    assert!(
        all.len() >= 2,
        "the pending task batch, then re-asks and judges"
    );
    assert!(
        all[1..].iter().flatten().all(|id| !all[0].contains(id)),
        "no request of the pending batch was submitted again"
    );
    assert_eq!(
        resumed["lm"]["batched_calls"], resumed["lm"]["calls"],
        "{}",
        resumed["lm"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_past_its_deadline_is_cancelled_and_its_requests_asked_live() {
    let srv = SimServer::start(ServerOptions::default()).await.unwrap();
    let (_d1, live_repo) = repo_with_candidate();
    let live = run(&live_repo, &ab_args("anthropic", &srv.url(), &[]));
    let (_d2, repo) = repo_with_candidate();
    // 0.6 s: every batch outlives it while the server holds them.
    fast(&repo, "  deadline_minutes: 0.01\n");
    srv.hold_batches(true);
    let before = srv.recorded().len();
    let j = run(&repo, &ab_args("anthropic", &srv.url(), &["--batch"]));
    assert_eq!(verdict(&j), verdict(&live));
    assert_eq!(j["lm"]["batched_calls"], 0, "{}", j["lm"]);
    let cancels = srv.recorded()[before..]
        .iter()
        .filter(|r| r.path.ends_with("/cancel"))
        .count();
    assert_eq!(
        cancels,
        srv.batches_created().len(),
        "each held batch was cancelled"
    );
    assert!(cancels >= 1);
}
