//! Conformance fixtures for the runtimes in `runtimes/`: packs, inputs, the
//! exact messages promptc sends for them, and model answers with what promptc
//! reads from them (or the error it refuses them with). The files in
//! `runtimes/fixtures/` are generated from the Rust renderer and parser; this
//! test fails when they drift from it, and the TypeScript and Python test
//! suites assert byte equality against every one of them.
//!
//! Regenerate after an intended change: `PROMPTC_BLESS=1 cargo test --test conformance`.

mod common;

use promptc::pack::{Pack, PromptPack};
use promptc::program::{Adapter, messages_as, parse_completion, render_reminder_as};
use promptc::signature::Signature;
use serde_json::{Value, json};

/// One fixture file. The pack is embedded as promptc writes it: key order
/// is part of the format (inputs render in the signature's order, and the
/// signature hash covers the spec as written).
#[derive(serde::Serialize)]
struct Fixture<'a> {
    pack: &'a serde_json::value::RawValue,
    id: promptc::pack::PackId,
    calls: Vec<Value>,
    answers: Vec<Value>,
}

/// A fixture: a pack, calls rendered with it, answers parsed with it, as the
/// file's text.
fn fixture(pack: &Pack, calls: &[(Value, Option<&str>)], answers: &[&str]) -> String {
    let p = pack.prompt().expect("a v2 or v3 pack");
    let sig = &p.signature.spec;
    let calls: Vec<Value> = calls
        .iter()
        .map(|(inputs, persona)| {
            let inputs = inputs.as_object().expect("inputs object").clone();
            let system = persona
                .and_then(|name| p.rendered.personas.as_ref()?.get(name))
                .unwrap_or(&p.rendered.system);
            let messages = messages_as(p.adapter, sig, system, &inputs);
            json!({"inputs": inputs, "persona": persona, "messages": messages})
        })
        .collect();
    let answers: Vec<Value> = answers
        .iter()
        .map(|text| match parse_completion(sig, text) {
            Ok(outputs) => json!({"text": text, "outputs": outputs}),
            Err(e) => json!({"text": text, "error": {
                "kind": kind(&e),
                "message": e.to_string(),
                "reminder": render_reminder_as(p.adapter, sig, &e),
            }}),
        })
        .collect();
    let raw = serde_json::value::RawValue::from_string(pack.to_json()).unwrap();
    let f = Fixture {
        pack: &raw,
        id: pack.id(),
        calls,
        answers,
    };
    serde_json::to_string_pretty(&f).unwrap() + "\n"
}

fn kind(e: &promptc::program::ParseError) -> &'static str {
    match e {
        promptc::program::ParseError::Missing(_) => "missing",
        promptc::program::ParseError::BadEnum(_) => "bad_enum",
        promptc::program::ParseError::Unstructured => "unstructured",
    }
}

fn example_pack() -> Pack {
    let text =
        std::fs::read_to_string(common::root().join("examples/gossip/packs/speak.json")).unwrap();
    Pack::from_json(&text, None).unwrap()
}

/// The example's fresh held-out turns, the first of each persona: their
/// ids, inputs and personas.
fn example_heldout(n: usize) -> Vec<(String, Value, Option<String>)> {
    let ctx = promptc::commands::Context::load(&promptc::commands::Global {
        config: common::root().join("examples/gossip/promptc.yaml"),
        ..Default::default()
    })
    .unwrap();
    let turns =
        promptc::commands::eval::examples(&ctx, promptc::commands::eval::SplitName::Heldout, None)
            .unwrap();
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for t in turns {
        if seen.contains(&t.persona) {
            continue;
        }
        seen.push(t.persona.clone());
        out.push((
            t.id.0.clone(),
            Value::Object(t.inputs.clone()),
            t.persona.clone(),
        ));
        if out.len() == n {
            break;
        }
    }
    out
}

fn with_adapter(mut pack: Pack, adapter: Adapter) -> Pack {
    if let Some(p) = pack.prompt_mut() {
        p.adapter = adapter;
    }
    pack.refresh_rendered();
    pack
}

fn edge_signature() -> Signature {
    serde_yaml::from_str(
        r#"name: edge
description: "Answer the café question — naïvely, in one line. Quotes \" and backslashes \\ stay."
inputs:
  question: {desc: "The question (UTF-8: 日本語, emoji 🎈)"}
  context: {desc: "Any JSON value"}
  note: {desc: "Optional", optional: true}
outputs:
  answer: {desc: "One line"}
  tone:
    desc: "How it sounds"
    enum: [warm, matter-of-fact, "dry wit"]
"#,
    )
    .unwrap()
}

