//! Anthropic Message Batches: `POST /v1/messages/batches`, polled with
//! `GET /v1/messages/batches/{id}`, answers read from its results (JSONL).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{BatchApi, BatchState};
use crate::lm::anthropic::{Anthropic, parse};
use crate::lm::http::{get_json, post_json};
use crate::lm::{CallError, Completion, LmRequest};

#[async_trait::async_trait]
impl BatchApi for Anthropic {
    async fn submit(&self, items: &[(String, LmRequest)]) -> Result<String, CallError> {
        let requests: Vec<Value> = items
            .iter()
            .map(|(id, req)| json!({"custom_id": id, "params": self.body(&req.unseeded())}))
            .collect();
        let url = self.batches();
        let v = post_json(
            self.http(),
            &url,
            &self.headers(),
            &json!({"requests": requests}),
            &self.hints(),
        )
        .await?;
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| CallError::retryable("malformed batch response: no id"))
    }

    async fn poll(&self, id: &str) -> Result<BatchState, CallError> {
        let url = format!("{}/{id}", self.batches());
        let v = get_json(self.http(), &url, &self.headers(), &self.hints()).await?;
        match v.get("processing_status").and_then(Value::as_str) {
            Some("ended") => {}
            Some("in_progress" | "canceling") => return Ok(BatchState::Pending),
            other => {
                return Err(CallError::retryable(format!(
                    "batch {id}: unknown processing_status {other:?}"
                )));
            }
        }
        // The results live where the batch says, but the key is only ever
        // sent to the configured API's own origin.
        let own = format!("{}/{id}/results", self.batches());
        let results_url = v
            .get("results_url")
            .and_then(Value::as_str)
            .filter(|u| same_origin(u, &own))
            .unwrap_or(&own)
            .to_string();
        let bytes = super::fetch(self.http(), &results_url, &self.headers(), &self.hints()).await?;
        let mut out = HashMap::new();
        super::results_by_id(&bytes, result_of, &mut out);
        Ok(BatchState::Ended(out))
    }

    async fn cancel(&self, id: &str) -> Result<(), CallError> {
        let url = format!("{}/{id}/cancel", self.batches());
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

impl Anthropic {
    fn batches(&self) -> String {
        format!("{}/batches", self.url())
    }
}

/// One result line's answer, or why it has none.
fn result_of(v: &Value) -> Result<Completion, String> {
    match v.pointer("/result/type").and_then(Value::as_str) {
        Some("succeeded") => match v.pointer("/result/message") {
            Some(m) => parse(m, &LmRequest::new(Vec::new())).map_err(|e| e.message().to_string()),
            None => Err("a succeeded result without a message".into()),
        },
        Some(kind) => Err(v
            .pointer("/result/error/error/message")
            .or_else(|| v.pointer("/result/error/message"))
            .and_then(Value::as_str)
            .map(|m| format!("{kind}: {}", crate::text::truncate_for_message(m)))
            .unwrap_or_else(|| kind.to_string())),
        None => Err("a result without a type".into()),
    }
}

/// Whether two URLs share scheme, host and port.
fn same_origin(a: &str, b: &str) -> bool {
    let origin = |u: &str| -> Option<String> {
        let (scheme, rest) = u.split_once("://")?;
        let host = rest.split('/').next()?;
        Some(format!("{scheme}://{host}"))
    };
    origin(a).is_some() && origin(a) == origin(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_are_fetched_only_from_the_apis_own_origin() {
        let own = "https://api.anthropic.com/v1/messages/batches/b/results";
        assert!(super::same_origin(
            "https://api.anthropic.com/v1/messages/batches/b/results?x=1",
            own
        ));
        assert!(!super::same_origin("https://evil.example/steal", own));
        assert!(!super::same_origin("http://api.anthropic.com/x", own));
        assert!(!super::same_origin("not a url", own));
    }
}
