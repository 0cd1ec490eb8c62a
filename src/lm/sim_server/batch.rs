//! Fakes of the two batch APIs, built from their published references,
//! answering each request with the simulator as the live routes do.
//!
//! OpenAI: `POST /v1/files` (multipart, purpose `batch`), `POST /v1/batches`,
//! `GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`,
//! `GET /v1/files/{id}/content`. Anthropic: `POST /v1/messages/batches`,
//! `GET /v1/messages/batches/{id}`, `GET /v1/messages/batches/{id}/results`,
//! `POST /v1/messages/batches/{id}/cancel`.
//!
//! A batch ends at its first poll once the server is not holding batches
//! ([`super::SimServer::hold_batches`]); a held batch stays in progress, as a
//! real one does for minutes or hours.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::State;

/// The fake's memory.
#[derive(Default)]
pub(super) struct Batches {
    files: HashMap<String, String>,
    batches: HashMap<String, Batch>,
    /// Batch ids in the order they were created.
    order: Vec<String>,
}

struct Batch {
    anthropic: bool,
    /// `(custom_id, body)` of each request.
    requests: Vec<(String, Value)>,
    /// Output file (OpenAI) or results (Anthropic), once ended.
    output: Option<String>,
    cancelled: bool,
}

impl Batches {
    /// The custom ids of every batch created, in order.
    pub(super) fn created(&self) -> Vec<Vec<String>> {
        self.order
            .iter()
            .filter_map(|id| self.batches.get(id))
            .map(|b| b.requests.iter().map(|(c, _)| c.clone()).collect())
            .collect()
    }
}

fn error(code: u16, message: &str) -> (u16, String) {
    (code, json!({"error": {"message": message}}).to_string())
}

/// The answer of a batch route, or `None` when `path` is not one.
pub(super) fn route(st: &State, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let path = path.split('?').next().unwrap_or(path);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let out = match (method, parts.as_slice()) {
        ("POST", ["v1", "files"]) => upload(st, body),
        ("GET", ["v1", "files", id, "content"]) => {
            let b = st.batches.lock().unwrap_or_else(|e| e.into_inner());
            match b.files.get(*id) {
                Some(text) => (200, text.clone()),
                None => error(404, "no such file"),
            }
        }
        ("POST", ["v1", "batches"]) => create_openai(st, body),
        ("GET", ["v1", "batches", id]) => poll(st, id, false),
        ("POST", ["v1", "batches", id, "cancel"]) => cancel(st, id, false),
        ("POST", ["v1", "messages", "batches"]) => create_anthropic(st, body),
        ("GET", ["v1", "messages", "batches", id]) => poll(st, id, true),
        ("GET", ["v1", "messages", "batches", id, "results"]) => {
            poll(st, id, true);
            let b = st.batches.lock().unwrap_or_else(|e| e.into_inner());
            match b.batches.get(*id).and_then(|x| x.output.clone()) {
                Some(text) => (200, text),
                None => error(404, "the batch has not ended"),
            }
        }
        ("POST", ["v1", "messages", "batches", id, "cancel"]) => cancel(st, id, true),
        _ => return None,
    };
    Some(out)
}

/// A multipart upload: the `file` part's content, kept under a new id.
fn upload(st: &State, body: &str) -> (u16, String) {
    let Some(boundary) = body.lines().next().filter(|l| l.starts_with("--")) else {
        return error(400, "not multipart/form-data");
    };
    let purpose_ok = body.contains("name=\"purpose\"\r\n\r\nbatch\r\n");
    let file = body
        .split(boundary)
        .find(|part| part.contains("name=\"file\""))
        .and_then(|part| part.split_once("\r\n\r\n"))
        .map(|(_, content)| content.strip_suffix("\r\n").unwrap_or(content).to_string());
    let (Some(file), true) = (file, purpose_ok) else {
        return error(400, "a batch upload needs purpose=batch and a file part");
    };
    let mut b = st.batches.lock().unwrap_or_else(|e| e.into_inner());
    let id = format!("file-sim{}", b.files.len() + 1);
    let bytes = file.len();
    b.files.insert(id.clone(), file);
    (
        200,
        json!({"id": id, "object": "file", "bytes": bytes, "filename": "promptc-batch.jsonl", "purpose": "batch", "status": "processed"}).to_string(),
    )
}

fn create_openai(st: &State, body: &str) -> (u16, String) {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return error(400, "body is not JSON");
    };
    if v["endpoint"] != "/v1/chat/completions" || v["completion_window"] != "24h" {
        return error(
            400,
            "endpoint must be /v1/chat/completions and completion_window 24h",
        );
    }
    let mut b = st.batches.lock().unwrap_or_else(|e| e.into_inner());
    let Some(file) = v["input_file_id"].as_str().and_then(|f| b.files.get(f)) else {
        return error(400, "no such input_file_id");
    };
    let mut requests = Vec::new();
    for line in file.lines() {
        let Ok(l) = serde_json::from_str::<Value>(line) else {
            return error(400, "the input file has a line that is not JSON");
        };
        let (Some(cid), true) = (l["custom_id"].as_str(), l["url"] == "/v1/chat/completions")
        else {
            return error(
                400,
                "each line needs a custom_id and url /v1/chat/completions",
            );
        };
        if requests.iter().any(|(c, _)| c == cid) {
            return error(400, "duplicate custom_id");
        }
        requests.push((cid.to_string(), l["body"].clone()));
    }
    let id = format!("batch_sim{}", b.order.len() + 1);
    b.order.push(id.clone());
    let n = requests.len();
    b.batches.insert(
        id.clone(),
        Batch {
            anthropic: false,
            requests,
            output: None,
            cancelled: false,
        },
    );
    (200, openai_object(&id, "validating", None, n).to_string())
}

