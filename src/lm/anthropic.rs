//! The Anthropic Messages API.

use serde_json::{Value, json};

use crate::chat::ChatRole;
use crate::lm::http::{ANTHROPIC_USAGE, Hints, client, completion, post_json};
use crate::lm::secret::Secret;
use crate::lm::{CallError, Completion, Lm, LmRequest};

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version header promptc speaks.
pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the API; this is used when the config sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// A Messages API client.
pub struct Anthropic {
    model: String,
    url: String,
    key: Option<Secret>,
    key_env: String,
    http: reqwest::Client,
}

impl Anthropic {
    /// A client for `model` at `base_url` (default [`DEFAULT_BASE_URL`]).
    pub fn new(
        model: &str,
        base_url: Option<&str>,
        key: Option<Secret>,
        key_env: &str,
        timeout: impl Into<crate::lm::settings::Timeouts>,
    ) -> Result<Anthropic, String> {
        let base = base_url.unwrap_or(DEFAULT_BASE_URL).trim_end_matches('/');
        // Accept both https://api.anthropic.com and https://api.anthropic.com/v1.
        let base = base.strip_suffix("/v1").unwrap_or(base);
        Ok(Anthropic {
            model: model.to_string(),
            url: format!("{base}/v1/messages"),
            key,
            key_env: key_env.to_string(),
            http: client(timeout.into(), base)?,
        })
    }
}

#[async_trait::async_trait]
impl Lm for Anthropic {
    fn label(&self) -> String {
        format!("anthropic:{}", self.model)
    }

    async fn complete(&self, req: &LmRequest) -> Result<Completion, CallError> {
        // No seed in this API: a sample's index goes into the prompt instead.
        let req = &*req.unseeded();
        let body = self.body(req);
        let v = post_json(&self.http, &self.url, &self.headers(), &body, &self.hints()).await?;
        parse(&v, req)
    }

    fn batch_api(&self) -> Option<&dyn crate::lm::batch::BatchApi> {
        Some(self)
    }
}

impl Anthropic {
    /// The Messages API body of a request (already [`LmRequest::unseeded`]).
    pub(crate) fn body(&self, req: &LmRequest) -> Value {
        // The Messages API takes the system prompt apart from the turns.
        let system: Vec<&str> = req
            .messages
            .iter()
            .filter(|m| m.role == ChatRole::System)
            .map(|m| m.content.as_str())
            .collect();
        let messages: Vec<Value> = req
            .messages
            .iter()
            .filter(|m| m.role != ChatRole::System)
            .map(|m| {
                let role = if m.role == ChatRole::Assistant {
                    "assistant"
                } else {
                    "user"
                };
                json!({"role": role, "content": m.content})
            })
            .collect();
        let mut body = json!({
            "model": self.model,
            "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            "messages": messages,
        });
        if !system.is_empty() {
            // The system prompt (instructions and demos) is the stable part of
            // every request of a pack: a cache breakpoint after it lets the
            // provider bill later requests' prefix at the cache-read rate.
            // Prompts below the model's minimum cacheable length are simply
            // not cached; the breakpoint costs nothing then.
            body["system"] = json!([{
                "type": "text",
                "text": system.join("\n\n"),
                "cache_control": {"type": "ephemeral"},
            }]);
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t.min(1.0));
        }
        // Structured output on the Messages API is a forced tool call whose
        // input schema is the answer's; its input comes back as the text.
        if let Some(schema) = &req.response_schema {
            body["tools"] = json!([{
                "name": "answer",
                "description": "Give the answer, one key per output field.",
                "input_schema": schema,
            }]);
            body["tool_choice"] = json!({"type": "tool", "name": "answer"});
        }
        body
    }

    /// The version and key headers.
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("anthropic-version", API_VERSION.to_string())];
        if let Some(k) = &self.key {
            headers.push(("x-api-key", k.expose().to_string()));
        }
        headers
    }

    pub(crate) fn hints(&self) -> Hints<'_> {
        Hints {
            key_env: Some(&self.key_env),
            model: &self.model,
            url: &self.url,
        }
    }

    /// The Messages endpoint (`…/v1/messages`).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The HTTP client.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// The completion in a Messages API response body.
pub(crate) fn parse(v: &Value, req: &LmRequest) -> Result<Completion, CallError> {
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| CallError::retryable("malformed response: no content array"))?;
    let tool_input = blocks
        .iter()
        .find(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
        .and_then(|b| b.get("input"));
    let text: String = match tool_input {
        Some(input) => input.to_string(),
        None => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
    };
    Ok(completion(v, text, req, &ANTHROPIC_USAGE))
}
