//! Other tools' exports in, promptc trace lines out: the example's traces
//! exported to each format (by the helpers below, written from each format's
//! published specification or API reference, not from anyone's files) give
//! the same statistics and split as the originals, imported or read in
//! place, and `ci --dry-run` on the OTLP copy reaches the same decision.
//! Each export mixes in the awkward cases: other operations' records, tool
//! calls, multi-part content, missing attributes, both attribute generations,
//! inputs kept only as the rendered user message.

mod common;

use std::path::Path;

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

    assert_same_as_originals(
        &repo,
        "otel",
        "export.jsonl",
        &["#0: no template variables", "invalid JSON"],
    );

    // Read in place through the config: `traces.format: otel`.
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
    let native = promptc_in(
        &repo,
        &["--json", "traces", "stats", "--traces", "traces/*.jsonl"],
    )
    .json();
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

/// The example's trace lines, in file order.
fn example_lines(repo: &Path) -> Vec<Value> {
    ["2026-09", "2026-10", "2026-11"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(repo.join(format!("traces/{f}.jsonl")))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// The user message the pack runtimes send for a line's inputs.
fn rendered_user(repo: &Path, line: &Value) -> String {
    let sig = promptc::signature::Signature::load(&repo.join("signature.yaml")).unwrap();
    promptc::adapter::render_user(&sig, line["inputs"].as_object().unwrap())
}

/// The answer text the model gave, in the sections layout.
fn answer_text(line: &Value) -> String {
    format!(
        "=== utterance ===\n{}\n\n=== rhetorical_move ===\n{}\n\n=== end ===",
        line["outputs"]["utterance"].as_str().unwrap_or(""),
        line["outputs"]["rhetorical_move"].as_str().unwrap_or("")
    )
}

fn unix(line: &Value) -> chrono::DateTime<chrono::Utc> {
    line["ts"].as_str().unwrap().parse().unwrap()
}

/// `export` imported as `format` leaves out exactly the `bad` records (each
/// reason containing its text, in order), and gives the originals' stats
/// and split, both imported and read in place with `--format`.
fn assert_same_as_originals(repo: &Path, format: &str, export: &str, bad: &[&str]) {
    let out = format!("imported-{format}/speak.jsonl");
    let run = promptc_in(
        repo,
        &[
            "--json", "traces", "import", "--format", format, export, "--out", &out,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let left_out: Vec<String> = run.json()["bad"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_string())
        .collect();
    assert_eq!(left_out.len(), bad.len(), "{format}: {left_out:#?}");
    for (got, want) in left_out.iter().zip(bad) {
        assert!(got.contains(want), "{format}: `{got}` should say `{want}`");
        assert!(got.starts_with(export), "{format}: `{got}` names the file");
    }
    let run_json = |args: &[&str]| {
        let run = promptc_in(repo, args);
        assert_eq!(run.code, 0, "{format}: {}", run.stderr);
        run.json()
    };
    let imported_glob = format!("imported-{format}/*.jsonl");
    let stats = |glob: &str, f: &str| {
        run_json(&["--json", "traces", "stats", "--traces", glob, "--format", f])
    };
    let native = stats("traces/*.jsonl", "promptc");
    assert_eq!(native["clean_turns"], 572);
    for other in [stats(&imported_glob, "promptc"), stats(export, format)] {
        for key in [
            "clean_turns",
            "not_clean_turns",
            "duplicates",
            "threads",
            "workspaces",
            "fresh_turns",
            "fresh_threads",
            "first_ts",
            "personas",
        ] {
            assert_eq!(native[key], other[key], "{format} {key}: {other:#}");
        }
    }
    let split = |glob: &str, f: &str| {
        run_json(&["--json", "traces", "split", "--traces", glob, "--format", f])
    };
    let native = split("traces/*.jsonl", "promptc");
    assert_eq!(native["heldout"], 136);
    for other in [split(&imported_glob, "promptc"), split(export, format)] {
        for key in ["train", "val", "heldout", "heldout_threads", "train_cutoff"] {
            assert_eq!(native[key], other[key], "{format} {key}");
        }
    }
}

/// OpenInference flattens lists into indexed attributes.
fn flat(prefix: &str, items: &[Vec<(&str, Value)>]) -> Vec<Value> {
    items
        .iter()
        .enumerate()
        .flat_map(|(i, kvs)| {
            kvs.iter()
                .map(|(k, v)| attr(&format!("{prefix}.{i}.{k}"), v.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_example_exported_as_openinference_spans_reads_the_same() {
    let (_d, repo) = example_copy();
    let mut export = String::new();
    for (n, line) in example_lines(&repo).iter().enumerate() {
        let ts = unix(line).timestamp_nanos_opt().unwrap();
        let mut attrs = vec![
            attr("openinference.span.kind", json!("LLM")),
            attr("session.id", line["thread"].clone()),
            attr("llm.model_name", json!("gpt-4o-mini")),
            attr(
                "metadata",
                json!(json!({"prompt": "speak", "workspace": line["workspace"], "pack": line["pack"]}).to_string()),
            ),
        ];
        let user = rendered_user(&repo, line);
        // Half the spans keep the template variables; the rest only the messages.
        if n.is_multiple_of(2) {
            attrs.push(attr(
                "llm.prompt_template.variables",
                json!(line["inputs"].to_string()),
            ));
        }
        attrs.extend(flat(
            "llm.input_messages",
            &[
                vec![
                    ("message.role", json!("system")),
                    ("message.content", json!("…")),
                ],
                vec![
                    ("message.role", json!("user")),
                    ("message.content", json!(user)),
                ],
            ],
        ));
        let error = line["status"] != "ok";
        if !error {
            let answer = answer_text(line);
            let (head, tail) = answer.split_at(answer.len() / 2);
            // Multi-part content in every third span.
            let msg = if n.is_multiple_of(3) {
                vec![
                    ("message.role", json!("assistant")),
                    ("message.contents.0.message_content.type", json!("text")),
                    ("message.contents.0.message_content.text", json!(head)),
                    ("message.contents.1.message_content.type", json!("text")),
                    ("message.contents.1.message_content.text", json!(tail)),
                ]
            } else {
                vec![
                    ("message.role", json!("assistant")),
                    ("message.content", json!(answer)),
                ]
            };
            attrs.extend(flat("llm.output_messages", &[msg]));
        }
        let span = json!({
            "traceId": format!("{:032x}", n + 1), "spanId": line["id"], "name": "ChatCompletion",
            "startTimeUnixNano": ts.to_string(), "attributes": attrs,
            "status": if error { json!({"code": 2}) } else { json!({"code": 1}) },
        });
        // A chain span and a retriever span around it, as an agent framework records them.
        let chain = json!({"traceId": format!("{:032x}", n + 1), "spanId": format!("c{n}"), "name": "speak",
            "attributes": [attr("openinference.span.kind", json!("CHAIN")), attr("input.value", json!("{}"))]});
        let retriever = json!({"traceId": format!("{:032x}", n + 1), "spanId": format!("r{n}"), "name": "retrieve",
            "attributes": [attr("openinference.span.kind", json!("RETRIEVER"))]});
        let req = json!({"resourceSpans": [{"resource": {"attributes": [attr("openinference.project.name", json!("gossip"))]},
            "scopeSpans": [{"spans": [chain, retriever, span]}]}]});
        export.push_str(&format!("{req}\n"));
    }
    // An LLM span whose answer is a tool call: reported, left out.
    let tool = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ee", "spanId": "tool", "name": "speak",
        "attributes": [attr("openinference.span.kind", json!("LLM")),
            attr("llm.prompt_template.variables", json!("{\"persona\": \"x\"}")),
            attr("llm.output_messages.0.message.role", json!("assistant")),
            attr("llm.output_messages.0.message.tool_calls.0.tool_call.function.name", json!("search"))]}]}]}]});
    export.push_str(&format!("{tool}\n"));
    std::fs::write(repo.join("phoenix.jsonl"), export).unwrap();
    assert_same_as_originals(
        &repo,
        "openinference",
        "phoenix.jsonl",
        &["#0: the model answered with a tool call"],
    );
}

/// A LangChain-serialized message.
fn lc_message(kind: &str, content: &str) -> Value {
    json!({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", kind], "kwargs": {"content": content}})
}

#[test]
fn the_example_exported_as_langsmith_runs_reads_the_same() {
    let (_d, repo) = example_copy();
    let mut export = String::new();
    for (n, line) in example_lines(&repo).iter().enumerate() {
        let start = unix(line).format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
        let error = line["status"] != "ok";
        let metadata = json!({"thread_id": line["thread"], "workspace": line["workspace"], "pack": line["pack"],
            "ls_provider": "openai", "ls_model_name": "gpt-4o-mini"});
        // Even runs: the traced function itself (its arguments and return value);
        // odd runs: the LLM run inside it (messages and generations).
        let (run_type, inputs, outputs) = if n.is_multiple_of(2) {
            (
                "chain",
                line["inputs"].clone(),
                if error {
                    Value::Null
                } else {
                    line["outputs"].clone()
                },
            )
        } else {
            let user = rendered_user(&repo, line);
            let inputs = json!({"messages": [[lc_message("SystemMessage", "…"), lc_message("HumanMessage", &user)]]});
            let outputs = if error {
                Value::Null
            } else {
                json!({"generations": [[{"text": answer_text(line), "message": lc_message("AIMessage", &answer_text(line))}]]})
            };
            ("llm", inputs, outputs)
        };
        let run = json!({
            "id": line["id"], "name": "speak", "run_type": run_type, "trace_id": format!("tr{n}"),
            "session_id": "3f1c0000-0000-0000-0000-000000000000", "start_time": start,
            "status": if error { "error" } else { "success" },
            "error": if error { json!("Timeout") } else { Value::Null },
            "inputs": inputs, "outputs": outputs, "extra": {"metadata": metadata},
            "feedback_stats": {"thumbs": {"n": 1, "avg": (n % 2) as f64}},
        });
        // The retriever run of the same trace, exported beside it.
        let other = json!({"id": format!("ret{n}"), "name": "retrieve", "run_type": "retriever", "inputs": {"query": "q"}});
        export.push_str(&format!("{run}\n{other}\n"));
    }
    // A run of the signature whose outputs are neither its fields nor a generation.
    export.push_str(&format!(
        "{}\n",
        json!({"id": "odd", "name": "speak", "run_type": "chain",
        "inputs": {"persona": "x"}, "outputs": {"result": 3}})
    ));
    std::fs::write(repo.join("runs.jsonl"), export).unwrap();
    assert_same_as_originals(
        &repo,
        "langsmith",
        "runs.jsonl",
        &["no template variables and no user message"],
    );
}

#[test]
fn the_example_exported_as_langfuse_traces_reads_the_same() {
    let (_d, repo) = example_copy();
    let mut export = String::new();
    for (n, line) in example_lines(&repo).iter().enumerate() {
        let error = line["status"] != "ok";
        let start = unix(line).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let input = if n.is_multiple_of(2) {
            line["inputs"].clone()
        } else {
            json!([{"role": "system", "content": "…"}, {"role": "user", "content": rendered_user(&repo, line)}])
        };
        let output = if error {
            Value::Null
        } else {
            json!({"role": "assistant", "content": answer_text(line)})
        };
        let generation = json!({
            "id": line["id"], "traceId": format!("t{n}"), "type": "GENERATION", "name": "speak",
            "startTime": start, "model": "gpt-4o-mini", "input": input, "output": output,
            "level": if error { "ERROR" } else { "DEFAULT" }, "promptName": "speak", "promptVersion": 3,
            "metadata": {"workspace": line["workspace"], "pack": line["pack"]},
        });
        let span = json!({"id": format!("s{n}"), "traceId": format!("t{n}"), "type": "SPAN", "name": "handler"});
        let trace = json!({
            "id": format!("t{n}"), "sessionId": line["thread"], "timestamp": start,
            "observations": [span, generation],
            "scores": [{"id": format!("sc{n}"), "traceId": format!("t{n}"), "observationId": line["id"],
                "name": "thumbs", "value": 1, "dataType": "BOOLEAN"}],
        });
        export.push_str(&format!("{trace}\n"));
    }
    // A generation with no output and no error, inside a page of traces.
    let page = json!({"data": [{"id": "tx", "observations": [{"id": "gx", "type": "GENERATION", "name": "speak",
        "input": {"persona": "x"}}]}], "meta": {"page": 1}});
    export.push_str(&format!("{page}\n"));
    std::fs::write(repo.join("langfuse.jsonl"), export).unwrap();
    assert_same_as_originals(
        &repo,
        "langfuse",
        "langfuse.jsonl",
        &["no template variables"],
    );
}

#[test]
fn the_example_exported_as_openai_completions_reads_the_same() {
    let (_d, repo) = example_copy();
    let mut export = String::new();
    let mut stored = Vec::new();
    for (n, line) in example_lines(&repo).iter().enumerate() {
        let error = line["status"] != "ok";
        let messages = json!([{"role": "system", "content": "…"},
            {"role": "user", "content": [{"type": "text", "text": rendered_user(&repo, line)}]}]);
        let metadata = json!({"prompt": "speak", "thread": line["thread"], "workspace": line["workspace"], "pack": line["pack"]});
        let completion = if error {
            json!({"id": line["id"], "created": unix(line).timestamp(), "error": {"type": "server_error", "message": "timeout"}})
        } else {
            json!({"id": line["id"], "object": "chat.completion", "created": unix(line).timestamp(), "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer_text(line), "refusal": null}}]})
        };
        // Every fifth clean call comes from the stored-completions list instead of the request log.
        if n % 5 == 4 && !error {
            let mut c = completion;
            c["metadata"] = metadata;
            c["messages"] = messages;
            stored.push(c);
        } else {
            let request = json!({"model": "gpt-4o-mini", "messages": messages, "metadata": metadata, "store": false});
            export.push_str(&format!(
                "{}\n",
                json!({"request": request, "response": completion})
            ));
        }
    }
    for page in stored.chunks(20) {
        export.push_str(&format!(
            "{}\n",
            json!({"object": "list", "data": page, "has_more": false})
        ));
    }
    // Another prompt's call, skipped; a refused call whose request is not
    // promptc's rendering (a hand-written prompt), reported.
    export.push_str(&format!(
        "{}\n",
        json!({"request": {"metadata": {"prompt": "summarize"}}, "response": {"id": "x"}})
    ));
    export.push_str(&format!("{}\n", json!({"request": {"metadata": {"prompt": "speak"}, "messages": [{"role": "user", "content": "hi"}]},
        "response": {"id": "y", "choices": [{"message": {"role": "assistant", "content": null, "refusal": "no"}}]}})));
    std::fs::write(repo.join("openai.jsonl"), export).unwrap();
    assert_same_as_originals(
        &repo,
        "openai",
        "openai.jsonl",
        &["not promptc's rendering"],
    );
}