fn create_anthropic(st: &State, body: &str) -> (u16, String) {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return error(400, "body is not JSON");
    };
    let mut requests: Vec<(String, Value)> = Vec::new();
    for r in v["requests"].as_array().into_iter().flatten() {
        let cid = r["custom_id"].as_str().unwrap_or("");
        let valid = (1..=64).contains(&cid.len())
            && cid
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if !valid || r["params"].is_null() {
            return error(
                400,
                "each request needs a custom_id matching ^[a-zA-Z0-9_-]{1,64}$ and params",
            );
        }
        if requests.iter().any(|(c, _)| c == cid) {
            return error(400, "duplicate custom_id");
        }
        requests.push((cid.to_string(), r["params"].clone()));
    }
    if requests.is_empty() {
        return error(400, "requests must not be empty");
    }
    let mut b = st.batches.lock().unwrap_or_else(|e| e.into_inner());
    let id = format!("msgbatch_sim{}", b.order.len() + 1);
    b.order.push(id.clone());
    let n = requests.len();
    b.batches.insert(
        id.clone(),
        Batch {
            anthropic: true,
            requests,
            output: None,
            cancelled: false,
        },
    );
    (200, anthropic_object(st, &id, false, n).to_string())
}

/// The batch object; ends the batch first when the server is not holding batches.
fn poll(st: &State, id: &str, anthropic: bool) -> (u16, String) {
    let held = st.hold.load(std::sync::atomic::Ordering::SeqCst);
    let pending = {
        let b = st.batches.lock().unwrap_or_else(|e| e.into_inner());
        match b.batches.get(id) {
            Some(x) if x.anthropic == anthropic => {
                (x.output.is_none() && !held && !x.cancelled).then(|| x.requests.clone())
            }
            _ => return error(404, "no such batch"),
        }
    };
    if let Some(requests) = pending {
        let lines: Vec<String> = requests
            .iter()
            .map(|(cid, body)| result_line(st, cid, body, anthropic).to_string())
            .collect();
        let mut b = st.batches.lock().unwrap_or_else(|e| e.into_inner());
        let text = lines.join("\n") + "\n";
        let file = format!("file-sim-out-{id}");
        if !anthropic {
            b.files.insert(file.clone(), text.clone());
        }
        if let Some(x) = b.batches.get_mut(id) {
            x.output = Some(if anthropic { text } else { file });
        }
    }
    let b = st.batches.lock().unwrap_or_else(|e| e.into_inner());
    let Some(x) = b.batches.get(id) else {
        return error(404, "no such batch");
    };
    let n = x.requests.len();
    let ended = x.output.is_some();
    let v = if anthropic {
        anthropic_object(st, id, ended || x.cancelled, n)
    } else {
        let status = match (ended, x.cancelled) {
            (true, _) => "completed",
            (false, true) => "cancelled",
            (false, false) => "in_progress",
        };
        openai_object(id, status, x.output.as_deref(), n)
    };
    (200, v.to_string())
}

fn cancel(st: &State, id: &str, anthropic: bool) -> (u16, String) {
    let mut b = st.batches.lock().unwrap_or_else(|e| e.into_inner());
    let Some(x) = b.batches.get_mut(id).filter(|x| x.anthropic == anthropic) else {
        return error(404, "no such batch");
    };
    x.cancelled = true;
    let n = x.requests.len();
    drop(b);
    let v = if anthropic {
        anthropic_object(st, id, false, n)
    } else {
        openai_object(id, "cancelling", None, n)
    };
    (200, v.to_string())
}

/// One request answered by the live route, as a batch result line.
fn result_line(st: &State, cid: &str, body: &Value, anthropic: bool) -> Value {
    let path = if anthropic {
        "/v1/messages"
    } else {
        "/v1/chat/completions"
    };
    let (code, text) = super::route(st, "POST", path, &body.to_string());
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match (anthropic, code) {
        (true, 200) => {
            json!({"custom_id": cid, "result": {"type": "succeeded", "message": answer}})
        }
        (true, _) => {
            json!({"custom_id": cid, "result": {"type": "errored", "error": {"type": "error", "error": answer["error"]}}})
        }
        (false, _) => json!({
            "id": format!("batch_req_{cid}"), "custom_id": cid,
            "response": {"status_code": code, "request_id": "req_sim", "body": answer},
            "error": Value::Null,
        }),
    }
}

fn openai_object(id: &str, status: &str, output: Option<&str>, n: usize) -> Value {
    let done = if output.is_some() { n } else { 0 };
    json!({
        "id": id, "object": "batch", "endpoint": "/v1/chat/completions",
        "input_file_id": "file-sim", "completion_window": "24h", "status": status,
        "output_file_id": output, "error_file_id": Value::Null,
        "request_counts": {"total": n, "completed": done, "failed": 0},
    })
}

fn anthropic_object(st: &State, id: &str, ended: bool, n: usize) -> Value {
    json!({
        "id": id, "type": "message_batch",
        "processing_status": if ended { "ended" } else { "in_progress" },
        "request_counts": {"processing": if ended { 0 } else { n }, "succeeded": if ended { n } else { 0 }, "errored": 0, "canceled": 0, "expired": 0},
        "results_url": if ended { Value::String(format!("{}/v1/messages/batches/{id}/results", st.url)) } else { Value::Null },
    })
}
