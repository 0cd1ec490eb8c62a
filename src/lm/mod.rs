//! The LM layer: everything that talks to a model goes through here.
//!
//! One async trait ([`Lm`]) with five providers (openai, anthropic, bridge,
//! command, sim), and around every provider the [`client::LmClient`]: a
//! content-addressed cache, retries with backoff that honour Retry-After,
//! per-role concurrency and rate limits, usage and cost accounting, and hard
//! budget caps. Secrets come from environment variables and are redacted from
//! every message this layer produces.

pub mod adaptive;
pub mod anthropic;
pub mod batch;
pub mod bridge;
pub mod budget;
pub mod cache;
pub mod client;
pub mod command;
mod http;
pub use http::safe_url;
pub mod limits;
pub mod openai;
pub mod retry;
pub mod settings;
/// Kept at its old path for callers; the module now lives at the crate root,
/// below every layer that redacts.
pub use crate::secret;
pub mod sim;
#[cfg(any(test, feature = "test-support"))]
pub mod sim_server;
pub mod spec;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use client::LmClient;
pub use spec::{LmSpec, Provider, Role};

use crate::chat::{ChatRole, Message};

/// One request to a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmRequest {
    /// The conversation.
    pub messages: Vec<Message>,
    /// Sampling temperature (provider default when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Completion length cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Which sample of the same request this is: k samples of one prompt are
    /// k different cache entries.
    pub sample: u32,
    /// The seed sent to providers that take one (the role's seed plus the
    /// sample index, so k samples are k draws even at temperature 0 on a
    /// caching server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// A JSON Schema the answer must follow (the `json` adapter), sent as
    /// the provider's structured output where it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<serde_json::Value>,
}

impl LmRequest {
    /// A request with default sampling.
    pub fn new(messages: Vec<Message>) -> LmRequest {
        LmRequest {
            messages,
            temperature: None,
            max_tokens: None,
            sample: 0,
            seed: None,
            response_schema: None,
        }
    }

    /// The system message, if any.
    pub fn system(&self) -> Option<&str> {
        self.messages
            .iter()
            .find(|m| m.role == ChatRole::System)
            .map(|m| m.content.as_str())
    }

    /// The conversation as one text, for providers that take a single prompt
    /// (bridge, command): each message under a `### role` header.
    pub fn flatten(&self) -> String {
        let mut out = String::new();
        for m in &self.messages {
            let role = match m.role {
                ChatRole::System => "system",
                ChatRole::User => "user",
                ChatRole::Assistant => "assistant",
            };
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str("### ");
            out.push_str(role);
            out.push('\n');
            out.push_str(&m.content);
        }
        out
    }

    /// The request as sent to a provider that takes no seed (Anthropic,
    /// bridge, command): sample 0 as it is; sample k > 0 with a visible
    /// `(sample k)` line after the last user message, so that k samples or
    /// re-asks are k different requests even to a deterministic or caching
    /// model. The cache key already holds the sample index, so key and
    /// request differ together.
    pub fn unseeded(&self) -> std::borrow::Cow<'_, LmRequest> {
        if self.sample == 0 {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut req = self.clone();
        let note = format!("\n\n(sample {})", self.sample);
        match req
            .messages
            .iter_mut()
            .rev()
            .find(|m| m.role == ChatRole::User)
        {
            Some(m) => m.content.push_str(&note),
            None => req.messages.push(Message {
                role: ChatRole::User,
                content: note.trim_start().to_string(),
            }),
        }
        std::borrow::Cow::Owned(req)
    }

    /// A rough token count (4 characters a token) for rate limiting before a call.
    pub fn estimated_tokens(&self) -> u64 {
        let chars: usize = self.messages.iter().map(|m| m.content.len()).sum();
        (chars / 4) as u64 + u64::from(self.max_tokens.unwrap_or(256))
    }
}

