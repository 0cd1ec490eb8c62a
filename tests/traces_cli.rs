//! `traces stats`, `traces split` and `check` on the example and on damaged input.

mod common;

use std::collections::HashSet;
use std::io::Write;

use common::{example, example_copy, promptc, promptc_in};
use serde_json::Value;

const CFG: &str = "examples/gossip/promptc.yaml";
const MALFORMED: &str = "examples/gossip/testdata/malformed.jsonl";

#[test]
fn stats_on_the_example_meet_the_gate_with_the_contract_keys() {
    let run = promptc(&["--config", CFG, "traces", "stats", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    for key in [
        "files",
        "lines",
        "bad_lines",
        "clean_turns",
        "threads",
        "workspaces",
        "personas",
        "first_ts",
        "last_ts",
        "fresh_turns",
        "gate",
    ] {
        assert!(j.get(key).is_some(), "missing key {key}: {j}");
    }
    assert_eq!(j["gate"]["met"], Value::Bool(true), "{j}");
    assert_eq!(j["gate"]["reasons"], serde_json::json!([]));
    assert!(j["clean_turns"].as_u64().unwrap() >= 400, "{j}");
    assert!(j["threads"].as_u64().unwrap() >= 48, "{j}");
    assert!(j["workspaces"].as_u64().unwrap() >= 3, "{j}");
    assert_eq!(j["personas"].as_object().unwrap().len(), 6, "{j}");
    assert_eq!(j["bad_lines"], 0);
    assert!(j["fresh_turns"].as_u64().unwrap() > 0, "{j}");
    // The generator logs a few lines twice; they count once.
    assert!(j["duplicates"].as_u64().unwrap() > 0, "{j}");
    // Human text goes to stderr with --json.
    assert!(run.stderr.contains("gate: met"), "{}", run.stderr);
}

#[test]
fn the_gate_reports_every_reason_it_is_not_met() {
    let (_d, repo) = example_copy();
    let cfg = repo.join("promptc.yaml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("min_threads: 48", "min_threads: 500");
    std::fs::write(&cfg, text.replace("min_workspaces: 3", "min_workspaces: 9")).unwrap();
    let run = promptc_in(&repo, &["traces", "stats", "--json"]);
    assert_eq!(
        run.code, 0,
        "a gate not met is a normal outcome: {}",
        run.stderr
    );
    let j = run.json();
    assert_eq!(j["gate"]["met"], Value::Bool(false));
    let reasons: Vec<&str> = j["gate"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with("64 threads with clean turns; the gate needs 500"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("4 workspaces; the gate needs 9"),
        "{reasons:?}"
    );
}

#[test]
fn split_gives_a_fresh_heldout_set_disjoint_from_train_and_val() {
    let run = promptc(&["--config", CFG, "traces", "split", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    let heldout_threads: HashSet<String> = j["heldout_threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert!(j["heldout"].as_u64().unwrap() >= 40, "{j}");
    assert!(!heldout_threads.is_empty());
    assert!(
        j["train"].as_u64().unwrap() > 0 && j["val"].as_u64().unwrap() > 0,
        "{j}"
    );
    assert_eq!(j["heldout_rule"], "after-cutoff");
    assert_eq!(j["pack_train_cutoff"], "2026-11-01T00:00:00Z");
    // Fresh means started at or after the pack's cutoff, and the new cutoff is no earlier.
    assert!(
        j["train_cutoff"].as_str().unwrap() >= "2026-11-01T00:00:00Z",
        "{j}"
    );

    // Disjointness, checked on the turns themselves through the library.
    use promptc::traces::split::split;
    let ctx = promptc::commands::Context::load(&promptc::commands::Global {
        config: common::root().join(CFG),
        signature: None,
        ..Default::default()
    })
    .unwrap();
    let files = ctx.trace_files(&[]).unwrap();
    let data = promptc::traces::Dataset::load(
        &files,
        &ctx.signature,
        &ctx.config.traces.fields,
        Some("persona"),
        1 << 20,
        None,
    )
    .unwrap();
    let cutoff = promptc::pack::load(&ctx.resolve(&ctx.sig_cfg.pack), Some(&ctx.signature))
        .unwrap()
        .pack
        .train_cutoff();
    let s = split(&data.turns, cutoff, &ctx.config.split).unwrap();
    let threads =
        |v: &[promptc::traces::Turn]| v.iter().map(|t| t.thread.clone()).collect::<HashSet<_>>();
    assert_eq!(threads(&s.heldout), heldout_threads);
    assert!(threads(&s.train).is_disjoint(&threads(&s.heldout)));
    assert!(threads(&s.val).is_disjoint(&threads(&s.heldout)));
    assert!(threads(&s.train).is_disjoint(&threads(&s.val)));
    let c = s.train_cutoff.unwrap();
    assert!(s.train.iter().chain(&s.val).all(|t| t.ts.unwrap() < c));
    assert!(s.heldout.iter().all(|t| t.ts.unwrap() >= cutoff.unwrap()));
}

#[test]
fn a_heldout_set_below_the_minimum_is_a_clear_error() {
    let (_d, repo) = example_copy();
    let cfg = repo.join("promptc.yaml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("min_heldout_turns: 40", "min_heldout_turns: 1000");
    std::fs::write(&cfg, text).unwrap();
    let run = promptc_in(&repo, &["traces", "split"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("the fresh held-out set has 136 turns in 15 threads (threads starting at or after the pack's train_cutoff 2026-11-01T00:00:00+00:00); split.min_heldout_turns is 1000"),
        "{}",
        run.stderr
    );
}

#[test]
fn check_is_clean_on_the_example() {
    let run = promptc(&["--config", CFG, "check", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["ok"], Value::Bool(true));
    assert_eq!(j["problems"], serde_json::json!([]), "{j}");
}

/// The reason each damaged line of the malformed fixture must be reported with.
const EXPECTED: [(u64, &str); 12] = [
    (3, "invalid JSON: truncated (ends at column 22)"),
    (
        4,
        "invalid JSON: a trace line is one JSON object, and this one starts with `t`",
    ),
    (5, "blank line"),
    (6, "not a JSON object (a trace line is one object)"),
    (7, "missing field `thread` (/thread)"),
    (8, "missing field `outputs` (/outputs)"),
    (
        9,
        "outputs: `agree` is not one of reframe, steelman, probe, dissent-on-evidence, synthesize, verify (rhetorical_move)",
    ),
    (
        10,
        "field `thread` (/thread) must be a non-empty string or number",
    ),
    (
        11,
        "field `ts`: `last tuesday` is not an RFC 3339 timestamp such as 2026-11-03T14:22:05Z",
    ),
    (12, "not valid UTF-8 (bad byte at column 9)"),
    (13, "outputs: missing `rhetorical_move`"),
    (16, "invalid JSON: trailing characters at column 1591"),
];

#[test]
fn check_names_file_and_line_for_each_malformed_line() {
    let run = promptc(&["--config", CFG, "check", "--traces", MALFORMED, "--json"]);
    assert_eq!(run.code, 2, "bad lines fail the check");
    let j = run.json();
    assert_eq!(j["ok"], Value::Bool(false));
    let errors: Vec<(u64, String, String)> = j["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["severity"] == "error")
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["file"].as_str().unwrap().to_string(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(errors.len(), EXPECTED.len(), "{errors:#?}");
    for ((line, file, msg), (want_line, want_msg)) in errors.iter().zip(EXPECTED) {
        assert_eq!((*line, msg.as_str()), (want_line, want_msg));
        assert!(file.ends_with("testdata/malformed.jsonl"), "{file}");
    }
    // The human form is file:line: reason.
    assert!(
        run.stderr
            .contains("malformed.jsonl:9: outputs: `agree` is not one of"),
        "{}",
        run.stderr
    );
}

#[test]
fn stats_count_bom_crlf_duplicate_and_other_signature_lines_correctly() {
    let run = promptc(&[
        "--config", CFG, "traces", "stats", "--traces", MALFORMED, "--json",
    ]);
    assert_eq!(
        run.code, 0,
        "bad lines are reported, not fatal, without --strict"
    );
    let j = run.json();
    assert_eq!(j["lines"], 16);
    assert_eq!(j["bad_lines"], 12);
    // Line 1 (BOM) and line 2 (CRLF) are fine; line 14 repeats line 2's id.
    assert_eq!(j["clean_turns"], 2);
    assert_eq!(j["duplicates"], 1);
    assert_eq!(j["other_signature"], 1);
}

#[test]
fn strict_mode_turns_any_bad_line_into_a_failure() {
    let run = promptc(&[
        "--config", CFG, "traces", "stats", "--traces", MALFORMED, "--strict",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("12 bad trace line(s) and strict mode is on; first: ")
            && run
                .stderr
                .contains("malformed.jsonl:3: invalid JSON: truncated"),
        "{}",
        run.stderr
    );
}

#[test]
fn hostile_files_never_panic_and_each_line_gets_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(example().join("traces/2026-09.jsonl")).unwrap();
    let good_line = good.lines().next().unwrap();
    let mut f = std::fs::File::create(dir.path().join("hostile.jsonl")).unwrap();
    // 1: a huge line, twice the default 1 MiB limit, never buffered whole.
    f.write_all(&vec![b'x'; 2 << 20]).unwrap();
    f.write_all(b"\n").unwrap();
    // 2: binary garbage with NULs.
    f.write_all(&[0u8, 159, 146, 150, 0, 255, 10]).unwrap();
    // 3: a valid line with a wrong-typed inputs field.
    let wrong: Value = {
        let mut v: Value = serde_json::from_str(good_line).unwrap();
        v["inputs"] = Value::String("not an object".into());
        v
    };
    writeln!(f, "{wrong}").unwrap();
    // 4: a truncated copy of a valid line, cut inside a string.
    writeln!(f, "{}", &good_line[..good_line.len() / 2]).unwrap();
    // 5: deeply nested arrays.
    writeln!(f, "{}{}", "[".repeat(10_000), "]".repeat(10_000)).unwrap();
    // 6: the valid line, last, without a trailing newline.
    write!(f, "{good_line}").unwrap();
    drop(f);
    let glob = dir.path().join("*.jsonl");
    let run = promptc(&[
        "--config",
        CFG,
        "traces",
        "stats",
        "--traces",
        glob.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["lines"], 6);
    assert_eq!(j["clean_turns"], 1);
    let bad: Vec<(u64, String)> = j["bad"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["line"].as_u64().unwrap(),
                b["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(bad.len(), 5, "{bad:?}");
    assert_eq!(
        bad[0],
        (
            1,
            "line is 2097152 bytes, over the limit of 1048576 (traces.max_line_bytes); skipped"
                .into()
        )
    );
    assert_eq!(bad[1], (2, "not valid UTF-8 (bad byte at column 2)".into()));
    assert_eq!(bad[2], (3, "field `inputs` must be a JSON object".into()));
    assert!(bad[3].1.starts_with("invalid JSON: truncated"), "{bad:?}");
    assert_eq!(bad[4].0, 5);
}

#[test]
fn no_trace_files_is_an_input_error() {
    let run = promptc(&[
        "--config",
        CFG,
        "traces",
        "stats",
        "--traces",
        "/nonexistent/*.jsonl",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("no trace files match /nonexistent/*.jsonl"),
        "{}",
        run.stderr
    );
}

#[test]
fn other_log_shapes_map_onto_trace_fields_by_json_pointer() {
    let (_d, repo) = example_copy();
    // Rewrite every trace into another application's log shape.
    for entry in std::fs::read_dir(repo.join("traces")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let shaped = serde_json::json!({
                "request": {"id": v["id"], "prompt": v["signature"], "inputs": v["inputs"]},
                "room": {"thread_id": v["thread"], "tenant": {"slug": v["workspace"]}},
                "time": v["ts"],
                "response": v["outputs"],
                "result": v["status"],
            });
            out.push_str(&shaped.to_string());
            out.push('\n');
        }
        std::fs::write(&path, out).unwrap();
    }
    let cfg = repo.join("promptc.yaml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "\ntraces:\n  fields:\n    id: /request/id\n    signature: /request/prompt\n    thread: /room/thread_id\n    workspace: /room/tenant/slug\n    ts: /time\n    inputs: /request/inputs\n    outputs: /response\n    status: /result\n",
    );
    std::fs::write(&cfg, text).unwrap();

    let mapped = promptc_in(&repo, &["traces", "stats", "--json"]);
    assert_eq!(mapped.code, 0, "{}", mapped.stderr);
    let original = promptc(&["--config", CFG, "traces", "stats", "--json"]).json();
    let mapped = mapped.json();
    for key in [
        "lines",
        "bad_lines",
        "clean_turns",
        "threads",
        "workspaces",
        "personas",
        "duplicates",
        "fresh_turns",
        "first_ts",
        "last_ts",
    ] {
        assert_eq!(
            mapped[key], original[key],
            "{key} differs under the field mapping"
        );
    }
    let a = promptc_in(&repo, &["traces", "split", "--json"]).json();
    let b = promptc(&["--config", CFG, "traces", "split", "--json"]).json();
    for key in ["train", "val", "heldout", "heldout_threads", "train_cutoff"] {
        assert_eq!(a[key], b[key], "{key} differs under the field mapping");
    }
}

#[test]
fn a_field_pointer_that_is_not_a_pointer_names_its_key() {
    let (_d, repo) = example_copy();
    let cfg = repo.join("promptc.yaml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\ntraces:\n  fields:\n    thread: room.thread_id\n");
    std::fs::write(&cfg, text).unwrap();
    let run = promptc_in(&repo, &["traces", "stats"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            "traces.fields.thread: `room.thread_id` is not a JSON pointer (it must start with `/`)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn globs_that_match_nothing_or_not_files_are_said_and_bad_lines_are_counted_per_file() {
    let (_d, repo) = example_copy();
    // A second, later file full of bad lines: the summary must name it, not the first file.
    let mut text = String::new();
    for i in 0..1200 {
        text.push_str(&format!("{{not json {i}\n"));
    }
    std::fs::write(repo.join("traces/zz-broken.jsonl"), text).unwrap();
    std::fs::create_dir(repo.join("traces/archive.jsonl")).unwrap();
    #[cfg(unix)]
    assert!(
        std::process::Command::new("mkfifo")
            .arg(repo.join("traces/pipe.jsonl"))
            .status()
            .unwrap()
            .success()
    );
    let cfg = repo.join("promptc.yaml");
    let t = std::fs::read_to_string(&cfg).unwrap().replace(
        r#"traces: ["traces/*.jsonl"]"#,
        r#"traces: ["traces/*.jsonl", "logs/*.jsonl"]"#,
    );
    std::fs::write(&cfg, t).unwrap();

    let check = promptc_in(&repo, &["check", "--json"]);
    let j = check.json();
    let problems = j["problems"].as_array().unwrap();
    let messages: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                p["file"].as_str().unwrap(),
                p["message"].as_str().unwrap()
            )
        })
        .collect();
    let has = |needle: &str| messages.iter().any(|m| m.contains(needle));
    assert!(has("`logs/*.jsonl` matches no file"), "{messages:#?}");
    assert!(has("archive.jsonl: skipped: a directory"), "{messages:#?}");
    #[cfg(unix)]
    assert!(
        has("pipe.jsonl: skipped: not a regular file"),
        "{messages:#?}"
    );
    assert!(
        has("zz-broken.jsonl: … and 200 more bad lines in this file (1200 in all)"),
        "{messages:#?}"
    );
    assert!(
        !messages.iter().any(|m| m.contains("2026-09.jsonl: …")),
        "{messages:#?}"
    );

    let stats = promptc_in(&repo, &["traces", "stats", "--json"]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert!(
        stats.stderr.contains("`logs/*.jsonl` matches no file"),
        "{}",
        stats.stderr
    );
    let by_file = &stats.json()["bad_lines_by_file"];
    assert_eq!(by_file["traces/zz-broken.jsonl"], 1200, "{by_file}");
}
