//! OpenTelemetry GenAI spans in, promptc trace lines out: the example's
//! traces exported as OTLP/JSON (by the helper below, written from the
//! OpenTelemetry GenAI semantic conventions and the OTLP/JSON encoding) give
//! the same statistics and split as the originals once imported.

mod common;

use common::{example_copy, promptc_in};
use serde_json::{Value, json};

/// An OTLP `AnyValue`.
fn any(v: &Value) -> Value {
    match v {
        Value::String(s) => json!({"stringValue": s}),
        Value::Bool(b) => json!({"boolValue": b}),
        // int64 travels as a string in protobuf's JSON mapping.
        Value::Number(n) if n.is_i64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n}),
        Value::Array(a) => json!({"arrayValue": {"values": a.iter().map(any).collect::<Vec<_>>()}}),
        Value::Object(o) => {
            json!({"kvlistValue": {"values": o.iter().map(|(k, v)| json!({"key": k, "value": any(v)})).collect::<Vec<_>>()}})
        }
        Value::Null => json!({}),
    }
}

fn attr(key: &str, v: Value) -> Value {
    json!({"key": key, "value": any(&v)})
}

/// One promptc trace line as the chat span an instrumented app would emit;
/// every third span uses the older attribute names.
fn span_of(line: &Value, n: usize) -> Value {
    let answer = format!(
        "=== utterance ===\n{}\n\n=== rhetorical_move ===\n{}\n\n=== end ===",
        line["outputs"]["utterance"].as_str().unwrap_or(""),
        line["outputs"]["rhetorical_move"].as_str().unwrap_or("")
    );
    let ts: chrono::DateTime<chrono::Utc> = line["ts"].as_str().unwrap().parse().unwrap();
    let error = line["status"] != "ok";
    let mut attrs = vec![
        attr("gen_ai.operation.name", json!("chat")),
        attr("gen_ai.prompt.name", json!("speak")),
        attr("gen_ai.prompt.version", json!("2026-08")),
        attr("gen_ai.conversation.id", line["thread"].clone()),
        attr("workspace", line["workspace"].clone()),
        attr("gen_ai.request.model", json!("gpt-4o-mini")),
    ];
    for (k, v) in line["inputs"].as_object().unwrap() {
        // Template variables: objects as kvlists in some spans, JSON strings in others.
        let v = match v {
            Value::Object(_) | Value::Array(_) if n.is_multiple_of(2) => {
                Value::String(v.to_string())
            }
            other => other.clone(),
        };
        attrs.push(attr(&format!("gen_ai.prompt.variable.{k}"), v));
    }
    if !error {
        if n.is_multiple_of(3) {
            attrs.push(attr("gen_ai.system", json!("openai")));
            attrs.push(attr("gen_ai.completion.0.content", json!(answer)));
        } else {
            attrs.push(attr("gen_ai.provider.name", json!("openai")));
            let msgs =
                json!([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]);
            attrs.push(attr("gen_ai.output.messages", json!(msgs.to_string())));
        }
    } else {
        attrs.push(attr("error.type", json!("timeout")));
    }
    json!({
        "traceId": format!("{:032x}", n + 1),
        "spanId": line["id"],
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": (ts.timestamp_nanos_opt().unwrap()).to_string(),
        "endTimeUnixNano": (ts.timestamp_nanos_opt().unwrap() + 1_500_000_000).to_string(),
        "attributes": attrs,
        "status": if error { json!({"code": "STATUS_CODE_ERROR"}) } else { json!({}) },
    })
}

/// A span of another operation in the same request (an HTTP call, a tool).
fn other_span(n: usize) -> Value {
    json!({
        "traceId": format!("{:032x}", n + 1),
        "spanId": format!("http{n}"),
        "name": if n.is_multiple_of(2) { "POST /v1/chat/completions" } else { "execute_tool search" },
        "attributes": [attr("http.request.method", json!("POST")), attr("gen_ai.operation.name", json!("execute_tool"))],
    })
}

