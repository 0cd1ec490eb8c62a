//! promptc against hostile servers, models and traces: a key the model repeats
//! reaches no output and no file (and a cold run equals a warm one), absurd
//! headers do not panic, and nothing a model or a trace says becomes a GitHub
//! Actions workflow command.

mod common;

use std::path::Path;

use common::{example_copy, executable, promptc_env};
use promptc::lm::sim_server::{ServerOptions, SimServer};

const KEY: &str = "sk-hostile-test-5f4e3d2c1b0a9988";

/// Points every role of the example at `url` (the sim server's role models),
/// with the key read from `PROMPTC_TEST_KEY`.
fn use_server(repo: &Path, url: &str) {
    let cfg = repo.join("promptc.yaml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    for (role, model, conc) in [
        ("task", "sim-task", 16),
        ("judge", "sim-judge", 16),
        ("proposer", "sim-proposer", 4),
    ] {
        text = text.replace(
            &format!("{role}: {{provider: sim, model: sim, concurrency: {conc}}}"),
            &format!("{role}: {{provider: openai, model: {model}, base_url: '{url}/v1', api_key_env: PROMPTC_TEST_KEY, concurrency: {conc}}}"),
        );
    }
    assert!(!text.contains("provider: sim"), "{text}");
    std::fs::write(&cfg, text).unwrap();
}

/// Every file under `dir` (the cache database included) whose bytes hold `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            hits.extend(files_containing(&path, needle));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[test]
fn a_key_the_server_echoes_reaches_no_output_and_no_file_and_cold_equals_warm() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = rt
        .block_on(SimServer::start(ServerOptions {
            echo_auth: true,
            ..Default::default()
        }))
        .unwrap();
    let (_d, repo) = example_copy();
    use_server(&repo, &srv.url());
    let env = [("PROMPTC_TEST_KEY", KEY), ("PROMPTC_LOG", "debug")];
    let run = |args: &[&str]| {
        let r = promptc_env(&repo, args, &env);
        assert!(
            !r.stdout.contains(KEY) && !r.stderr.contains(KEY),
            "{args:?} printed the key:\n{}\n{}",
            r.stdout,
            r.stderr
        );
        r
    };

    let ping = run(&["lm", "ping", "--role", "proposer", "--json"]);
    assert_eq!(ping.code, 0, "{}", ping.stderr);
    assert!(
        ping.json()["reply"]
            .as_str()
            .unwrap()
            .starts_with("Authorization: Bearer ***"),
        "the server did not echo: {}",
        ping.stdout
    );

    let cold = run(&["eval", "--split", "val", "--limit", "12", "--json"]);
    assert_eq!(cold.code, 0, "{}", cold.stderr);
    let warm = run(&["eval", "--split", "val", "--limit", "12", "--json"]);
    let (cold, warm) = (cold.json(), warm.json());
    assert!(cold["lm"]["calls"].as_u64().unwrap() > 0);
    assert_eq!(warm["lm"]["calls"], 0, "the warm run made calls");
    assert_eq!(cold["score"], warm["score"], "cold and warm runs differ");
    assert_eq!(cold["worst"], warm["worst"]);

    let opt = run(&["optimize", "--smoke", "--out", "run", "--json"]);
    assert_eq!(opt.code, 0, "{}", opt.stderr);
    let pack = std::fs::read_to_string(repo.join("run/pack.json")).unwrap();
    assert!(
        pack.contains("Authorization: Bearer ***"),
        "the proposer's echo should reach the pack, redacted: the test would catch nothing"
    );
    let ab = run(&[
        "ab",
        "--base",
        "packs/speak.json",
        "--candidate",
        "run/pack.json",
        "--report",
        "abrep",
        "--json",
    ]);
    assert_eq!(ab.code, 0, "{}", ab.stderr);
    let again = run(&[
        "ab",
        "--base",
        "packs/speak.json",
        "--candidate",
        "run/pack.json",
        "--json",
    ]);
    assert_eq!(ab.json()["lift"], again.json()["lift"]);

    let ci = run(&["ci", "--dry-run", "--smoke", "--out", "ciout", "--json"]);
    assert_eq!(ci.code, 0, "{}", ci.stderr);

    assert_eq!(
        files_containing(&repo, KEY.as_bytes()),
        Vec::<String>::new(),
        "files holding the key"
    );
    assert!(srv.requests() > 50, "{} requests", srv.requests());
}

