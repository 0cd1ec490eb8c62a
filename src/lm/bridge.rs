//! The bridge: POST `{"model","messages","prompt"}` → `{"completion"}` to a local
//! endpoint that routes to a subscription-backed harness (the zero-marginal-cost path).

use serde_json::{Value, json};

use crate::lm::http::{BRIDGE_USAGE, Hints, client, completion, post_json};
use crate::lm::secret::Secret;
use crate::lm::{CallError, Completion, Lm, LmRequest};

/// A bridge client.
pub struct Bridge {
    model: String,
    url: String,
    token: Option<Secret>,
    token_env: String,
    http: reqwest::Client,
}

impl Bridge {
    /// A client for `model` at `url`; `token` is sent as a bearer token when set.
    pub fn new(
        model: &str,
        url: &str,
        token: Option<Secret>,
        token_env: &str,
        timeout: impl Into<crate::lm::settings::Timeouts>,
    ) -> Result<Bridge, String> {
        Ok(Bridge {
            model: model.to_string(),
            url: url.to_string(),
            token,
            token_env: token_env.to_string(),
            http: client(timeout.into(), url)?,
        })
    }
}

#[async_trait::async_trait]
impl Lm for Bridge {
    fn label(&self) -> String {
        format!("bridge:{}", self.model)
    }

    async fn complete(&self, req: &LmRequest) -> Result<Completion, CallError> {
        // No seed in this API: a sample's index goes into the prompt instead.
        let req = &*req.unseeded();
        let body = json!({
            "model": self.model,
            "messages": req.messages,
            "prompt": req.flatten(),
        });
        let mut headers = Vec::new();
        if let Some(t) = &self.token {
            headers.push(("authorization", format!("Bearer {}", t.expose())));
        }
        let hints = Hints {
            key_env: Some(&self.token_env),
            model: &self.model,
            url: &self.url,
        };
        let v = post_json(&self.http, &self.url, &headers, &body, &hints).await?;
        let text = v
            .get("completion")
            .and_then(Value::as_str)
            .ok_or_else(|| CallError::retryable("malformed response: no `completion` string"))?
            .to_string();
        Ok(completion(&v, text, req, &BRIDGE_USAGE))
    }
}