#[test]
fn the_example_exported_as_otel_spans_imports_to_the_same_stats_and_split() {
    let (_d, repo) = example_copy();
    let mut export = String::new();
    let mut n = 0;
    for f in ["2026-09", "2026-10", "2026-11"] {
        let text = std::fs::read_to_string(repo.join(format!("traces/{f}.jsonl"))).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // Up to four calls per export request, with another operation's span among them.
        for chunk in lines.chunks(4) {
            let mut spans: Vec<Value> = chunk
                .iter()
                .map(|l| {
                    n += 1;
                    span_of(l, n)
                })
                .collect();
            spans.insert(1.min(spans.len()), other_span(n));
            let req = json!({"resourceSpans": [{
                "resource": {"attributes": [attr("service.name", json!("gossip-api"))]},
                "scopeSpans": [{"scope": {"name": "openai-instrumentation"}, "spans": spans}],
            }]});
            export.push_str(&req.to_string());
            export.push('\n');
        }
    }
    std::fs::write(repo.join("export.jsonl"), &export).unwrap();
    // A span whose template variables were not recorded: reported, left out.
    let broken = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "ff", "spanId": "nope", "name": "chat",
        "attributes": [attr("gen_ai.prompt.name", json!("speak")), attr("gen_ai.completion.0.content", json!("hi"))],
    }]}]}]});
    let mut text = std::fs::read_to_string(repo.join("export.jsonl")).unwrap();
    text.push_str(&format!("{broken}\nnot json at all\n"));
    std::fs::write(repo.join("export.jsonl"), text).unwrap();

    let run = promptc_in(
        &repo,
        &[
            "--json",
            "traces",
            "import",
            "--format",
            "otel",
            "export.jsonl",
            "--out",
            "imported/speak.jsonl",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    let bad: Vec<String> = j["bad"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_string())
        .collect();
    assert_eq!(bad.len(), 2, "{bad:#?}");
    assert!(bad[0].contains("#0: no template variables"), "{bad:?}");
    assert!(bad[1].contains("invalid JSON"), "{bad:?}");

    let stats =
        |glob: &str| promptc_in(&repo, &["--json", "traces", "stats", "--traces", glob]).json();
    let (a, b) = (stats("traces/*.jsonl"), stats("imported/*.jsonl"));
    assert_eq!(a["clean_turns"], 572, "{a:#}");
    for key in [
        "clean_turns",
        "not_clean_turns",
        "duplicates",
        "threads",
        "workspaces",
        "fresh_turns",
        "fresh_threads",
        "first_ts",
    ] {
        assert_eq!(a[key], b[key], "{key}: {a:#} vs {b:#}");
    }
    assert_eq!(a["personas"], b["personas"]);
    let split =
        |glob: &str| promptc_in(&repo, &["--json", "traces", "split", "--traces", glob]).json();
    let (a, b) = (split("traces/*.jsonl"), split("imported/*.jsonl"));
    assert_eq!(a["heldout"], 136);
    for key in ["train", "val", "heldout", "heldout_threads", "train_cutoff"] {
        assert_eq!(a[key], b[key], "{key}");
    }

    // Read in place, without importing: `traces.format: otel`.
    let config = std::fs::read_to_string(repo.join("promptc.yaml")).unwrap();
    let otel = config
        .replace(
            "    traces: [\"traces/*.jsonl\"]\n",
            "    traces: [\"export.jsonl\"]\n",
        )
        .replace("\ncache:\n", "\ntraces:\n  format: otel\n\ncache:\n");
    assert!(otel.contains("format: otel") && otel.contains("export.jsonl"));
    std::fs::write(repo.join("otel.yaml"), otel).unwrap();
    let direct = promptc_in(
        &repo,
        &["--config", "otel.yaml", "--json", "traces", "stats"],
    )
    .json();
    let native = stats("traces/*.jsonl");
    for key in [
        "clean_turns",
        "not_clean_turns",
        "duplicates",
        "threads",
        "workspaces",
        "fresh_turns",
    ] {
        assert_eq!(direct[key], native[key], "{key}: {direct:#}");
    }
    assert_eq!(direct["bad_lines"], 2, "{direct:#}");
    // The whole loop on the spans reaches the decision it reaches on the originals.
    let dry = |cfg: &str| {
        let run = promptc_in(
            &repo,
            &[
                "--config",
                cfg,
                "--json",
                "ci",
                "--dry-run",
                "--lm",
                "all=sim",
                "--out",
                &format!("out-{cfg}"),
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()["signatures"][0].clone()
    };
    let (a, b) = (dry("promptc.yaml"), dry("otel.yaml"));
    for key in ["decision", "lift", "ci95", "n"] {
        assert_eq!(a[key], b[key], "{key}: {a:#} vs {b:#}");
    }
}