#[test]
fn an_absurd_retry_after_on_every_answer_does_not_panic() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = rt
        .block_on(SimServer::start(ServerOptions {
            extra_header: Some("Retry-After: 1e300".into()),
            ..Default::default()
        }))
        .unwrap();
    let (_d, repo) = example_copy();
    use_server(&repo, &srv.url());
    // A 200 with the header, then a 429 with it: both clamp, neither panics.
    srv.push_fault(promptc::lm::sim_server::Fault::Status {
        code: 429,
        retry_after: Some("1e300".into()),
        message: "slow down".into(),
    });
    let cfg = repo.join("promptc.yaml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("concurrency: 16}", "concurrency: 16, max_retries: 0}");
    std::fs::write(&cfg, text).unwrap();
    let r = promptc_env(
        &repo,
        &["lm", "ping", "--json"],
        &[("PROMPTC_TEST_KEY", KEY)],
    );
    assert_eq!(
        r.code, 1,
        "the 429 fails the ping (no retries): {}",
        r.stderr
    );
    let r = promptc_env(
        &repo,
        &["lm", "ping", "--json"],
        &[("PROMPTC_TEST_KEY", KEY)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// No line of `text`, split as the Actions runner splits (at `\n`, `\r\n`
/// and a lone `\r`), reads as a workflow command.
fn assert_no_workflow_command(what: &str, text: &str) {
    for line in text.split(['\n', '\r']) {
        let t = line.trim_start();
        assert!(
            !t.starts_with("::") && !t.starts_with("##["),
            "{what} printed a workflow command {line:?}:\n{text}"
        );
    }
}

#[test]
fn nothing_a_model_or_a_trace_says_becomes_a_workflow_command() {
    let (_d, repo) = example_copy();
    // A judge whose rationale smuggles commands, and a task model that fails
    // with a stderr full of them.
    let judge = repo.join("judge.sh");
    executable(
        &judge,
        "#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' '{\"score\": 0.1, \"rationale\": \"bad\\n::add-mask::x\\r::set-output name=a::b\\r\\n##[error]boom \\u001b]0;t\\u0007\"}'\n",
    );
    let judge_spec = format!("judge=command:j@{}", judge.display());
    let env = [("GITHUB_ACTIONS", "true"), ("PROMPTC_LOG", "debug")];
    let eval = promptc_env(
        &repo,
        &[
            "--lm",
            "task=sim",
            "--lm",
            &judge_spec,
            "eval",
            "--split",
            "val",
            "--limit",
            "6",
        ],
        &env,
    );
    assert_eq!(eval.code, 0, "{}", eval.stderr);
    assert!(
        eval.stdout.contains("add-mask"),
        "the rationale is shown: {}",
        eval.stdout
    );
    assert_no_workflow_command("eval stdout", &eval.stdout);
    assert_no_workflow_command("eval stderr", &eval.stderr);
    assert!(
        !eval.stdout.contains('\u{1b}'),
        "a raw escape sequence: {:?}",
        eval.stdout
    );

    let task = repo.join("task.sh");
    executable(
        &task,
        "#!/bin/sh\ncat >/dev/null\nprintf 'warming up\\r::error::pwned\\r\\n' >&2\nexit 3\n",
    );
    let task_spec = format!("task=command:t@{}", task.display());
    let failed = promptc_env(
        &repo,
        &[
            "--lm",
            &task_spec,
            "--lm",
            "judge=sim",
            "eval",
            "--split",
            "val",
            "--limit",
            "3",
        ],
        &env,
    );
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("pwned"), "{}", failed.stderr);
    assert_no_workflow_command("a failed eval", &failed.stderr);

    // A trace whose persona and thread carry commands.
    let line = serde_json::json!({
        "signature": "speak", "thread": "th\r::warning::thread", "workspace": "w\n::error::ws",
        "ts": "2026-11-20T10:00:00Z", "inputs": {"persona": "x\r\n::add-mask::p"},
        "outputs": {"utterance": "hi", "rhetorical_move": "probe"}, "status": "ok"
    });
    std::fs::write(
        repo.join("traces/hostile.jsonl"),
        format!("{line}\n{{bad\n"),
    )
    .unwrap();
    for args in [
        &["traces", "stats"][..],
        &["check"][..],
        &["traces", "stats", "--json"][..],
    ] {
        let r = promptc_env(&repo, args, &env);
        assert_no_workflow_command(&format!("{args:?} stdout"), &r.stdout);
        assert_no_workflow_command(&format!("{args:?} stderr"), &r.stderr);
    }
}

/// A server that answers every request with an endless chunked JSON body.
async fn endless_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 65536];
                let _ = s.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
                while s.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn endless_answers_are_cut_at_a_bound_not_read_into_memory() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(endless_server());
    let (_d, repo) = example_copy();
    let spec = format!("task=openai:m@{url}/v1");
    let r = promptc_env(&repo, &["--lm", &spec, "lm", "ping"], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let said = r.stdout + &r.stderr;
    assert!(said.contains("larger than 33554432 bytes"), "{said}");

    let script = repo.join("endless.sh");
    executable(&script, "#!/bin/sh\ncat >/dev/null\nyes 0123456789abcdef\n");
    let spec = format!("task=command:endless@{}", script.display());
    let r = promptc_env(&repo, &["--lm", &spec, "lm", "ping"], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let said = r.stdout + &r.stderr;
    assert!(said.contains("wrote more than 33554432 bytes"), "{said}");
}

#[test]
fn budget_flags_refuse_numbers_that_would_disable_a_cap() {
    let (_d, repo) = example_copy();
    for (flag, value) in [
        ("--max-cost-usd", "NaN"),
        ("--max-cost-usd", "-1"),
        ("--max-wall-minutes", "inf"),
        ("--max-wall-minutes", "0"),
        ("--max-calls", "0"),
    ] {
        let arg = format!("{flag}={value}");
        let r = promptc_env(&repo, &["ci", "--dry-run", &arg], &[]);
        assert_eq!(r.code, 2, "{flag} {value}: {}", r.stderr);
        assert!(r.stderr.contains(flag), "{flag} {value}: {}", r.stderr);
    }
}

#[test]
fn a_field_or_signature_written_twice_is_an_error_naming_both_lines() {
    let (_d, repo) = example_copy();
    let sig_path = repo.join("signature.yaml");
    let sig = std::fs::read_to_string(&sig_path).unwrap();
    let first_input = sig
        .lines()
        .skip_while(|l| !l.starts_with("inputs:"))
        .nth(1)
        .unwrap()
        .to_string();
    // The same input again at the end of `inputs:`.
    let doubled = sig.replacen(
        "outputs:",
        &format!("{first_input}\n    desc: again\noutputs:"),
        1,
    );
    std::fs::write(&sig_path, &doubled).unwrap();
    let r = promptc_env(&repo, &["check", "--json"], &[]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    let j = r.json();
    let msg = j["problems"][0]["message"].as_str().unwrap();
    let name = first_input.trim().trim_end_matches(':');
    assert!(
        msg.starts_with(&format!("duplicate key `{name}` (lines ")),
        "{msg}"
    );
    assert_eq!(j["problems"][0]["key"], "inputs", "{j}");

    std::fs::write(&sig_path, sig).unwrap();
    let cfg = repo.join("promptc.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let block: String = text
        .lines()
        .skip_while(|l| !l.starts_with("  speak:"))
        .take_while(|l| l.starts_with("  ") || l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let twice = text.replacen("signatures:\n", &format!("signatures:\n{block}"), 1);
    std::fs::write(&cfg, twice).unwrap();
    let r = promptc_env(&repo, &["check"], &[]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("signatures: duplicate key `speak` (lines 6 and 13)"),
        "{}",
        r.stdout
    );
}
