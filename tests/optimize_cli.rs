//! `promptc optimize` on the example: smoke, full, a planted winner, no
//! winner, GEPA, per-persona packs, and resuming a stopped run.

mod common;

use std::path::Path;

use common::{example_copy, executable, promptc_in};
use serde_json::Value;

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A proposer that answers every proposal with `instruction` and every
/// summary with one observation.
fn proposer_script(repo: &Path, instruction: &str) -> String {
    let answer = repo.join("instruction.txt");
    std::fs::write(&answer, instruction).unwrap();
    let script = repo.join("proposer.sh");
    executable(
        &script,
        &format!(
            "#!/bin/sh\nif grep -q '=== current_instruction ===' ; then printf '=== instruction ===\\n'; cat '{}'; printf '\\n\\n=== diagnosis ===\\nplanted\\n\\n=== end ===\\n'; else printf '=== observations ===\\n- short rooms\\n\\n=== end ===\\n'; fi\n",
            answer.display()
        ),
    );
    format!("proposer=command:planted@{}", script.display())
}

const PLANTED: &str = common::BETTER;

#[test]
fn smoke_and_full_runs_write_a_valid_pack_that_beats_the_baseline() {
    let (_d, repo) = example_copy();
    let smoke = promptc_in(&repo, &["--lm", "all=sim", "optimize", "--smoke", "--json"]);
    assert_eq!(smoke.code, 0, "{}", smoke.stderr);
    let s = smoke.json();
    assert_eq!(s["trials"], 3);

    let full = promptc_in(&repo, &["--lm", "all=sim", "optimize", "--json"]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    let j = full.json();
    assert!(
        j["best_val"].as_f64().unwrap() > j["baseline_val"].as_f64().unwrap() + 5.0,
        "{j}"
    );
    assert_eq!(j["trials"], 25);
    let pack_path = repo.join(j["pack"].as_str().unwrap()).display().to_string();
    let check = promptc_in(
        &repo,
        &[
            "pack",
            "validate",
            &pack_path,
            "--signature",
            "speak",
            "--json",
        ],
    );
    assert_eq!(check.code, 0, "{}", check.stderr);
    let pack = read(Path::new(&pack_path));
    assert_eq!(pack["format"], "promptc.pack/v2");
    let prov = &pack["provenance"];
    assert_eq!(prov["optimizer"]["name"], "mipro");
    assert_eq!(prov["optimizer"]["seed"], 7);
    assert_eq!(prov["val_score"], j["best_val"]);
    assert_eq!(prov["split"]["val"], 80);
    assert!(prov["train_cutoff"].as_str().unwrap() >= "2026-11-01T00:00:00Z");
    assert!(
        prov["trace_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(prov["base_pack"]["sha256"].as_str().unwrap().len() == 64);
    assert_eq!(prov["lms"]["task"], "sim:sim");
    // The trial log was written as the run went: a header, the candidates, the trials.
    let log = std::fs::read_to_string(repo.join(".promptc/runs/speak/trials.jsonl")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "start");
    assert_eq!(lines.iter().filter(|l| l["type"] == "trial").count(), 25);
    assert!(lines.iter().any(|l| l["type"] == "full"));
}

#[test]
fn a_planted_better_instruction_is_found() {
    let (_d, repo) = example_copy();
    let spec = proposer_script(&repo, PLANTED);
    let run = promptc_in(&repo, &["--lm", &spec, "optimize", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    let pack = read(&repo.join(j["pack"].as_str().unwrap()));
    assert_eq!(pack["instructions"], PLANTED);
    assert!(j["best_val"].as_f64().unwrap() > j["baseline_val"].as_f64().unwrap());
}

#[test]
fn when_no_candidate_is_better_the_result_is_todays_pack() {
    let (_d, repo) = example_copy();
    let spec = proposer_script(&repo, "Be brief.");
    // Only today's demos and zero-shot: no demo set can win on its own.
    let cfg = repo.join("promptc.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "  num_trials: 25\n",
        "  num_trials: 25\n  num_demo_sets: 1\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let run = promptc_in(&repo, &["--lm", &spec, "optimize", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["improved"], false, "{j}");
    assert_eq!(j["best_val"], j["baseline_val"]);
    let base = read(&repo.join("packs/speak.json"));
    let pack = read(&repo.join(j["pack"].as_str().unwrap()));
    assert_eq!(pack["instructions"], base["instructions"]);
    assert_eq!(pack["demos"], base["demos"]);
    assert!(
        run.stderr
            .contains("no candidate beat today's pack; it is kept"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_stopped_run_resumes_from_its_trial_log_to_the_identical_pack() {
    // The reference: one uninterrupted run.
    let (_a, whole) = example_copy();
    let a = promptc_in(&whole, &["optimize", "--json"]).json();
    let pack_a = read(&whole.join(a["pack"].as_str().unwrap()));

    // The same run stopped midway by a budget cap, as a kill would stop it…
    let (_b, repo) = example_copy();
    let cfg = repo.join("promptc.yaml");
    let original = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        original.replace("max_calls: 20000", "max_calls: 1300"),
    )
    .unwrap();
    let stopped = promptc_in(&repo, &["optimize", "--json"]).json();
    assert!(
        stopped["stopped"]
            .as_str()
            .unwrap()
            .contains("budget.max_calls is 1300"),
        "{stopped}"
    );
    let logged = std::fs::read_to_string(repo.join(".promptc/runs/speak/trials.jsonl")).unwrap();
    let trials_before = logged
        .lines()
        .filter(|l| l.contains("\"type\":\"trial\""))
        .count();
    assert!(
        trials_before > 0 && trials_before < 25,
        "{trials_before} trials before the stop"
    );

    // …then resumed without the cap.
    std::fs::write(&cfg, original).unwrap();
    let run = promptc_in(&repo, &["optimize", "--resume", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("resumed"), "{}", run.stderr);
    let b = run.json();
    let pack_b = read(&repo.join(b["pack"].as_str().unwrap()));
    let strip = |mut p: Value| {
        p["provenance"]["created_at"] = Value::Null;
        p
    };
    assert_eq!(strip(pack_a), strip(pack_b));
    assert_eq!(a["best_val"], b["best_val"]);

    // A log from other settings is refused, not mixed in.
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("seed: 7\n  num_candidates", "seed: 8\n  num_candidates"),
    )
    .unwrap();
    let refused = promptc_in(&repo, &["optimize", "--resume"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("is the trial log of another run"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_budget_spent_before_todays_score_is_in_is_an_error_and_no_pack() {
    let (_d, repo) = example_copy();
    let cfg = repo.join("promptc.yaml");
    let original = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, original.replace("max_calls: 20000", "max_calls: 5")).unwrap();
    let run = promptc_in(&repo, &["optimize", "--json"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    // The bootstrapping or today's evaluation, whichever asks past the cap,
    // names it.
    assert!(
        run.stderr.contains("budget exhausted")
            && run
                .stderr
                .contains("5 LM calls made, budget.max_calls is 5"),
        "{}",
        run.stderr
    );
    assert!(
        !repo.join(".promptc/runs/speak/pack.json").exists(),
        "no pack without today's score"
    );
}

#[test]
fn gepa_evolves_an_instruction_from_judge_feedback() {
    let (_d, repo) = example_copy();
    let run = promptc_in(&repo, &["optimize", "--optimizer", "gepa", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert!(
        j["best_val"].as_f64().unwrap() > j["baseline_val"].as_f64().unwrap(),
        "{j}"
    );
    let log = std::fs::read_to_string(repo.join(".promptc/runs/speak/trials.jsonl")).unwrap();
    let steps: Vec<Value> = log
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(steps.len(), 25);
    assert!(steps.iter().any(|s| s["accepted"] == true));
    // A child is kept only when it beat its parent on the same minibatch.
    for s in steps.iter().filter(|s| s["accepted"] == true) {
        assert!(s["minibatch_child"].as_f64().unwrap() > s["minibatch_parent"].as_f64().unwrap());
    }
}

#[test]
fn per_persona_optimization_writes_a_v3_pack() {
    let (_d, repo) = example_copy();
    let run = promptc_in(&repo, &["optimize", "--per-persona", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    let path = repo.join(j["pack"].as_str().unwrap()).display().to_string();
    let pack = read(Path::new(&path));
    assert_eq!(
        pack["format"], "promptc.pack/v3",
        "{}",
        pack["persona_instructions"]
    );
    let overrides = pack["persona_instructions"].as_object().unwrap();
    assert!(!overrides.is_empty());
    assert_eq!(
        pack["rendered"]["personas"].as_object().unwrap().len(),
        overrides.len()
    );
    let check = promptc_in(&repo, &["pack", "validate", &path, "--signature", "speak"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
}

#[test]
fn examples_lost_to_a_failing_judge_are_left_out_of_every_candidates_score() {
    let (_d, repo) = example_copy();
    // A judge that fails for good on about one prompt in 32 (by the
    // prompt's hash: the same prompt fails again on the retry).
    let judge = repo.join("judge.sh");
    executable(
        &judge,
        "#!/bin/sh\nh=$(sha256sum | cut -c1-2)\ncase $h in 0[0-7]) echo 'judge crashed' >&2; exit 1;; esac\necho '{\"score\": 0.5, \"rationale\": \"ok\"}'\n",
    );
    let cfg = repo.join("promptc.yaml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\neval:\n  max_errors: 50\n");
    std::fs::write(&cfg, text).unwrap();
    let spec = format!("judge=command:flaky@{}", judge.display());
    let run = promptc_in(
        &repo,
        &[
            "--lm",
            "task=sim",
            "--lm",
            "proposer=sim",
            "--lm",
            &spec,
            "--lm-set",
            "judge.max_retries=0",
            "optimize",
            "--smoke",
            "--out",
            "run",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = read(&repo.join("run/report.json"));
    let lost = report["lost_examples"].as_array().unwrap();
    assert!(!lost.is_empty(), "the flaky judge lost nothing: {report}");
    // The trial log says which examples were left out and the rescored values.
    let log = std::fs::read_to_string(repo.join("run/trials.jsonl")).unwrap();
    let entry: Value = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "lost")
        .expect("a `lost` entry in the trial log");
    assert_eq!(&entry["examples"], &report["lost_examples"]);
    assert_eq!(entry["baseline"], report["baseline_val"]);
    assert_eq!(entry["best"], report["best_val"]);
}