fn edge_pack(adapter: Adapter, demos: usize) -> Pack {
    let sig = edge_signature();
    let mut pack = Pack::first(sig, "Be brief.\n\n1. Read.\n2. Answer.", "test".into());
    if let Some(p) = pack.prompt_mut() {
        p.adapter = adapter;
        p.provenance.created_at = None;
        for i in 0..demos {
            let obj = |v: Value| v.as_object().unwrap().clone();
            p.demos.push(promptc::pack::Demo {
                trace_id: promptc::traces::TraceId(format!("t{i}")),
                inputs: obj(json!({"question": format!("Q{i}: où?"), "context": {"z": i, "a": [true, null]}})),
                outputs: obj(json!({"answer": format!("A{i} \"quoted\"\nsecond line"), "tone": "dry wit"})),
            });
        }
    }
    pack.refresh_rendered();
    pack
}

fn v3_pack() -> Pack {
    let Pack::V2(p) = example_pack() else {
        panic!("the example pack is v2")
    };
    let mut personas = indexmap::IndexMap::new();
    personas.insert(
        "skeptic".to_string(),
        "Speak as the skeptic: doubt every number until it is verified.".to_string(),
    );
    let mut pack = Pack::V3(PromptPack {
        persona_instructions: Some(personas),
        ..p
    });
    pack.refresh_rendered();
    pack
}

fn edge_inputs() -> Vec<(Value, Option<&'static str>)> {
    vec![
        (
            json!({"question": "Is the café open?\nSecond line\ttab", "context": {"b": 2, "a": [1, 0.25, "x\"y", null, true, {"k": "é"}]}, "note": "🎈"}),
            None,
        ),
        (json!({"question": "", "context": 42}), None),
        (
            json!({"question": "Null context?", "context": null, "note": null}),
            None,
        ),
        (
            json!({"question": "Control \u{1} char", "context": "a string"}),
            None,
        ),
    ]
}

const EDGE_ANSWERS: &[&str] = &[
    "=== answer ===\nYes, until six.\n\n=== tone ===\nwarm\n\n=== end ===",
    "== Answer ==\n  Yes.  \n=== TONE ===\nMatter of fact\n=== end ===\nignored after end",
    "```json\n{\"answer\": \"Yes.\", \"tone\": \"Dry Wit\"}\n```",
    "{\"Answer\": {\"nested\": [1, 2]}, \"tone\": \"warm\"}",
    "=== answer ===\nYes.\n=== tone ===\nsarcastic\n=== end ===",
    "=== answer ===\n\n=== tone ===\nwarm\n=== end ===",
    "=== tone ===\nwarm\n=== end ===",
    "Just some prose without structure.",
    "",
    "=== answer ===\nfirst\n=== answer ===\nsecond\n=== tone ===\nwarm",
];

const EXAMPLE_ANSWERS: &[&str] = &[
    "=== utterance ===\nShow me the numbers (E2).\n\n=== rhetorical_move ===\nprobe\n\n=== end ===",
    "=== Utterance ===\nI disagree.\n=== Rhetorical Move ===\nDissent on evidence\n=== end ===",
    "{\"utterance\": \"Let's ship.\", \"rhetorical_move\": \"SYNTHESIZE\"}",
    "=== utterance ===\nHm.\n=== end ===",
];

fn as_ref(v: &[(Value, Option<String>)]) -> Vec<(Value, Option<&str>)> {
    v.iter().map(|(i, p)| (i.clone(), p.as_deref())).collect()
}

fn all_fixtures() -> Vec<(String, String)> {
    let heldout = example_heldout(3);
    let ex: Vec<(Value, Option<String>)> = heldout
        .iter()
        .map(|(_, inputs, persona)| (inputs.clone(), persona.clone()))
        .collect();
    let mut out = vec![
        (
            "example-sections".to_string(),
            fixture(&example_pack(), &as_ref(&ex), EXAMPLE_ANSWERS),
        ),
        (
            "example-json".to_string(),
            fixture(
                &with_adapter(example_pack(), Adapter::Json),
                &as_ref(&ex),
                EXAMPLE_ANSWERS,
            ),
        ),
    ];
    let v3_calls: Vec<(Value, Option<&str>)> = ex
        .iter()
        .map(|(i, _)| (i.clone(), Some("skeptic")))
        .chain(ex.iter().map(|(i, _)| (i.clone(), Some("builder"))))
        .collect();
    out.push((
        "example-v3-personas".into(),
        fixture(&v3_pack(), &v3_calls, EXAMPLE_ANSWERS),
    ));
    for (name, adapter, demos) in [
        ("edge-sections-no-demos", Adapter::Sections, 0),
        ("edge-sections-many-demos", Adapter::Sections, 6),
        ("edge-json-no-demos", Adapter::Json, 0),
        ("edge-json-many-demos", Adapter::Json, 6),
    ] {
        out.push((
            name.to_string(),
            fixture(&edge_pack(adapter, demos), &edge_inputs(), EDGE_ANSWERS),
        ));
    }
    out
}

