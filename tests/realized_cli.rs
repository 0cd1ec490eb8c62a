//! `promptc realized`: the deployed pack's traffic against the replaced
//! pack's, on the example's deployed history and on traffic whose mix moved.

mod common;

use std::collections::HashMap;

use common::{example_copy, promptc_in};
use promptc::commands::{Context, Global};
use promptc::config::CacheMode;
use promptc::lm::LmClient;
use promptc::metric::Metric;
use serde_json::Value;

/// The truth the realized check estimates: on December's turns, what the
/// deployed pack's answers scored minus what the replaced pack would have
/// answered to the same turns (the generator wrote those beside them).
fn planted_lift(repo: &std::path::Path) -> f64 {
    let mut ctx = Context::load(&Global {
        config: repo.join("deployed.yaml"),
        ..Default::default()
    })
    .unwrap();
    ctx.config.cache.mode = CacheMode::Off;
    let counterfactual: HashMap<String, serde_json::Map<String, Value>> =
        std::fs::read_to_string(repo.join("deployed/counterfactual.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (
                    v["id"].as_str().unwrap().to_string(),
                    v["outputs"].as_object().unwrap().clone(),
                )
            })
            .collect();
    let deployed = ctx.current_pack().unwrap().pack.id().0;
    let files = ctx.trace_files(&[]).unwrap();
    let turns: Vec<_> = ctx
        .dataset(&files)
        .unwrap()
        .turns
        .into_iter()
        .filter(|t| t.clean && t.pack.as_deref() == Some(deployed.as_str()))
        .collect();
    assert!(turns.len() > 200, "{} deployed turns", turns.len());
    let metric = Metric::load(&repo.join("metric.yaml"), &ctx.signature, Some("persona")).unwrap();
    let lm = LmClient::from_config(&ctx.config).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut diffs = Vec::new();
        for t in &turns {
            let served = metric.score(&lm, t, &t.outputs).await.unwrap().score;
            let would = metric
                .score(&lm, t, &counterfactual[&t.id.0])
                .await
                .unwrap()
                .score;
            diffs.push(served - would);
        }
        diffs.iter().sum::<f64>() / diffs.len() as f64
    })
}

fn within(d: &Value, x: f64) -> bool {
    d["ci95"][0].as_f64().unwrap() <= x && x <= d["ci95"][1].as_f64().unwrap()
}

