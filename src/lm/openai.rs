//! OpenAI chat completions, and every OpenAI-compatible server (vLLM, Ollama,
//! llama.cpp, LM Studio, LiteLLM, OpenRouter).

use serde_json::{Value, json};

use crate::chat::ChatRole;
use crate::lm::http::{Hints, OPENAI_USAGE, client, completion, post_json, slots};
use crate::lm::secret::Secret;
use crate::lm::{CallError, Completion, Lm, LmRequest};

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// A chat-completions client.
pub struct OpenAi {
    model: String,
    url: String,
    /// Where a llama.cpp server reports its slots; none for the default API.
    props: Option<String>,
    key: Option<Secret>,
    key_env: String,
    http: reqwest::Client,
    /// Whether this is OpenAI's own API (which takes `prompt_cache_key`).
    hosted: bool,
}

impl OpenAi {
    /// A client for `model` at `base_url` (default [`DEFAULT_BASE_URL`]).
    pub fn new(
        model: &str,
        base_url: Option<&str>,
        key: Option<Secret>,
        key_env: &str,
        timeout: impl Into<crate::lm::settings::Timeouts>,
    ) -> Result<OpenAi, String> {
        let base = base_url.unwrap_or(DEFAULT_BASE_URL).trim_end_matches('/');
        Ok(OpenAi {
            model: model.to_string(),
            url: format!("{base}/chat/completions"),
            props: base_url.map(|_| format!("{}/props", base.trim_end_matches("/v1"))),
            key,
            key_env: key_env.to_string(),
            http: client(timeout.into(), base)?,
            hosted: base.starts_with(DEFAULT_BASE_URL),
        })
    }
}

/// The prompt cache key of requests with this system prompt: the same for
/// every request of one pack's instructions and demos, and nothing of the
/// prompt readable from it.
pub fn prompt_cache_key(model: &str, system: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{model}\n{system}").as_bytes());
    format!("promptc-{}", &hex::encode(digest)[..16])
}

fn role(r: ChatRole) -> &'static str {
    match r {
        ChatRole::System => "system",
        ChatRole::User => "user",
        ChatRole::Assistant => "assistant",
    }
}

#[async_trait::async_trait]
impl Lm for OpenAi {
    fn label(&self) -> String {
        format!("openai:{}", self.model)
    }

    async fn slots(&self) -> Option<u32> {
        slots(&self.http, self.props.as_deref()?).await
    }

    async fn complete(&self, req: &LmRequest) -> Result<Completion, CallError> {
        let body = self.body(req);
        let v = post_json(&self.http, &self.url, &self.headers(), &body, &self.hints()).await?;
        parse(&v, req)
    }

    fn batch_api(&self) -> Option<&dyn crate::lm::batch::BatchApi> {
        Some(self)
    }
}

impl OpenAi {
    /// The chat-completions body of a request.
    pub(crate) fn body(&self, req: &LmRequest) -> Value {
        let messages: Vec<Value> = req
            .messages
            .iter()
            .map(|m| json!({"role": role(m.role), "content": m.content}))
            .collect();
        let mut body = json!({"model": self.model, "messages": messages});
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = req.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if let Some(s) = req.seed {
            body["seed"] = json!(s);
        }
        if let Some(schema) = &req.response_schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": true},
            });
        }
        if self.hosted
            && let Some(system) = req.system()
        {
            // OpenAI caches long prompt prefixes on its own; the key routes
            // requests sharing a system prompt (a pack's instructions and
            // demos) to the same cache. Other compatible servers may reject
            // an unknown field, so only OpenAI's own API gets it.
            body["prompt_cache_key"] = json!(prompt_cache_key(&self.model, system));
        }
        body
    }

    /// The authorization header, when there is a key.
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        self.key
            .iter()
            .map(|k| ("authorization", format!("Bearer {}", k.expose())))
            .collect()
    }

    pub(crate) fn hints(&self) -> Hints<'_> {
        Hints {
            key_env: Some(&self.key_env),
            model: &self.model,
            url: &self.url,
        }
    }

    /// The API's base URL (`…/v1`).
    pub(crate) fn base(&self) -> &str {
        self.url.trim_end_matches("/chat/completions")
    }

    /// The HTTP client.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// The completion in a chat-completions response body.
pub(crate) fn parse(v: &Value, req: &LmRequest) -> Result<Completion, CallError> {
    let text = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| CallError::retryable("malformed response: no choices[0].message.content"))?
        .to_string();
    Ok(completion(v, text, req, &OPENAI_USAGE))
}
