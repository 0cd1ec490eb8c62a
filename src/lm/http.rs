//! The HTTP call every HTTP provider makes, and how its failures are classified.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::lm::CallError;
use crate::lm::retry::parse_retry_after;
use crate::lm::secret::redact;
use crate::lm::settings::Timeouts;

/// One shared client: connection pooling across calls of a role.
///
/// A client for a plain-HTTP endpoint (a local server) trusts no TLS root:
/// it never makes a TLS connection, and loading the system's roots took 3 to
/// 11 ms per client, at the start of every command that calls an LM. (It
/// would refuse a redirect to HTTPS with an unknown-issuer error.)
pub(crate) fn client(timeouts: Timeouts, url: &str) -> Result<reqwest::Client, String> {
    // reqwest is built without a TLS crypto provider of its own; install ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let timeout = timeouts.total;
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(30)));
    if let Some(read) = timeouts.read {
        builder = builder.read_timeout(read);
    }
    if url.starts_with("http://") {
        builder = builder.tls_certs_only([]);
    }
    builder
        .pool_max_idle_per_host(64)
        .user_agent(concat!("promptc/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A URL fit to print: credentials in its userinfo (`https://user:token@host`) masked.
pub fn safe_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').unwrap_or(rest.len());
            match rest[..host_end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// What to tell a user to check when a request is refused.
pub(crate) struct Hints<'a> {
    /// The environment variable holding the key, if any.
    pub key_env: Option<&'a str>,
    /// The model asked for.
    pub model: &'a str,
    /// The URL called.
    pub url: &'a str,
}

/// POSTs `body` and returns the parsed JSON response, or a classified error.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    body: &Value,
    hints: &Hints<'_>,
) -> Result<Value, CallError> {
    let req = with_headers(client.post(url).json(body), headers);
    let (bytes, content_type) = send(req, url, hints).await?;
    json_body(&bytes, &content_type)
}

/// GETs `url` and returns the parsed JSON response, or a classified error.
pub(crate) async fn get_json(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    hints: &Hints<'_>,
) -> Result<Value, CallError> {
    let (bytes, content_type) = send(with_headers(client.get(url), headers), url, hints).await?;
    json_body(&bytes, &content_type)
}

/// Sends a prepared request (`url` is where it goes, for messages) and
/// returns the body and content type of a successful answer, or a classified error.
pub(crate) async fn send(
    req: reqwest::RequestBuilder,
    url: &str,
    hints: &Hints<'_>,
) -> Result<(Vec<u8>, String), CallError> {
    let resp = req.send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "request failed"
        };
        let message = redact(
            &format!("{kind}: {}: {}", safe_url(url), error_chain(&e)).replace(url, &safe_url(url)),
        );
        if e.is_timeout() {
            CallError::overloaded(message)
        } else {
            CallError::retryable(message)
        }
    })?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = read_body(resp, status.as_u16()).await?;
    if !status.is_success() {
        return Err(refused(status, &bytes, retry_after, hints));
    }
    Ok((bytes, content_type))
}

fn with_headers(
    mut req: reqwest::RequestBuilder,
    headers: &[(&str, String)],
) -> reqwest::RequestBuilder {
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req
}

fn json_body(bytes: &[u8], content_type: &str) -> Result<Value, CallError> {
    if !content_type.is_empty() && !content_type.contains("json") {
        return Err(CallError::retryable(format!(
            "malformed response: content type `{content_type}`, expected JSON"
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        CallError::retryable(format!(
            "malformed response body ({} bytes): {e}",
            bytes.len()
        ))
    })
}

/// The error of a refused request: what to check, and whether to retry.
fn refused(
    status: reqwest::StatusCode,
    bytes: &[u8],
    retry_after: Option<Duration>,
    hints: &Hints<'_>,
) -> CallError {
    let text = String::from_utf8_lossy(bytes);
    let detail = short_detail(&text);
    let code = status.as_u16();
    let message = match code {
        401 | 403 => format!(
            "{code} {}: check the API key{}{detail}",
            status.canonical_reason().unwrap_or(""),
            hints
                .key_env
                .map(|v| format!(" in ${v}"))
                .unwrap_or_default()
        ),
        404 => format!(
            "404 Not Found: check the model name `{}` and the base URL ({}){detail}",
            hints.model,
            safe_url(hints.url)
        ),
        400 => format!("400 Bad Request: the provider rejected the request{detail}"),
        _ => format!("{code} {}{detail}", status.canonical_reason().unwrap_or("")),
    };
    let message = redact(&message);
    match code {
        408 | 409 | 429 | 500..=599 => CallError::Retryable {
            message,
            retry_after,
            overloaded: matches!(code, 408 | 429 | 502..=504),
        },
        _ => CallError::Fatal(message),
    }
}

/// The number of slots a llama.cpp-style server reports at `url` (its
/// `/props`: `total_slots`), or `None` when it reports none, within a few seconds.
pub(crate) async fn slots(client: &reqwest::Client, url: &str) -> Option<u32> {
    let resp = client
        .get(url)
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let bytes = read_body(resp, 200).await.ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let n = v.get("total_slots")?.as_u64()?;
    u32::try_from(n).ok().filter(|n| *n > 0)
}

/// The largest response body promptc reads from a provider; a server that
/// sends more (or announces more) gets a retryable error, not our memory.
pub const MAX_BODY_BYTES: usize = 32 << 20;

async fn read_body(mut resp: reqwest::Response, status: u16) -> Result<Vec<u8>, CallError> {
    let too_big = || {
        CallError::retryable(format!(
            "malformed response: the body ({status}) is larger than {MAX_BODY_BYTES} bytes"
        ))
    };
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_big());
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(e) => {
                return Err(CallError::retryable(redact(&format!(
                    "reading the response body failed ({status}): {}",
                    error_chain(&e)
                ))));
            }
        }
    }
}