#[test]
fn on_the_example_the_realized_lift_holds_the_planted_one_and_no_task_model_is_called() {
    let (_d, repo) = example_copy();
    let run = promptc_in(
        &repo,
        &[
            "--config",
            "deployed.yaml",
            "--json",
            "realized",
            "--lm",
            "all=sim",
            "--report",
            "out",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    let truth = planted_lift(&repo);
    assert!(truth > 2.0, "the generator plants a gain: {truth}");
    assert!(within(&j["adjusted"], truth), "truth {truth}: {j:#}");
    assert!(within(&j["raw"], truth), "truth {truth}: {j:#}");
    // The arms: December's deployed pack against the pack its provenance says it replaced.
    let deployed: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("deployed/speak.json")).unwrap())
            .unwrap();
    assert_eq!(j["previous"], deployed["provenance"]["base_pack"]["id"]);
    assert!(j["current"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(j["adjusted"]["n_previous"], 572);
    assert_eq!(j["randomized"], false);
    // Predicted +16.8 on the A/B; realized far below it, and said so.
    let predicted = &j["predicted"];
    assert_eq!(predicted["n"], deployed["provenance"]["ab"]["n"]);
    assert_eq!(j["verdict"], "below_prediction", "{j:#}");
    // Only judges: the answers scored are the ones users got.
    let roles = &j["lm"]["roles"];
    assert_eq!(roles["task"]["calls"], 0);
    assert_eq!(roles["proposer"]["calls"], 0);
    let turns = j["raw"]["n_current"].as_u64().unwrap() + j["raw"]["n_previous"].as_u64().unwrap();
    // Four judges per turn; a judge prompt asked before is answered from the cache.
    let judge = &roles["judge"];
    assert_eq!(
        judge["calls"].as_u64().unwrap() + judge["cache_hits"].as_u64().unwrap(),
        4 * turns,
        "{judge}"
    );
    let md = std::fs::read_to_string(repo.join("out/realized.md")).unwrap();
    assert!(md.contains("**below the prediction**"), "{md}");
    assert!(md.contains("simulated scores"), "{md}");
}

#[test]
fn a_shift_in_the_traffic_mix_fools_the_raw_difference_and_not_the_adjusted_one() {
    let (_d, repo) = example_copy();
    // One workspace's norms make every answer name an owner and a date (the
    // artifact judge scores it higher under either pack). The same answers,
    // split by thread into two packs: the new one served mostly that
    // workspace. No pack did anything: the true lift is zero.
    let traces = repo.join("traces");
    for entry in std::fs::read_dir(&traces).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            let mut v: Value = serde_json::from_str(line).unwrap();
            let thread = v["thread"].as_str().unwrap().to_string();
            let n: u32 = thread.trim_start_matches("th_").parse().unwrap();
            let rich = v["workspace"] == "acme";
            // 80% of acme's threads to the new pack, 20% of the others'.
            let new = rich != n.is_multiple_of(5);
            v["pack"] = Value::String(if new { "new" } else { "old" }.into());
            if rich && v["status"] == "ok" {
                let u = v["outputs"]["utterance"].as_str().unwrap().to_string();
                v["outputs"]["utterance"] =
                    Value::String(format!("{u} Owner: the room, decision by 2026-12-01."));
            }
            out.push_str(&v.to_string());
            out.push('\n');
        }
        std::fs::write(&path, out).unwrap();
    }
    let run = promptc_in(
        &repo,
        &[
            "--json",
            "realized",
            "--lm",
            "all=sim",
            "--current",
            "new",
            "--previous",
            "old",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert!(
        j["raw"]["ci95"][0].as_f64().unwrap() > 0.0,
        "the raw difference is fooled: {j:#}"
    );
    assert!(
        within(&j["adjusted"], 0.0),
        "the adjusted one is not: {j:#}"
    );
    assert!(
        j["adjusted"]["lift"].as_f64().unwrap().abs() < j["raw"]["lift"].as_f64().unwrap() / 3.0,
        "{j:#}"
    );
    assert_eq!(j["predicted"], Value::Null);
    assert!(j["comparison"]["threads_current"].as_u64().unwrap() > 10);
}

#[test]
fn a_rollout_is_compared_as_a_randomized_experiment_in_its_own_window() {
    let (_d, repo) = example_copy();
    let truth = planted_lift(&repo);
    // December: each thread got the candidate or today's pack by the stable
    // hash, as the runtimes' choosePack picks; the answers each pack gives.
    let candidate = promptc::pack::load(&repo.join("deployed/speak.json"), None)
        .unwrap()
        .pack
        .id()
        .0;
    let today = promptc::pack::load(&repo.join("packs/speak.json"), None)
        .unwrap()
        .pack
        .id()
        .0;
    let would: HashMap<String, Value> =
        std::fs::read_to_string(repo.join("deployed/counterfactual.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (v["id"].as_str().unwrap().to_string(), v["outputs"].clone())
            })
            .collect();
    let mut out = String::new();
    // Distinct clean turns per arm (the logger wrote a few lines twice).
    let mut seen = std::collections::HashSet::new();
    let mut served = [0usize; 2];
    for line in std::fs::read_to_string(repo.join("deployed/traces/2026-12.jsonl"))
        .unwrap()
        .lines()
    {
        let mut v: Value = serde_json::from_str(line).unwrap();
        let new = promptc::realized::serves_candidate(v["thread"].as_str().unwrap(), 0.5);
        if v["status"] == "ok" && seen.insert(v["id"].to_string()) {
            served[usize::from(new)] += 1;
        }
        if new {
            v["pack"] = Value::String(candidate.clone());
        } else {
            v["pack"] = Value::String(today.clone());
            v["outputs"] = would[v["id"].as_str().unwrap()].clone();
        }
        out.push_str(&format!("{v}\n"));
    }
    assert!(served[0] > 60 && served[1] > 60, "{served:?}");
    std::fs::create_dir_all(repo.join("rollout")).unwrap();
    std::fs::write(repo.join("rollout/2026-12.jsonl"), out).unwrap();
    let config = std::fs::read_to_string(repo.join("promptc.yaml"))
        .unwrap()
        .replace(
            "    traces: [\"traces/*.jsonl\"]\n",
            "    traces: [\"traces/*.jsonl\", \"rollout/*.jsonl\"]\n    rollout: {candidate: deployed/speak.json, share: 0.5}\n",
        );
    assert!(config.contains("rollout:"));
    std::fs::write(repo.join("rollout.yaml"), config).unwrap();

    let run = promptc_in(
        &repo,
        &[
            "--config",
            "rollout.yaml",
            "--json",
            "realized",
            "--lm",
            "all=sim",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["randomized"], true, "{j:#}");
    assert_eq!(j["current"], candidate.as_str());
    assert_eq!(j["previous"], today.as_str());
    // The same window: only December's turns, not today's pack's older traffic.
    // (today's pack's December turns from the candidate's first turn on).
    let n_previous = j["raw"]["n_previous"].as_u64().unwrap() as usize;
    assert!(
        n_previous <= served[0] && n_previous * 4 > served[0] * 3,
        "{served:?}: {j:#}"
    );
    assert_eq!(
        j["raw"]["n_current"].as_u64().unwrap() as usize,
        served[1],
        "{j:#}"
    );
    let from = |i: usize| j["windows"][i]["from"].as_str().unwrap().to_string();
    assert!(
        from(1) >= from(0) && from(1).starts_with("2026-12"),
        "{j:#}"
    );
    assert!(within(&j["raw"], truth), "truth {truth}: {j:#}");
    assert!(j["raw"]["ci95"][0].as_f64().unwrap() > 0.0, "{j:#}");
    let md_run = promptc_in(
        &repo,
        &[
            "--config",
            "rollout.yaml",
            "realized",
            "--lm",
            "all=sim",
            "--report",
            "out",
        ],
    );
    assert_eq!(md_run.code, 0);
    let md = std::fs::read_to_string(repo.join("out/realized.md")).unwrap();
    assert!(
        md.contains("randomized: the application chose the pack per thread"),
        "{md}"
    );
}
