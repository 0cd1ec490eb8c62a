//! `promptc lm ping` and `promptc cache stats`.

use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

use crate::chat::{ChatRole, Message};
use crate::commands::{Context, Output};
use crate::config::CacheMode;
use crate::lm::cache::Cache;
use crate::lm::client::LmClient;
use crate::lm::{LmRequest, Role};

#[derive(Serialize)]
struct PingOut {
    ok: bool,
    role: Role,
    lm: String,
    latency_ms: u64,
    reply: Option<String>,
    error: Option<String>,
    simulated: bool,
}

/// `lm ping --role R`: one tiny uncached call.
pub async fn ping(ctx: &Context, role: Role) -> anyhow::Result<Output> {
    let mut config = ctx.config.clone();
    // A ping measures the model, not the cache.
    config.cache.mode = CacheMode::Off;
    config.lms.task.max_retries = 0;
    config.lms.judge.max_retries = 0;
    config.lms.proposer.max_retries = 0;
    let client = LmClient::from_config(&config)?;
    let lm = client.label(role);
    let req = LmRequest {
        max_tokens: Some(16),
        ..LmRequest::new(vec![Message {
            role: ChatRole::User,
            content: "Reply with the single word: pong".into(),
        }])
    };
    let start = Instant::now();
    let result = client.complete(role, req).await;
    let latency_ms = start.elapsed().as_millis() as u64;
    let simulated = lm.starts_with("sim:");
    let (ok, reply, error) = match result {
        Ok(r) => (
            true,
            Some(crate::text::truncate_for_message(r.text.trim())),
            None,
        ),
        Err(e) => (false, None, Some(e.to_string())),
    };
    let mut h = String::new();
    match (&reply, &error) {
        (Some(r), _) => {
            let _ = writeln!(
                h,
                "{role} LM {lm}{}: ok in {latency_ms} ms, replied {r:?}",
                if simulated { " (simulated)" } else { "" }
            );
        }
        (_, Some(e)) => {
            let _ = writeln!(h, "{role} LM {lm}: failed after {latency_ms} ms: {e}");
        }
        _ => {}
    }
    let mut out = Output::ok(
        PingOut {
            ok,
            role,
            lm,
            latency_ms,
            reply,
            error,
            simulated,
        },
        h,
    );
    out.exit = if ok { 0 } else { 1 };
    Ok(out)
}

/// `cache stats`.
pub fn cache_stats(ctx: &Context) -> anyhow::Result<Output> {
    let path = ctx.resolve(&ctx.config.cache.path);
    let mode = match ctx.config.cache.mode {
        CacheMode::Off => CacheMode::Off,
        _ => CacheMode::ReadOnly,
    };
    let cache = Cache::open(&path, mode)?;
    let stats = cache.stats()?;
    let h = format!(
        "{}: {} entries, {} bytes; {} hits, {} misses over all runs\n",
        stats.path.display(),
        stats.entries,
        stats.bytes,
        stats.hits,
        stats.misses
    );
    Ok(Output::ok(stats, h))
}