/// The provider's own error message, shortened, as ": message".
fn short_detail(body: &str) -> String {
    let msg = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.pointer("/error"))
                .or_else(|| v.pointer("/message"))
                .and_then(|m| m.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| body.trim().to_string());
    let msg: String = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    if msg.is_empty() {
        String::new()
    } else {
        format!(" ({})", crate::text::truncate_for_message(&msg))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Where a provider's answer reports its token counts (JSON pointers).
pub(crate) struct UsagePointers {
    /// Prompt tokens not read from or written to the prompt cache (Anthropic),
    /// or all prompt tokens (OpenAI, where `cached` is a part of them).
    pub input: &'static str,
    /// Completion tokens.
    pub output: &'static str,
    /// Prompt tokens read from the provider's cache.
    pub cached: &'static str,
    /// Prompt tokens written to the provider's cache, when the provider
    /// bills them apart.
    pub written: Option<&'static str>,
    /// Whether `input` leaves out the cached and written tokens (Anthropic)
    /// rather than counting them in (OpenAI).
    pub input_excludes_cache: bool,
}

/// OpenAI chat completions' usage report.
pub(crate) const OPENAI_USAGE: UsagePointers = UsagePointers {
    input: "/usage/prompt_tokens",
    output: "/usage/completion_tokens",
    cached: "/usage/prompt_tokens_details/cached_tokens",
    written: None,
    input_excludes_cache: false,
};

/// The Anthropic Messages API's usage report.
pub(crate) const ANTHROPIC_USAGE: UsagePointers = UsagePointers {
    input: "/usage/input_tokens",
    output: "/usage/output_tokens",
    cached: "/usage/cache_read_input_tokens",
    written: Some("/usage/cache_creation_input_tokens"),
    input_excludes_cache: true,
};

/// The bridge's usage report (no prompt cache).
pub(crate) const BRIDGE_USAGE: UsagePointers = UsagePointers {
    input: "/usage/input_tokens",
    output: "/usage/output_tokens",
    cached: "/usage/cached_input_tokens",
    written: None,
    input_excludes_cache: false,
};

/// A completion with the provider's token counts, estimated from the text
/// where the provider reports none. `input_tokens` always counts every
/// prompt token, cached or not; the cached and written parts are kept apart.
pub(crate) fn completion(
    v: &Value,
    text: String,
    req: &crate::lm::LmRequest,
    at: &UsagePointers,
) -> crate::lm::Completion {
    let count = |ptr: &str| v.pointer(ptr).and_then(Value::as_u64);
    let cached = count(at.cached).unwrap_or(0);
    let written = at.written.and_then(count).unwrap_or(0);
    let input = match count(at.input) {
        Some(n) if at.input_excludes_cache => n.saturating_add(cached).saturating_add(written),
        Some(n) => n,
        None => estimate_tokens(&req.flatten()),
    };
    crate::lm::Completion {
        input_tokens: input,
        output_tokens: count(at.output).unwrap_or_else(|| estimate_tokens(&text)),
        // A provider's report cannot make the parts larger than the whole.
        cached_input_tokens: cached.min(input),
        cache_write_tokens: written.min(input.saturating_sub(cached)),
        text,
    }
}

/// Rough token count when a provider reports none.
pub(crate) fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_masked() {
        assert_eq!(
            safe_url("https://user:tok3n@llm.example/v1/chat/completions"),
            "https://***@llm.example/v1/chat/completions"
        );
        assert_eq!(
            safe_url("http://127.0.0.1:8000/v1"),
            "http://127.0.0.1:8000/v1"
        );
        assert_eq!(safe_url("https://host/path@odd"), "https://host/path@odd");
    }
}
