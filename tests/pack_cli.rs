//! Packs, schemas, config errors and the one rendering path, through the binary.

mod common;

use common::{example_copy, promptc, promptc_in, root};
use promptc::schema::{SchemaKind, generate};
use serde_json::Value;

const CFG: &str = "examples/gossip/promptc.yaml";
const PACK: &str = "examples/gossip/packs/speak.json";

#[test]
fn committed_schemas_match_the_types() {
    for kind in SchemaKind::ALL {
        let path = root().join("packs/schema").join(kind.file_name());
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generate(kind),
            "{} drifted from the Rust types; regenerate it with `promptc schema {:?} > {}`",
            path.display(),
            kind,
            path.display()
        );
    }
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let run = promptc(&["schema", "trace"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        std::fs::read_to_string(root().join("packs/schema/trace.schema.json")).unwrap()
    );
}

#[test]
fn the_example_pack_is_a_valid_v2_checked_against_its_signature() {
    let run = promptc(&["--config", CFG, "pack", "validate", PACK, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["ok"], Value::Bool(true));
    assert_eq!(j["format"], "promptc.pack/v2");
    assert_eq!(j["signature_checked"], "speak");
}

#[test]
fn signature_instructions_in_a_v1_voice_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voices.json");
    let pack = serde_json::json!({
        "format": "promptc.pack/v1",
        "signature": "speak",
        "voices": {
            "skeptic": "Dry and exact; asks for the number behind every claim.",
            "builder": "Reply with an utterance and tag the rhetorical_move: reframe, steelman, probe, synthesize or verify."
        }
    });
    std::fs::write(&path, pack.to_string()).unwrap();
    let cfg = root().join(CFG);
    let run = promptc(&[
        "--config",
        cfg.to_str().unwrap(),
        "--signature",
        "speak",
        "pack",
        "validate",
        path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(run.code, 2);
    let problems = run.json()["problems"].as_array().unwrap().clone();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = problems[0].as_str().unwrap();
    assert!(
        p.starts_with("voices.builder: this voice reads like signature instructions"),
        "{p}"
    );
    assert!(
        p.contains("names the output field `utterance`")
            && p.contains("lists 5 values of `rhetorical_move`"),
        "{p}"
    );
}

#[test]
fn a_hand_edited_pack_is_flagged_stale_and_render_write_brings_it_up_to_date() {
    let (_d, repo) = example_copy();
    let pack_path = repo.join("packs/speak.json");
    let text = std::fs::read_to_string(&pack_path).unwrap();
    let edited = text.replacen(
        "Keep it short: one to four sentences.",
        "Keep it short: one to four sentences. Never state a number that is not in the evidence.",
        1,
    );
    assert_ne!(text, edited);
    std::fs::write(&pack_path, &edited).unwrap();

    let run = promptc_in(&repo, &["check", "--json"]);
    assert_eq!(run.code, 0, "a stale render is a warning: {}", run.stderr);
    let problems = run.json()["problems"].as_array().unwrap().clone();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["severity"], "warning");
    assert_eq!(problems[0]["key"], "rendered");

    // Scoring uses a fresh render even before the file is fixed.
    let run = promptc_in(&repo, &["pack", "render", "packs/speak.json", "--json"]);
    let system = run.json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(system.contains("Never state a number that is not in the evidence."));

    let run = promptc_in(
        &repo,
        &["pack", "render", "packs/speak.json", "--write", "--json"],
    );
    assert_eq!(run.json()["written"], Value::Bool(true));
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(&pack_path).unwrap()).unwrap();
    assert_eq!(on_disk["rendered"]["system"].as_str().unwrap(), system);
    let run = promptc_in(&repo, &["check", "--json"]);
    assert_eq!(run.json()["problems"], serde_json::json!([]));
}

