//! The OpenAI Batch API: the requests as a JSONL file (`POST /files`,
//! purpose `batch`), a batch over it (`POST /batches`), polled with
//! `GET /batches/{id}`, answers read from its output and error files.

use std::collections::HashMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{BatchApi, BatchState};
use crate::lm::http::{get_json, post_json, send};
use crate::lm::openai::{OpenAi, parse};
use crate::lm::{CallError, Completion, LmRequest};

/// The endpoint every line of a promptc batch calls.
const ENDPOINT: &str = "/v1/chat/completions";

#[async_trait::async_trait]
impl BatchApi for OpenAi {
    async fn submit(&self, items: &[(String, LmRequest)]) -> Result<String, CallError> {
        let mut jsonl = String::new();
        for (id, req) in items {
            let line =
                json!({"custom_id": id, "method": "POST", "url": ENDPOINT, "body": self.body(req)});
            jsonl.push_str(&line.to_string());
            jsonl.push('\n');
        }
        let file = self.upload(jsonl).await?;
        let body = json!({
            "input_file_id": file,
            "endpoint": ENDPOINT,
            "completion_window": "24h",
            "metadata": {"source": "promptc"},
        });
        let url = format!("{}/batches", self.base());
        let v = post_json(self.http(), &url, &self.headers(), &body, &self.hints()).await?;
        string_at(&v, "/id", "batch")
    }

    async fn poll(&self, id: &str) -> Result<BatchState, CallError> {
        let url = format!("{}/batches/{id}", self.base());
        let v = get_json(self.http(), &url, &self.headers(), &self.hints()).await?;
        let status = v.get("status").and_then(Value::as_str).unwrap_or("");
        match status {
            "validating" | "in_progress" | "finalizing" | "cancelling" => Ok(BatchState::Pending),
            // Failed, expired and cancelled batches may still have answered some
            // requests; the rest are asked live.
            "completed" | "failed" | "expired" | "cancelled" => {
                let mut results = HashMap::new();
                for ptr in ["/output_file_id", "/error_file_id"] {
                    if let Some(file) = v.pointer(ptr).and_then(Value::as_str) {
                        self.read_results(file, &mut results).await?;
                    }
                }
                if status != "completed" {
                    tracing::warn!("batch {id} ended `{status}` with {} answers", results.len());
                }
                Ok(BatchState::Ended(results))
            }
            other => Err(CallError::retryable(format!(
                "batch {id}: unknown status `{other}`"
            ))),
        }
    }

    async fn cancel(&self, id: &str) -> Result<(), CallError> {
        let url = format!("{}/batches/{id}/cancel", self.base());
        post_json(
            self.http(),
            &url,
            &self.headers(),
            &json!({}),
            &self.hints(),
        )
        .await?;
        Ok(())
    }
}

impl OpenAi {
    /// Uploads a batch input file; its id.
    async fn upload(&self, jsonl: String) -> Result<String, CallError> {
        // The boundary is a digest of the content, so the content cannot hold it.
        let boundary = format!(
            "promptc-{}",
            &hex::encode(Sha256::digest(jsonl.as_bytes()))[..32]
        );
        let mut body = Vec::with_capacity(jsonl.len() + 400);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"promptc-batch.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(jsonl.as_bytes());
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = format!("{}/files", self.base());
        let mut req = self
            .http()
            .post(&url)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        for (k, v) in self.headers() {
            req = req.header(k, v);
        }
        let (bytes, _) = send(req, &url, &self.hints()).await?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| CallError::retryable(format!("malformed file upload response: {e}")))?;
        string_at(&v, "/id", "file")
    }

    /// The answers in an output or error file, by custom id.
    async fn read_results(
        &self,
        file: &str,
        out: &mut HashMap<String, Result<Completion, String>>,
    ) -> Result<(), CallError> {
        let url = format!("{}/files/{file}/content", self.base());
        let bytes = super::fetch(self.http(), &url, &self.headers(), &self.hints()).await?;
        super::results_by_id(&bytes, result_of, out);
        Ok(())
    }
}

/// One output line's answer, or why it has none.
fn result_of(v: &Value) -> Result<Completion, String> {
    let code = v.pointer("/response/status_code").and_then(Value::as_u64);
    match (code, v.pointer("/response/body")) {
        (Some(200), Some(body)) => {
            parse(body, &LmRequest::new(Vec::new())).map_err(|e| e.message().to_string())
        }
        _ => Err(v
            .pointer("/error/message")
            .or_else(|| v.pointer("/response/body/error/message"))
            .and_then(Value::as_str)
            .map(|m| crate::text::truncate_for_message(m).to_string())
            .unwrap_or_else(|| format!("status {}", code.unwrap_or(0)))),
    }
}

fn string_at(v: &Value, ptr: &str, what: &str) -> Result<String, CallError> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| CallError::retryable(format!("malformed {what} response: no {ptr}")))
}
