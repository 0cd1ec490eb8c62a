//! Real-model benchmark: promptc on the example against Qwen2.5-Coder-1.5B on
//! llama.cpp (started by `scripts/real-model.sh`), with the documented
//! local-server settings (one request in flight, a 600 s timeout) and a
//! metric of one judge and one trace dimension. Prints, per step, wall time,
//! calls, retries, failures and the first-try parse rate per role:
//!
//! 1. `eval --limit 20` under the sections adapter, then under the json one
//!    (each from a cold cache): at least 20 task and 20 judge answers each;
//! 2. `optimize --smoke`;
//! 3. `ab` of the smoke pack against today's pack on 16 held-out turns.
//!
//! Asserts nothing; takes tens of minutes on two cores. `PROMPTC_BENCH_STEPS=3,4`
//! runs only those steps.
//!
//!     cargo bench --bench real_model

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/real-model.sh"))
        .arg("start")
        .output()
        .expect("scripts/real-model.sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = dir.path().join("gossip");
    copy(&root.join("examples/gossip"), &repo);
    configure(&repo, &url);
    println!("real model at {url}; repository {}", repo.display());
    println!(
        "{:<34} {:>8} {:>6} {:>7} {:>8}  first-try parse rate (parsed first / answers)",
        "step", "wall s", "calls", "retries", "failures"
    );
    let steps: [(&str, Vec<&str>, &str); 4] = [
        (
            "eval --limit 20 (sections)",
            vec![
                "eval",
                "--split",
                "val",
                "--limit",
                "20",
                "--adapter",
                "sections",
                "--json",
            ],
            "cache-sections",
        ),
        (
            "eval --limit 20 (json)",
            vec![
                "eval",
                "--split",
                "val",
                "--limit",
                "20",
                "--adapter",
                "json",
                "--json",
            ],
            "cache-json",
        ),
        (
            "optimize --smoke",
            vec!["optimize", "--smoke", "--out", "run", "--json"],
            "cache-opt",
        ),
        (
            "ab (16 held-out turns)",
            vec![
                "ab",
                "--base",
                "packs/speak.json",
                "--candidate",
                "run/pack.json",
                "--json",
            ],
            "cache-opt",
        ),
    ];
    // PROMPTC_BENCH_STEPS=3,4 runs only those steps (1-based).
    let only: Option<Vec<usize>> = std::env::var("PROMPTC_BENCH_STEPS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect());
    for (i, (name, args, cache)) in steps.into_iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(&(i + 1))) {
            continue;
        }
        set_cache(&repo, cache);
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_promptc"))
            .args(&args)
            .current_dir(&repo)
            .output()
            .expect("promptc runs");
        let wall = start.elapsed().as_secs_f64();
        let j: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if !out.status.success() {
            println!("{name}: failed: {}", String::from_utf8_lossy(&out.stdout));
            continue;
        }
        let lm = &j["lm"]["roles"];
        let mut rates = Vec::new();
        let (mut calls, mut retries, mut failures) = (0, 0, 0);
        for role in ["task", "judge", "proposer"] {
            let r = &lm[role];
            calls += r["calls"].as_u64().unwrap_or(0);
            retries += r["retries"].as_u64().unwrap_or(0);
            failures += r["failures"].as_u64().unwrap_or(0);
            let first = r["parsed_first_try"].as_u64().unwrap_or(0);
            let answers = first + r["reasked"].as_u64().unwrap_or(0);
            if answers > 0 {
                rates.push(format!(
                    "{role} {:.0}% ({first}/{answers})",
                    100.0 * first as f64 / answers as f64
                ));
            }
        }
        println!(
            "{name:<34} {wall:>8.1} {calls:>6} {retries:>7} {failures:>8}  {}",
            rates.join(", ")
        );
        if let Some(score) = j["score"].as_f64() {
            println!(
                "    score {score:.1} on {} examples, {} failed to parse",
                j["n"], j["failed"]
            );
        }
        if let Some(lift) = j["lift"].as_f64() {
            println!(
                "    lift {lift:+.1}, 95% CI {}, decision {}",
                j["ci95"], j["decision"]
            );
        }
        if let Some(best) = j["best_val"].as_f64() {
            println!(
                "    baseline val {:.1}, best val {best:.1}",
                j["baseline_val"].as_f64().unwrap_or(0.0)
            );
        }
    }
}

fn configure(repo: &Path, url: &str) {
    let cfg = repo.join("promptc.yaml");
    let mut text = std::fs::read_to_string(&cfg).expect("config");
    for (role, conc) in [("task", 16), ("judge", 16), ("proposer", 4)] {
        text = text.replace(
            &format!("{role}: {{provider: sim, model: sim, concurrency: {conc}}}"),
            &format!("{role}: {{provider: openai, model: qwen2.5-coder-1.5b, base_url: '{url}', timeout_secs: 600}}"),
        );
    }
    text = text.replace("  max_val: 80\n", "  max_val: 80\n  max_heldout: 16\n");
    text = text.replace("  min_heldout: 30\n", "  min_heldout: 10\n");
    text = text.replace("  min_heldout_turns: 40\n", "  min_heldout_turns: 10\n");
    text.push_str("\nlimits:\n  max_in_flight: 1\n");
    std::fs::write(&cfg, text).expect("config");
    std::fs::write(
        repo.join("metric.yaml"),
        "scale: 100\ndimensions:\n  verified_claim_ratio: {judge: judges/verified.md, weight: 0.7}\n  move_repetition: {trace: move_repetition, weight: 0.3, window: 3}\n",
    )
    .expect("metric");
}

fn set_cache(repo: &Path, name: &str) {
    let cfg = repo.join("promptc.yaml");
    let text = std::fs::read_to_string(&cfg).expect("config");
    let start = text.find("  path: .promptc/").expect("cache path");
    let end = start + text[start..].find('\n').expect("line");
    let text = format!(
        "{}  path: .promptc/{name}.sqlite{}",
        &text[..start],
        &text[end..]
    );
    std::fs::write(&cfg, text).expect("config");
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            if e.file_name() != ".promptc" {
                copy(&e.path(), &dest);
            }
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}