fn fixture_dir() -> std::path::PathBuf {
    common::root().join("runtimes/fixtures")
}

#[test]
fn the_committed_fixtures_are_what_the_renderer_and_parser_produce() {
    let bless = std::env::var_os("PROMPTC_BLESS").is_some();
    let mut names = Vec::new();
    for (name, text) in all_fixtures() {
        let path = fixture_dir().join(format!("{name}.json"));
        names.push(format!("{name}.json"));
        if bless {
            std::fs::create_dir_all(fixture_dir()).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{} drifted from the Rust adapter; if the change is intended, regenerate with PROMPTC_BLESS=1 cargo test --test conformance (the runtimes' tests then say what they must follow)",
            path.display()
        );
    }
    // No stale fixture stays behind for the runtimes to test against.
    let mut on_disk: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    names.sort();
    assert_eq!(on_disk, names);
}

#[test]
fn the_fixtures_cover_every_adapter_format_and_refusal() {
    let all: Vec<(String, Value)> = all_fixtures()
        .into_iter()
        .map(|(n, t)| (n, serde_json::from_str(&t).unwrap()))
        .collect();
    let formats: Vec<&str> = all
        .iter()
        .filter_map(|(_, v)| v["pack"]["format"].as_str())
        .collect();
    assert!(formats.contains(&"promptc.pack/v2") && formats.contains(&"promptc.pack/v3"));
    let adapters: Vec<&str> = all
        .iter()
        .map(|(_, v)| v["pack"]["adapter"].as_str().unwrap_or("sections"))
        .collect();
    assert!(adapters.contains(&"sections") && adapters.contains(&"json"));
    let kinds: Vec<String> = all
        .iter()
        .flat_map(|(_, v)| v["answers"].as_array().unwrap().clone())
        .filter_map(|a| a["error"]["kind"].as_str().map(str::to_string))
        .collect();
    for k in ["missing", "bad_enum", "unstructured"] {
        assert!(
            kinds.iter().any(|x| x == k),
            "no `{k}` refusal among {kinds:?}"
        );
    }
}

/// The example pack's fixture is what `promptc pack render --example ID`
/// prints for those held-out traces: the runtimes match the command.
#[test]
fn the_example_fixture_is_what_pack_render_prints_for_held_out_traces() {
    let text = std::fs::read_to_string(fixture_dir().join("example-sections.json")).unwrap();
    let fx: Value = serde_json::from_str(&text).unwrap();
    let calls = fx["calls"].as_array().unwrap();
    let ids: Vec<String> = example_heldout(3)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(calls.len(), ids.len());
    for (call, id) in calls.iter().zip(&ids) {
        let run = common::promptc(&[
            "--config",
            "examples/gossip/promptc.yaml",
            "pack",
            "render",
            "examples/gossip/packs/speak.json",
            "--example",
            id,
            "--json",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.json()["messages"], call["messages"], "trace {id}");
    }
}

#[test]
fn the_runtimes_carry_promptcs_version() {
    let version = env!("CARGO_PKG_VERSION");
    let package: Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("runtimes/typescript/package.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        package["version"], version,
        "runtimes/typescript/package.json"
    );
    let pyproject =
        std::fs::read_to_string(common::root().join("runtimes/python/pyproject.toml")).unwrap();
    assert!(
        pyproject.contains(&format!("\nversion = \"{version}\"\n")),
        "runtimes/python/pyproject.toml must say version = \"{version}\""
    );
}

/// Which threads a rollout serves the candidate: the runtimes' `choosePack`
/// / `choose_pack` must pick as `realized` assumes.
fn rollout_fixture() -> String {
    let mut threads: Vec<String> = (0..40).map(|i| format!("th_{i:04}")).collect();
    threads.extend(["", "thread with spaces", "Ünïcödé-線程", "0", "a/b?c=d"].map(String::from));
    let shares = [0.05, 0.2, 0.5, 0.95];
    let rows: Vec<Value> = threads
        .iter()
        .map(|t| {
            json!({
                "thread": t,
                "point": promptc::realized::rollout_point(t),
                "candidate": shares.map(|s| promptc::realized::serves_candidate(t, s)),
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({"shares": shares, "threads": rows})).unwrap() + "\n"
}

#[test]
fn the_committed_rollout_fixture_is_what_realized_assumes() {
    let path = fixture_dir().join("rollout/threads.json");
    let text = rollout_fixture();
    if std::env::var_os("PROMPTC_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    assert!(
        std::fs::read_to_string(&path).unwrap_or_default() == text,
        "{} drifted; regenerate with PROMPTC_BLESS=1 cargo test --test conformance",
        path.display()
    );
}