#[test]
fn render_prints_exactly_the_recorded_system_message_and_the_request() {
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(PACK)).unwrap()).unwrap();
    let recorded = on_disk["rendered"]["system"].as_str().unwrap();
    let run = promptc(&[
        "--config",
        CFG,
        "pack",
        "render",
        PACK,
        "--example",
        "th_0050-t03",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let msgs = run.json()["messages"].as_array().unwrap().clone();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["role"], "system");
    assert_eq!(msgs[0]["content"].as_str().unwrap(), recorded);
    let user = msgs[1]["content"].as_str().unwrap();
    assert!(user.starts_with("=== room_state ===\n{"), "{user}");
    assert!(user.contains("=== turn_index ===\n3\n"), "{user}");
    assert!(
        user.ends_with(
            "Answer with `=== utterance ===`, `=== rhetorical_move ===`, then `=== end ===`."
        ),
        "{user}"
    );

    let run = promptc(&["--config", CFG, "pack", "render", PACK, "--example", "nope"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no clean trace with id `nope`"),
        "{}",
        run.stderr
    );
}

#[test]
fn any_inputs_render_as_a_logged_trace_does_and_the_pack_id_is_printed() {
    let traces =
        std::fs::read_to_string(root().join("examples/gossip/traces/2026-11.jsonl")).unwrap();
    let line: Value = traces
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["id"] == "th_0050-t03")
        .expect("the example trace");
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs.json");
    std::fs::write(&inputs, line["inputs"].to_string()).unwrap();
    let render = |extra: &[&str]| {
        let mut args = vec!["--config", CFG, "pack", "render", PACK, "--json"];
        args.extend_from_slice(extra);
        let run = promptc(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()
    };
    let logged = render(&["--example", "th_0050-t03"]);
    let given = render(&["--inputs", inputs.to_str().unwrap()]);
    assert_eq!(given["messages"], logged["messages"]);

    let validate = promptc(&["--config", CFG, "pack", "validate", PACK, "--json"]);
    let id = validate.json()["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 7 + 64, "{id}");
    assert_eq!(given["id"], Value::String(id.clone()));
    assert!(validate.stdout.contains(&id) || validate.stderr.contains(&id));

    std::fs::write(&inputs, "[1, 2]").unwrap();
    let run = promptc(&[
        "--config",
        CFG,
        "pack",
        "render",
        PACK,
        "--inputs",
        inputs.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a JSON object of input fields"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_misspelt_config_key_names_file_line_and_the_right_key() {
    let (_d, repo) = example_copy();
    let cfg = repo.join("promptc.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "task: {provider: sim, model: sim, concurrency: 16}",
            "task: {provider: sim, model: sim, concurency: 16}",
        ),
    )
    .unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("task: {provider"))
        .unwrap()
        + 1;
    let run = promptc_in(&repo, &["traces", "stats"]);
    assert_eq!(run.code, 2);
    let want = format!("promptc.yaml:{line}: lms.task: unknown field `concurency`");
    assert!(run.stderr.contains(&want), "want {want}\n{}", run.stderr);
    assert!(
        run.stderr
            .trim_end()
            .ends_with("did you mean `concurrency`?"),
        "{}",
        run.stderr
    );

    let run = promptc_in(&repo, &["check", "--json"]);
    assert_eq!(run.code, 2);
    let p = &run.json()["problems"][0];
    assert_eq!(p["line"], line as u64);
    assert_eq!(p["key"], "lms.task");
}

#[test]
fn bad_lm_specs_and_unknown_signatures_are_usage_errors() {
    let run = promptc(&["--config", CFG, "--lm", "critic=sim", "traces", "stats"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown role `critic`"),
        "{}",
        run.stderr
    );
    let run = promptc(&["--config", CFG, "--lm", "task=bridge:m", "traces", "stats"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("bridge needs bridge:MODEL@URL"),
        "{}",
        run.stderr
    );
    let run = promptc(&[
        "--config",
        CFG,
        "--lm",
        "all=sim",
        "--signature",
        "speek",
        "traces",
        "stats",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("did you mean `speak`?"),
        "{}",
        run.stderr
    );
    let run = promptc(&[
        "--config",
        "/nonexistent/promptc.yaml",
        "traces",
        "stats",
        "--json",
    ]);
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["ok"], Value::Bool(false));
}

#[test]
fn a_broken_signature_file_is_reported_with_its_key() {
    let (_d, repo) = example_copy();
    let sig = repo.join("signature.yaml");
    let text = std::fs::read_to_string(&sig).unwrap();
    std::fs::write(
        &sig,
        text.replace(
            "enum: [reframe, steelman,",
            "enum: [reframe, Reframe, steelman,",
        ),
    )
    .unwrap();
    let run = promptc_in(&repo, &["check", "--json"]);
    assert_eq!(run.code, 2);
    let p = &run.json()["problems"][0];
    assert!(
        p["file"].as_str().unwrap().ends_with("signature.yaml"),
        "{p}"
    );
    assert_eq!(p["key"], "outputs.rhetorical_move.enum");
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("`reframe` and `Reframe` are the same value"),
        "{p}"
    );
}

#[test]
fn built_in_prompt_packs_match_their_source() {
    for (name, embedded) in promptc::prompts::BUILT_IN {
        let built = promptc::prompts::build(&root().join("packs/src"), name).unwrap();
        if std::env::var_os("PROMPTC_BLESS").is_some() {
            std::fs::write(root().join(format!("packs/{name}.json")), built.to_json()).unwrap();
            continue;
        }
        assert!(
            built.to_json() == embedded,
            "packs/{name}.json drifted from packs/src/{name}/; rebuild with PROMPTC_BLESS=1 cargo test --test pack_cli built_in"
        );
        // Each is a valid pack that the adapter renders with its instructions.
        let pack = promptc::prompts::load(name, None).unwrap();
        assert!(
            pack.prompt()
                .unwrap()
                .rendered
                .system
                .contains("# Instructions")
        );
    }
}