/// What a provider returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The text.
    pub text: String,
    /// Prompt tokens, as the provider reported them (estimated when it did not).
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Of the prompt tokens, those read from the provider's prompt cache
    /// (OpenAI `prompt_tokens_details.cached_tokens`, Anthropic
    /// `cache_read_input_tokens`), billed at the cached rate.
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Of the prompt tokens, those written to the provider's prompt cache
    /// (Anthropic `cache_creation_input_tokens`), billed at the write rate.
    #[serde(default)]
    pub cache_write_tokens: u64,
}

impl Completion {
    /// Its token counts, split the way providers bill them.
    pub fn tokens(&self) -> settings::Tokens {
        settings::Tokens {
            input: self.input_tokens,
            cached_input: self.cached_input_tokens,
            cache_write: self.cache_write_tokens,
            output: self.output_tokens,
        }
    }

    /// A completion with these token counts and nothing cached.
    pub fn new(text: String, input_tokens: u64, output_tokens: u64) -> Completion {
        Completion {
            text,
            input_tokens,
            output_tokens,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
        }
    }
}

/// Why one attempt failed, and whether another attempt may succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// A transient failure: connection, timeout, 408/409/429/5xx, malformed body.
    Retryable {
        /// What happened.
        message: String,
        /// How long the server asked us to wait.
        retry_after: Option<Duration>,
        /// A sign the server has more requests than it can take (a timeout,
        /// 408, 429, 502, 503, 504): fewer should be sent at once.
        overloaded: bool,
    },
    /// A failure another attempt cannot fix (400/401/403/404, bad setup).
    Fatal(String),
}

impl CallError {
    /// A retryable error without a server hint.
    pub fn retryable(message: impl Into<String>) -> CallError {
        CallError::Retryable {
            message: message.into(),
            retry_after: None,
            overloaded: false,
        }
    }

    /// A retryable error that says the server is overloaded (a timeout).
    pub fn overloaded(message: impl Into<String>) -> CallError {
        CallError::Retryable {
            message: message.into(),
            retry_after: None,
            overloaded: true,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            CallError::Retryable { message, .. } | CallError::Fatal(message) => message,
        }
    }
}

/// A model provider.
#[async_trait::async_trait]
pub trait Lm: Send + Sync {
    /// `provider:model`, as reports name it.
    fn label(&self) -> String;
    /// One attempt at a completion. Retries, caching and limits are the client's job.
    async fn complete(&self, req: &LmRequest) -> Result<Completion, CallError>;
    /// How many requests the server says it serves at once, where it says
    /// (llama.cpp's `/props`); asked once per endpoint, before its first call.
    async fn slots(&self) -> Option<u32> {
        None
    }
    /// The provider's batch API, if it has one.
    fn batch_api(&self) -> Option<&dyn batch::BatchApi> {
        None
    }
}

/// Errors of the LM layer, as callers see them.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// A call failed for good (after retries, or at once for a fatal error).
    #[error("{role} LM {label}: {message}")]
    Call {
        /// The role.
        role: Role,
        /// `provider:model`.
        label: String,
        /// What went wrong (secrets redacted).
        message: String,
        /// Another call cannot succeed either (authentication, permission, a
        /// model or route not found, a program that does not run): the run
        /// stops instead of counting the example as lost.
        fatal: bool,
    },
    /// A budget cap was reached; no new call was started.
    #[error("budget exhausted: {0}")]
    Budget(String),
    /// Cache mode `offline` and the request is not cached.
    #[error("{role} LM {label}: not in the cache and cache.mode is offline")]
    OfflineMiss {
        /// The role.
        role: Role,
        /// `provider:model`.
        label: String,
    },
    /// The cache could not be used.
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    /// The LM configuration cannot work (missing key, bad URL, unknown price for a cost cap).
    #[error("{0}")]
    Setup(String),
}

impl LmError {
    /// Whether this error ends a whole run rather than one example: a fatal
    /// call (a wrong key, a missing model), an unusable setup or cache, a miss
    /// in offline mode.
    pub fn ends_the_run(&self) -> bool {
        match self {
            LmError::Call { fatal, .. } => *fatal,
            LmError::Budget(_) => false,
            LmError::OfflineMiss { .. } | LmError::Cache(_) | LmError::Setup(_) => true,
        }
    }
}
