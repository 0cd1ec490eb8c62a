//! `promptc ab` and `promptc diff` on the example with the simulator.

mod common;

use common::{BETTER, example_copy, promptc_in};

#[test]
fn the_baseline_against_itself_lifts_zero_and_skips() {
    let (_d, repo) = example_copy();
    let run = promptc_in(
        &repo,
        &[
            "--lm",
            "all=sim",
            "ab",
            "--base",
            "packs/speak.json",
            "--candidate",
            "packs/speak.json",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    for key in [
        "n",
        "base",
        "candidate",
        "lift",
        "ci95",
        "p_value",
        "wins",
        "ties",
        "losses",
        "dimensions",
        "decision",
    ] {
        assert!(j.get(key).is_some(), "missing {key}");
    }
    assert_eq!(j["lift"], 0.0);
    assert_eq!(j["decision"], "skip");
    assert_eq!(j["ties"], j["n"]);
    assert_eq!(j["p_value"], 1.0);
    assert_eq!(j["n"], 136, "the fresh held-out set");
    // No spread between identical packs: any true lift would show.
    assert_eq!(j["detectable_lift"], 0.0);
}

#[test]
fn a_better_pack_shows_a_positive_lift_and_opens() {
    let (_d, repo) = example_copy();
    let text = std::fs::read_to_string(repo.join("packs/speak.json")).unwrap();
    let mut pack: serde_json::Value = serde_json::from_str(&text).unwrap();
    pack["instructions"] = serde_json::Value::String(BETTER.into());
    // Written through a Value: the signature's field order must survive, so re-render with promptc.
    std::fs::write(
        repo.join("better.json"),
        text.replacen(
            &serde_json::to_string(
                &serde_json::from_str::<serde_json::Value>(&text).unwrap()["instructions"],
            )
            .unwrap(),
            &serde_json::to_string(&pack["instructions"]).unwrap(),
            1,
        ),
    )
    .unwrap();
    assert_eq!(
        promptc_in(
            &repo,
            &[
                "pack",
                "render",
                "better.json",
                "--write",
                "--signature",
                "speak"
            ]
        )
        .code,
        0
    );
    let run = promptc_in(
        &repo,
        &[
            "ab",
            "--base",
            "packs/speak.json",
            "--candidate",
            "better.json",
            "--report",
            "out",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert!(j["lift"].as_f64().unwrap() > 5.0, "{j}");
    assert!(j["ci95"][0].as_f64().unwrap() > 0.0, "{j}");
    assert_eq!(j["decision"], "open");
    assert!(j["wins"].as_u64().unwrap() > j["losses"].as_u64().unwrap());
    // A proven lift is larger than what the A/B could detect; the report says what that was.
    let detectable = j["detectable_lift"].as_f64().unwrap();
    assert!(
        detectable > 0.0 && detectable < j["lift"].as_f64().unwrap(),
        "{j}"
    );
    // The example asks for two answers per example and pack: the A/B measures
    // the part of its spread that is the task's own sampling.
    assert_eq!(j["task_samples"], 2);
    let n = j["n"].as_u64().unwrap();
    assert!(
        j["lm"]["roles"]["task"]["calls"].as_u64().unwrap() >= 2 * 2 * n,
        "{j}"
    );
    let sampling = j["sampling_sd"].as_f64().unwrap();
    assert!(sampling > 0.0 && sampling.is_finite(), "{j}");
    let md = std::fs::read_to_string(repo.join("out/report.md")).unwrap();
    assert!(
        md.contains(&format!("detects a true lift of about {detectable:+.1}")),
        "{md}"
    );
    assert!(md.contains("each score the mean of 2 answers"), "{md}");
    // A later look at the same pack decides on a wider interval (from the cache: no new calls).
    let third = promptc_in(
        &repo,
        &[
            "ab",
            "--base",
            "packs/speak.json",
            "--candidate",
            "better.json",
            "--look",
            "3",
            "--json",
        ],
    )
    .json();
    assert_eq!(third["look"], 3);
    assert_eq!(
        third["ci95"], j["ci95"],
        "the measured 95% interval is the same"
    );
    assert!(
        third["decision_confidence"].as_f64().unwrap() > j["decision_confidence"].as_f64().unwrap()
    );
    assert!(third["decision_ci"][0].as_f64().unwrap() < j["decision_ci"][0].as_f64().unwrap());
    assert_eq!(third["lm"]["calls"], 0, "{third}");
    assert!(
        md.contains("**Decision: open**") && md.contains("> [!WARNING]"),
        "{md}"
    );
    assert!(
        md.contains("+Only state facts that appear in `evidence`"),
        "{md}"
    );

    let diff = promptc_in(
        &repo,
        &[
            "diff",
            "packs/speak.json",
            "better.json",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert!(diff.stdout.starts_with("```diff\n"), "{}", diff.stdout);
    assert!(
        diff.stdout
            .contains("\n-Keep it short: one to four sentences."),
        "{}",
        diff.stdout
    );
}

#[test]
fn a_guard_on_a_dimension_the_metric_lacks_is_an_input_error() {
    let (_d, repo) = example_copy();
    let cfg = repo.join("promptc.yaml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("  min_heldout: 30\n"), "{text}");
    text = text.replace(
        "  min_heldout: 30\n",
        "  min_heldout: 30\n  guards:\n    groundedness: 5\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let run = promptc_in(
        &repo,
        &[
            "ab",
            "--base",
            "packs/speak.json",
            "--candidate",
            "packs/speak.json",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("ab.guards.groundedness is not a dimension of the metric"),
        "{}",
        run.stderr
    );
}

/// The simulator under another name: a real-looking label, the simulator's answers.
struct Named {
    label: String,
    sim: promptc::lm::sim::Sim,
}

#[async_trait::async_trait]
impl promptc::lm::Lm for Named {
    fn label(&self) -> String {
        self.label.clone()
    }
    async fn complete(
        &self,
        req: &promptc::lm::LmRequest,
    ) -> Result<promptc::lm::Completion, promptc::lm::CallError> {
        self.sim.complete(req).await
    }
}

fn named(role: promptc::lm::Role, label: &str) -> std::sync::Arc<dyn promptc::lm::Lm> {
    std::sync::Arc::new(Named {
        label: label.into(),
        sim: promptc::lm::sim::Sim::new(role, "sim"),
    })
}

#[test]
fn a_judge_that_is_also_the_task_model_is_called_out_in_the_report() {
    use promptc::lm::Role;
    let (_d, repo) = example_copy();
    let ctx = promptc::commands::Context::load(&promptc::commands::Global {
        config: repo.join("promptc.yaml"),
        ..Default::default()
    })
    .unwrap();
    let pack = repo.join("packs/speak.json");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report_with = |task: &str, judge: &str| {
        let lm = promptc::lm::LmClient::with_providers(
            &ctx.config,
            vec![
                named(Role::Task, task),
                named(Role::Judge, judge),
                named(Role::Proposer, task),
            ],
        )
        .unwrap();
        rt.block_on(promptc::commands::ab::compare_with(
            &ctx, &pack, &pack, &lm, 1,
        ))
        .unwrap()
        .0
    };
    let same = report_with("openai:gpt-4o-mini", "openai:gpt-4o-mini");
    assert_eq!(same.cautions.len(), 1, "{:?}", same.cautions);
    assert!(same.cautions[0].contains("same model (openai:gpt-4o-mini)"));
    assert!(
        same.markdown()
            .contains("> [!NOTE]\n> The task and the judge are the same model")
    );
    let other = report_with("openai:gpt-4o-mini", "anthropic:claude-haiku");
    assert!(other.cautions.is_empty(), "{:?}", other.cautions);
}
