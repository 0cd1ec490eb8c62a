//! `promptc eval` and `promptc plan` on the example, and the evaluator under
//! flaky judges, failing judges and unparsable answers.

mod common;

use common::{example_copy, promptc_in};
use promptc::commands::{Context, Global};
use promptc::eval::{Evaluator, Program};
use promptc::lm::LmClient;
use promptc::lm::sim_server::{ServerOptions, SimServer};
use promptc::metric::Metric;

#[test]
fn eval_on_the_example_scores_six_dimensions_and_a_warm_rerun_makes_no_calls() {
    let (_d, repo) = example_copy();
    let plan = promptc_in(
        &repo,
        &["--lm", "all=sim", "plan", "--split", "val", "--json"],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan = plan.json();
    let planned =
        plan["lm_calls"]["task"].as_u64().unwrap() + plan["lm_calls"]["judge"].as_u64().unwrap();
    assert_eq!(
        plan["cost_usd"], 0.0,
        "the simulator's cost is known to be zero"
    );

    let first = promptc_in(
        &repo,
        &["--lm", "all=sim", "eval", "--split", "val", "--json"],
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first = first.json();
    let score = first["score"].as_f64().unwrap();
    assert!(score > 0.0 && score < 100.0, "{score}");
    assert_eq!(first["n"], 80);
    assert_eq!(first["simulated"], true);
    let dims = first["dimensions"].as_object().unwrap();
    let mut names: Vec<&str> = dims.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "fake_consensus_penalty",
            "intent_mode_fit",
            "move_repetition",
            "ship_artifact_quality",
            "speaker_diversity",
            "verified_claim_ratio"
        ]
    );
    assert!(
        dims.values()
            .all(|v| (0.0..=100.0).contains(&v.as_f64().unwrap()))
    );
    assert_eq!(first["worst"].as_array().unwrap().len(), 5);
    // The worst examples come with the judges' rationales.
    assert!(
        first["worst"][0]["rationales"].as_object().unwrap().len() == 4,
        "{}",
        first["worst"][0]
    );
    let calls = first["lm"]["calls"].as_u64().unwrap();
    let diff = (calls as f64 - planned as f64).abs() / calls as f64;
    assert!(diff <= 0.10, "plan {planned} vs actual {calls}");

    let second = promptc_in(
        &repo,
        &["--lm", "all=sim", "eval", "--split", "val", "--json"],
    )
    .json();
    assert_eq!(second["lm"]["calls"], 0, "a warm re-run made LM calls");
    assert_eq!(
        second["lm"]["cache_hits"].as_u64().unwrap(),
        calls + first["lm"]["cache_hits"].as_u64().unwrap()
    );
    assert_eq!(second["score"], first["score"]);

    let stats = promptc_in(&repo, &["cache", "stats", "--json"]).json();
    assert_eq!(stats["entries"].as_u64().unwrap(), calls);
    assert!(stats["hits"].as_u64().unwrap() >= calls);
}

#[test]
fn combined_judging_makes_one_judge_call_per_example() {
    let (_d, repo) = example_copy();
    let m = repo.join("metric.yaml");
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace("judge:\n  mode: separate", "judge:\n  mode: combined");
    std::fs::write(&m, text).unwrap();
    let run = promptc_in(
        &repo,
        &["eval", "--split", "val", "--limit", "20", "--json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["lm"]["roles"]["judge"]["calls"], 20, "{}", j["lm"]);
    assert_eq!(j["dimensions"].as_object().unwrap().len(), 6);
    let plan = promptc_in(
        &repo,
        &["plan", "--split", "val", "--limit", "20", "--json"],
    )
    .json();
    assert_eq!(plan["lm_calls"]["judge"], 20);
}

#[test]
fn plan_prices_a_run_live_with_prompt_caching_and_through_batches() {
    let (_d, repo) = example_copy();
    let cfg = repo.join("promptc.yaml");
    let mut yaml = std::fs::read_to_string(&cfg).unwrap();
    yaml.push_str("prices:\n  \"openai:m\": {input_per_mtok: 2, output_per_mtok: 8, cached_input_per_mtok: 0.5}\n");
    std::fs::write(&cfg, yaml).unwrap();
    let run = promptc_in(
        &repo,
        &[
            "--lm",
            "all=openai:m",
            "plan",
            "--split",
            "heldout",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    let c = &j["cost_usd_by_pricing"];
    let at = |k: &str| c[k].as_f64().unwrap();
    assert_eq!(j["cost_usd"], c["live"]);
    // The example's system prompt (instructions and demos) is long enough to
    // be cached: every request after the first reads it at a quarter price.
    let cached = j["cached_input_tokens"].as_u64().unwrap();
    assert!(cached > 100_000, "{j}");
    let saved = cached as f64 * (2.0 - 0.5) / 1e6;
    assert!(
        (at("live") - at("prompt_cache") - saved).abs() < 1e-9,
        "{c}"
    );
    // Batches are half price unless the config says otherwise.
    assert!((at("batch") - at("live") / 2.0).abs() < 1e-9, "{c}");
    assert!((at("batch_and_prompt_cache") - at("prompt_cache") / 2.0).abs() < 1e-9);
    // The optimizer's plan prices its task and judge calls from val's tokens
    // per example, and its proposer calls as rendered; it never batches.
    let opt = promptc_in(
        &repo,
        &[
            "--lm",
            "all=openai:m",
            "plan",
            "--optimizer",
            "mipro",
            "--json",
        ],
    );
    assert_eq!(opt.code, 0, "{}", opt.stderr);
    let o = opt.json();
    let calls = o["lm_calls"]["task"].as_u64().unwrap() as f64;
    let per_example = at("live") / j["examples"].as_u64().unwrap() as f64;
    let live = o["cost_usd"].as_f64().unwrap();
    // Val's examples are not the held-out ones: the same order of cost per example.
    assert!(
        live > calls * per_example / 3.0 && live < calls * per_example * 3.0,
        "{o}"
    );
    assert!(o["cost_usd_by_pricing"]["prompt_cache"].as_f64().unwrap() < live);
    let human = promptc_in(
        &repo,
        &["--lm", "all=openai:m", "plan", "--optimizer", "mipro"],
    );
    assert!(
        human.stdout.contains("proposer calls included")
            && human
                .stdout
                .contains("estimated at the length of today's instructions"),
        "{}",
        human.stdout
    );

    // Each proposer answer at lms.proposer.max_tokens when set: a thousand
    // tokens more each cost the output price per call, exactly.
    let with_max = |optimizer: &str, max: u32| {
        let run = promptc_in(
            &repo,
            &[
                "--lm",
                "all=openai:m",
                "--lm-set",
                &format!("proposer.max_tokens={max}"),
                "plan",
                "--optimizer",
                optimizer,
                "--json",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()
    };
    let (one, more) = (with_max("mipro", 1), with_max("mipro", 1001));
    assert_eq!(one["proposer_priced"], "answers at lms.proposer.max_tokens");
    let proposer_calls = one["lm_calls"]["proposer"].as_u64().unwrap() as f64;
    assert!(proposer_calls > 0.0, "{one}");
    let live_of = |j: &serde_json::Value| j["cost_usd"].as_f64().unwrap();
    let extra = live_of(&more) - live_of(&one);
    assert!(
        (extra - proposer_calls * 1000.0 * 8.0 / 1e6).abs() < 1e-9,
        "{extra} for {proposer_calls} calls"
    );
    // Batches halve the task and judge calls, never the proposer's: what
    // `batch` does not halve is the proposer's share, its prompts included.
    let by = &one["cost_usd_by_pricing"];
    let proposer_dollars = 2.0 * by["batch"].as_f64().unwrap() - live_of(&one);
    assert!(
        proposer_dollars > proposer_calls * 8.0 / 1e6 + proposer_calls * 200.0 * 2.0 / 1e6,
        "the proposer's prompts are priced: {proposer_dollars}"
    );
    // GEPA's reflections too, their feedback at its bound of 6,000
    // characters (about 1,500 tokens) each.
    let gepa = with_max("gepa", 1);
    assert_eq!(
        gepa["proposer_priced"],
        "answers at lms.proposer.max_tokens"
    );
    let reflections = gepa["lm_calls"]["proposer"].as_f64().unwrap();
    let by = &gepa["cost_usd_by_pricing"];
    let reflection_dollars = 2.0 * by["batch"].as_f64().unwrap() - live_of(&gepa);
    assert!(
        reflection_dollars > reflections * 1500.0 * 2.0 / 1e6,
        "{reflection_dollars} for {reflections} reflections"
    );
}

fn context(repo: &std::path::Path) -> Context {
    Context::load(&Global {
        config: repo.join("promptc.yaml"),
        signature: None,
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_judge_that_fails_a_fifth_of_the_time_gives_the_same_score_as_a_clean_one() {
    let srv = SimServer::start(ServerOptions {
        fail_rate: 0.2,
        ..Default::default()
    })
    .await
    .unwrap();
    let (_d, repo) = example_copy();
    let mut ctx = context(&repo);
    ctx.config.cache.mode = promptc::config::CacheMode::Off;
    let examples =
        promptc::commands::eval::examples(&ctx, promptc::commands::eval::SplitName::Val, Some(25))
            .unwrap();
    let (_, program): (_, Program) = promptc::commands::eval::program(&ctx, None).unwrap();
    let metric = Metric::load(
        &ctx.resolve(&ctx.sig_cfg.metric),
        &ctx.signature,
        Some("persona"),
    )
    .unwrap();
    let run = |config: promptc::config::Config| {
        let (examples, program, metric) = (&examples, &program, &metric);
        async move {
            let lm = LmClient::from_config(&config).unwrap();
            let ev = Evaluator {
                lm: &lm,
                metric,
                concurrency: 8,
                max_errors: 0,
                max_error_share: 0.0,
                task_samples: 1,
            };
            let r = ev.evaluate(program, examples, &|_, _| {}).await.unwrap();
            (r.score, r.dimensions, lm.usage())
        }
    };
    let mut clean = ctx.config.clone();
    clean.lms.judge.model = "sim-judge".into();
    let (clean_score, clean_dims, _) = run(clean).await;

    let mut flaky = ctx.config.clone();
    flaky.apply_lm_overrides(&[format!("judge=openai:sim-judge@{}/v1", srv.url())
        .parse()
        .unwrap()]);
    flaky.lms.judge.max_retries = 8;
    flaky.lms.judge.retry_backoff_ms = 1;
    let (flaky_score, flaky_dims, usage) = run(flaky).await;
    assert_eq!(flaky_score, clean_score);
    assert_eq!(flaky_dims, clean_dims);
    let calls = usage.roles["judge"].calls;
    assert_eq!(calls, 100, "4 judge dimensions × 25 examples");
    assert!(
        srv.requests() > calls + 10,
        "the server failed too rarely to test anything: {} requests",
        srv.requests()
    );
    assert_eq!(usage.roles["judge"].retries, srv.requests() - calls);
}

#[test]
fn more_failing_examples_than_max_errors_abort_with_a_clear_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = rt
        .block_on(SimServer::start(ServerOptions {
            fail_rate: 1.0,
            ..Default::default()
        }))
        .unwrap();
    let (_d, repo) = example_copy();
    let cfg = repo.join("promptc.yaml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replace(
        "judge: {provider: sim, model: sim, concurrency: 16}",
        &format!(
            "judge: {{provider: openai, model: sim-judge, base_url: '{}/v1', max_retries: 0}}",
            srv.url()
        ),
    );
    text.push_str("\neval:\n  max_errors: 2\n  concurrency: 4\n");
    std::fs::write(&cfg, text).unwrap();
    let run = promptc_in(&repo, &["eval", "--split", "val", "--limit", "30"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("evaluation aborted: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("examples failed at the LM level, more than the 2 allowed (eval.max_errors, eval.max_error_share); first: judge LM openai:sim-judge: 503 Service Unavailable"), "{}", run.stderr);
    // It stopped scheduling: far fewer than 30 examples reached the judge.
    assert!(srv.requests() < 30, "{} judge requests", srv.requests());
}

#[test]
fn unparsable_answers_score_zero_and_are_counted_never_hidden() {
    let (_d, repo) = example_copy();
    let script = repo.join("refuse.sh");
    common::executable(
        &script,
        "#!/bin/sh\ncat > /dev/null\necho 'I would rather not answer in that format.'\n",
    );
    let spec = format!("task=command:refuser@{}", script.display());
    let run = promptc_in(
        &repo,
        &[
            "--lm", &spec, "eval", "--split", "val", "--limit", "6", "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["failed"], 6);
    assert_eq!(j["n"], 6);
    assert_eq!(j["score"], 0.0);
    // One retry with the format reminder per example, and no judge call for an unparsable answer.
    assert_eq!(j["lm"]["roles"]["task"]["calls"], 12);
    assert_eq!(j["lm"]["roles"]["judge"]["calls"], 0);
    assert!(
        j["worst"][0]["failed"]
            .as_str()
            .unwrap()
            .contains("none of the `=== field ===` headers"),
        "{}",
        j["worst"][0]
    );
    assert!(run.stderr.contains("failed to parse: 6"), "{}", run.stderr);
}

#[test]
fn evaluating_nothing_is_an_input_error() {
    let (_d, repo) = example_copy();
    let run = promptc_in(&repo, &["eval", "--split", "val", "--limit", "0"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no examples to evaluate"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_run_killed_midway_resumes_from_its_cache() {
    let (_d, repo) = example_copy();
    // A slow task model, so the run is still going when it is killed.
    let script = repo.join("slow.sh");
    common::executable(
        &script,
        "#!/bin/sh\ncat > /dev/null\nsleep 0.2\nprintf '=== utterance ===\\nLet us check E1.\\n\\n=== rhetorical_move ===\\nverify\\n\\n=== end ===\\n'\n",
    );
    let spec = format!("task=command:slow@{}", script.display());
    // Two examples at a time: about four seconds for forty, so the kill lands midway.
    let cfg = repo.join("promptc.yaml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\neval:\n  concurrency: 2\n");
    std::fs::write(&cfg, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_promptc"))
        .args(["--lm", &spec, "eval", "--split", "val", "--limit", "40"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    child.kill().unwrap(); // SIGKILL: no destructor, no flush
    child.wait().unwrap();

    // The cache survived and holds what was finished; a re-run only makes the rest.
    let stats = promptc_in(&repo, &["cache", "stats", "--json"]).json();
    let kept = stats["entries"].as_u64().unwrap();
    assert!(kept > 0, "nothing was cached before the kill");
    assert!(
        kept < 200,
        "the run finished before it was killed: {kept} entries"
    );
    let run = promptc_in(
        &repo,
        &[
            "--lm", &spec, "eval", "--split", "val", "--limit", "40", "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["n"], 40);
    assert!(
        j["lm"]["cache_hits"].as_u64().unwrap() >= kept,
        "{}",
        j["lm"]
    );
    assert_eq!(
        j["lm"]["calls"].as_u64().unwrap() + j["lm"]["cache_hits"].as_u64().unwrap(),
        40 + 160
    );
}

#[test]
fn a_wrong_key_or_a_missing_program_stops_the_run_and_is_never_a_score() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = rt
        .block_on(SimServer::start(ServerOptions::default()))
        .unwrap();
    for _ in 0..50 {
        srv.push_fault(promptc::lm::sim_server::Fault::Status {
            code: 401,
            retry_after: None,
            message: "Incorrect API key provided".into(),
        });
    }
    let (_d, repo) = example_copy();
    let spec = format!("task=openai:sim-task@{}/v1", srv.url());
    let run = promptc_in(
        &repo,
        &[
            "--lm", &spec, "eval", "--split", "val", "--limit", "2", "--json",
        ],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("401 Unauthorized")
            && run.stdout.contains("Incorrect API key provided"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("\"score\""), "{}", run.stdout);
    // The first answer stopped it: no retries, and at most the examples already in flight.
    assert!(srv.requests() <= 2, "{} requests", srv.requests());

    let missing = promptc_in(
        &repo,
        &[
            "--lm",
            "task=command:m@/nonexistent/harness",
            "eval",
            "--split",
            "val",
            "--limit",
            "2",
        ],
    );
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("cannot run `/nonexistent/harness`"),
        "{}",
        missing.stderr
    );
    assert!(!missing.stdout.contains("score"), "{}", missing.stdout);
}

#[test]
fn lm_settings_per_run_are_parsed_and_range_checked() {
    let (_d, repo) = example_copy();
    let typo = promptc_in(
        &repo,
        &["--lm-set", "judge.temprature=0", "plan", "--split", "val"],
    );
    assert_eq!(typo.code, 2, "{}", typo.stderr);
    assert!(
        typo.stderr.contains("did you mean `temperature`?"),
        "{}",
        typo.stderr
    );
    let zero = promptc_in(
        &repo,
        &["--lm-set", "all.timeout_secs=0", "plan", "--split", "val"],
    );
    assert_eq!(zero.code, 2, "{}", zero.stderr);
    assert!(
        zero.stderr
            .contains("lms.task.timeout_secs: 0 is outside 1..=3600"),
        "{}",
        zero.stderr
    );
    let inflight = promptc_in(&repo, &["--max-in-flight", "0", "plan", "--split", "val"]);
    assert_eq!(inflight.code, 2, "{}", inflight.stderr);
    assert!(
        inflight.stderr.contains("limits.max_in_flight"),
        "{}",
        inflight.stderr
    );
    let ok = promptc_in(
        &repo,
        &[
            "--lm-set",
            "all.timeout_secs=600",
            "--max-in-flight",
            "1",
            "plan",
            "--split",
            "val",
            "--json",
        ],
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

#[test]
fn an_unreadable_combined_answer_falls_back_to_separate_judges_and_is_counted() {
    let (_d, repo) = example_copy();
    let metric = repo.join("metric.yaml");
    let text = std::fs::read_to_string(&metric).unwrap();
    assert!(text.contains("mode: separate"), "{text}");
    std::fs::write(&metric, text.replace("mode: separate", "mode: combined")).unwrap();
    let judge = repo.join("judge.sh");
    common::executable(
        &judge,
        "#!/bin/sh\nif grep -q 'separate questions'; then echo 'I think they are all fine.'; else echo '{\"score\": 0.5, \"rationale\": \"ok\"}'; fi\n",
    );
    let spec = format!("judge=command:j@{}", judge.display());
    let run = promptc_in(
        &repo,
        &[
            "--lm", "task=sim", "--lm", &spec, "eval", "--split", "val", "--limit", "3", "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["n"], 3, "{j}");
    assert_eq!(j["errors"], 0, "{j}");
    assert_eq!(j["judge_fallbacks"], 3, "{j}");
    assert_eq!(j["dimensions"]["verified_claim_ratio"], 50.0, "{j}");
}

#[test]
fn the_json_adapter_sends_the_answer_schema_as_structured_output() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = rt
        .block_on(SimServer::start(ServerOptions::default()))
        .unwrap();
    let (_d, repo) = example_copy();
    for (spec, path) in [
        (
            format!("task=openai:sim-task@{}/v1", srv.url()),
            "/v1/chat/completions",
        ),
        (
            format!("task=anthropic:sim-task@{}", srv.url()),
            "/v1/messages",
        ),
    ] {
        let before = srv.recorded().len();
        let run = promptc_env_key(
            &repo,
            &[
                "--lm",
                &spec,
                "--lm",
                "judge=sim",
                "eval",
                "--split",
                "val",
                "--limit",
                "3",
                "--adapter",
                "json",
                "--json",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let j = run.json();
        assert_eq!(j["adapter"], "json");
        assert_eq!(j["n"], 3);
        assert_eq!(j["failed"], 0, "every structured answer parsed: {j}");
        let sent: Vec<serde_json::Value> = srv.recorded()[before..]
            .iter()
            .filter(|r| r.path == path)
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect();
        assert!(sent.len() >= 3, "{path}: {} requests", sent.len());
        for body in &sent {
            let schema = if path == "/v1/messages" {
                assert_eq!(body["tool_choice"]["name"], "answer");
                &body["tools"][0]["input_schema"]
            } else {
                assert_eq!(body["response_format"]["type"], "json_schema");
                &body["response_format"]["json_schema"]["schema"]
            };
            assert_eq!(
                schema["required"],
                serde_json::json!(["utterance", "rhetorical_move"])
            );
            let system = body["system"][0]["text"]
                .as_str()
                .or_else(|| body["messages"][0]["content"].as_str())
                .unwrap();
            assert!(
                system.contains("Reply with one JSON object and nothing else"),
                "{system}"
            );
        }
    }
}

/// `promptc_in` with the providers' key variables set (a local server takes any).
fn promptc_env_key(repo: &std::path::Path, args: &[&str]) -> common::Run {
    common::promptc_env(
        repo,
        args,
        &[
            ("OPENAI_API_KEY", "sk-local-test-000000"),
            ("ANTHROPIC_API_KEY", "sk-local-test-000000"),
        ],
    )
}

#[test]
fn an_example_lost_to_a_transient_failure_gets_one_more_try_and_only_one() {
    // One refusal: the example is asked again and scored. Two: its one more
    // try fails too, and it is an error (not asked a third time).
    for (refusals, n, errors) in [(1, 3, 0), (2, 2, 1)] {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let srv = rt
            .block_on(SimServer::start(ServerOptions::default()))
            .unwrap();
        for _ in 0..refusals {
            srv.push_fault(promptc::lm::sim_server::Fault::Status {
                code: 503,
                retry_after: None,
                message: "busy".into(),
            });
        }
        let (_d, repo) = example_copy();
        // One example at a time, so the refusals meet the same example.
        let cfg = repo.join("promptc.yaml");
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text.push_str("\neval:\n  concurrency: 1\n");
        std::fs::write(&cfg, text).unwrap();
        let spec = format!("task=openai:sim-task@{}/v1", srv.url());
        let run = promptc_env_key(
            &repo,
            &[
                "--lm",
                &spec,
                "--lm",
                "judge=sim",
                "--lm-set",
                "task.max_retries=0",
                "--lm-set",
                "task.concurrency=1",
                "eval",
                "--split",
                "val",
                "--limit",
                "3",
                "--json",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let j = run.json();
        assert_eq!(
            (j["n"].as_u64(), j["errors"].as_u64(), j["retried"].as_u64()),
            (Some(n), Some(errors), Some(1)),
            "{refusals} refusals: {j}"
        );
        // Each scored example's one answer, and every refused request.
        assert_eq!(srv.requests(), n + refusals, "{refusals} refusals");
    }
}

#[test]
fn with_two_judge_samples_their_disagreement_is_measured_and_reported() {
    let (_d, repo) = example_copy();
    let eval = |repo: &std::path::Path| {
        let run = promptc_in(
            repo,
            &[
                "eval", "--split", "val", "--limit", "6", "--lm", "all=sim", "--json",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()
    };
    assert_eq!(
        eval(&repo)["judge_disagreement"],
        serde_json::Value::Null,
        "one sample: nothing to compare"
    );
    let metric = repo.join("metric.yaml");
    let text = std::fs::read_to_string(&metric).unwrap();
    std::fs::write(&metric, text.replace("  samples: 1\n", "  samples: 2\n")).unwrap();
    let d = eval(&repo)["judge_disagreement"]
        .as_f64()
        .expect("measured");
    assert!(d > 0.0 && d < 1.0, "{d}");
    // The A/B report says how noisy the judge is.
    let run = promptc_in(
        &repo,
        &[
            "ab",
            "--base",
            "packs/speak.json",
            "--candidate",
            "packs/speak.json",
            "--report",
            "out",
            "--lm",
            "all=sim",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let md = std::fs::read_to_string(repo.join("out/report.md")).unwrap();
    assert!(
        md.contains("The judge's 2 samples of one answer differed by"),
        "{md}"
    );
}

#[test]
fn plan_prices_the_power_of_one_two_and_three_task_samples() {
    let (_d, repo) = example_copy();
    // A past A/B that measured its spread with two samples: most of it sampling noise.
    let report = repo.join("ab-report.json");
    std::fs::write(
        &report,
        r#"{"verdict": {"paired_sd": 15.0, "task_samples": 2, "sampling_sd": 16.0}}"#,
    )
    .unwrap();
    let plan = promptc_in(
        &repo,
        &[
            "plan",
            "--split",
            "heldout",
            "--ab-report",
            "ab-report.json",
            "--json",
        ],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let j = plan.json();
    let choices = j["power"]["choices"].as_array().unwrap();
    let lift = |i: usize| choices[i]["detectable_lift"].as_f64().unwrap();
    assert_eq!(j["detectable_lift"].as_f64(), Some(lift(0)));
    assert!(lift(0) > lift(1) && lift(1) > lift(2), "{choices:?}");
    let n = j["power"]["n"].as_u64().unwrap();
    for (i, c) in choices.iter().enumerate() {
        let k = i as u64 + 1;
        assert_eq!(c["task_samples"], k);
        assert_eq!(
            c["lm_calls"]["task"],
            2 * n * k,
            "both packs, k answers each"
        );
        assert_eq!(c["lm_calls"]["judge"], 2 * n * k * 4);
    }
    assert!(j["power"]["assumes"].is_null());

    // Without a measured spread, plan says where to get one instead of guessing.
    let plan = promptc_in(&repo, &["plan", "--split", "heldout", "--json"]);
    let j = plan.json();
    assert!(j["detectable_lift"].is_null());
    assert!(
        j["power"]["unknown"]
            .as_str()
            .unwrap()
            .contains("--ab-report"),
        "{j:#}"
    );
}
