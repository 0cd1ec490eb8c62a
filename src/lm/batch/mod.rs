//! Batch pricing for work that can wait: requests gathered into one
//! provider batch (the OpenAI Batch API, Anthropic Message Batches; half
//! price), polled with backoff, their answers written to the response cache.
//!
//! The [`Batcher`] sits inside the LM client: callers ask one request at a
//! time as always; requests that arrive together (an evaluation's task
//! calls, then its judge calls) go out as one batch. Each submitted batch is
//! recorded in the cache database before anything waits on it, so a run
//! killed while a batch is pending finds it again and waits for it instead of
//! paying for the same requests twice. A batch that has not ended by its
//! deadline is cancelled and its requests are asked live.

mod anthropic;
mod openai;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lm::cache::Cache;
use crate::lm::settings::BatchConfig;
use crate::lm::{CallError, Completion, Lm, LmRequest};

/// What a provider says about a batch.
#[derive(Debug)]
pub enum BatchState {
    /// Still running.
    Pending,
    /// Done: each request's answer, or why it has none, by custom id.
    Ended(HashMap<String, Result<Completion, String>>),
}

/// A provider's batch API.
#[async_trait::async_trait]
pub trait BatchApi: Send + Sync {
    /// Submits requests, each under its custom id; the batch's id.
    async fn submit(&self, items: &[(String, LmRequest)]) -> Result<String, CallError>;
    /// Where the batch is.
    async fn poll(&self, id: &str) -> Result<BatchState, CallError>;
    /// Asks the provider to stop the batch.
    async fn cancel(&self, id: &str) -> Result<(), CallError>;
}

/// The most requests promptc puts in one batch (OpenAI takes 50,000,
/// Anthropic 100,000; both cap the bytes too).
pub const MAX_BATCH_REQUESTS: usize = 10_000;

/// Consecutive failed polls after which a batch is given up (its requests
/// are then asked live).
const MAX_POLL_FAILURES: u32 = 8;

type Reply = tokio::sync::oneshot::Sender<Result<Completion, String>>;

struct Waiting {
    key: String,
    req: LmRequest,
    reply: Reply,
}

/// Gathers requests into batches and hands each caller its answer.
pub struct Batcher {
    settings: BatchConfig,
    cache: Arc<Cache>,
    /// Requests waiting to be sent, by `provider:model`.
    queues: Mutex<HashMap<String, Vec<Waiting>>>,
}

impl Batcher {
    /// A batcher recording its batches in `cache`.
    pub fn new(settings: BatchConfig, cache: Arc<Cache>) -> Batcher {
        Batcher {
            settings,
            cache,
            queues: Mutex::default(),
        }
    }

    /// The answer to `req` (cache key `key`) through `lm`'s batch API, or
    /// why there is none (the caller then asks live).
    pub async fn ask(
        self: &Arc<Self>,
        lm: Arc<dyn Lm>,
        key: String,
        req: LmRequest,
    ) -> Result<Completion, String> {
        let label = lm.label();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let first = {
            let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            let queue = q.entry(label.clone()).or_default();
            queue.push(Waiting {
                key,
                req,
                reply: tx,
            });
            queue.len() == 1
        };
        if first {
            tokio::spawn(self.clone().flush(label, lm));
        }
        // A provider's error text may quote anything; it is logged by callers.
        rx.await
            .unwrap_or_else(|_| Err("the batch was abandoned".into()))
            .map_err(|why| crate::secret::redact(&why))
    }

    fn queued(&self, label: &str) -> usize {
        let q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.get(label).map_or(0, Vec::len)
    }

    /// Waits until no request has joined the queue for a gather interval,
    /// then sends what it holds: requests of a batch recorded as pending
    /// wait for that batch, the rest go out as new batches.
    async fn flush(self: Arc<Self>, label: String, lm: Arc<dyn Lm>) {
        let gather = Duration::from_millis(self.settings.gather_ms);
        let mut seen = 0;
        loop {
            tokio::time::sleep(gather).await;
            let now = self.queued(&label);
            if now == seen || now >= MAX_BATCH_REQUESTS {
                break;
            }
            seen = now;
        }
        let items = {
            let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            q.remove(&label).unwrap_or_default()
        };
        let mut by_batch: HashMap<String, Vec<Waiting>> = HashMap::new();
        let mut fresh = Vec::new();
        for w in items {
            match self.cache.pending_batch(&label, &w.key) {
                Ok(Some(id)) => by_batch.entry(id).or_default().push(w),
                _ => fresh.push(w),
            }
        }
        for chunk in chunks(fresh) {
            match self.submit(&label, &lm, &chunk).await {
                Ok(id) => by_batch.entry(id).or_default().extend(chunk),
                Err(why) => {
                    tracing::warn!("{label}: batch not submitted ({why}); asking live");
                    for w in chunk {
                        let _ = w.reply.send(Err(why.clone()));
                    }
                }
            }
        }
        for (id, waiting) in by_batch {
            tokio::spawn(self.clone().wait(label.clone(), lm.clone(), id, waiting));
        }
    }

    /// Submits one batch (each distinct request once) and records it.
    async fn submit(
        &self,
        label: &str,
        lm: &Arc<dyn Lm>,
        chunk: &[Waiting],
    ) -> Result<String, String> {
        let api = lm.batch_api().ok_or("the provider has no batch API")?;
        let mut items: Vec<(String, LmRequest)> = Vec::new();
        for w in chunk {
            if !items.iter().any(|(k, _)| *k == w.key) {
                items.push((w.key.clone(), w.req.clone()));
            }
        }
        let id = api
            .submit(&items)
            .await
            .map_err(|e| e.message().to_string())?;
        let keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
        if let Err(e) = self.cache.record_batch(&id, label, &keys) {
            // Not recorded means not resumable: stop it rather than pay for
            // answers a killed run could not find again.
            let _ = api.cancel(&id).await;
            return Err(e.to_string());
        }
        tracing::info!("{label}: batch {id} submitted ({} requests)", items.len());
        Ok(id)
    }

    /// Polls batch `id` with backoff until it ends or passes its deadline,
    /// writes every answer to the cache and answers the waiting callers.
    async fn wait(
        self: Arc<Self>,
        label: String,
        lm: Arc<dyn Lm>,
        id: String,
        waiting: Vec<Waiting>,
    ) {
        let outcome = self.poll_until_done(&lm, &id).await;
        let results = match outcome {
            Ok(results) => {
                for (key, r) in &results {
                    if let Ok(c) = r
                        && let Err(e) = self.cache.put(key, &label, c)
                    {
                        tracing::warn!("{e}");
                    }
                }
                let _ = self.cache.finish_batch(&id, "ended");
                results
            }
            Err(why) => {
                tracing::warn!("{label}: batch {id}: {why}; asking its requests live");
                let _ = self.cache.finish_batch(&id, "abandoned");
                HashMap::new()
            }
        };
        for w in waiting {
            let r = match results.get(&w.key) {
                Some(r) => r.clone(),
                None => Err(format!("batch {id} has no answer for this request")),
            };
            let _ = w.reply.send(r);
        }
    }

    async fn poll_until_done(
        &self,
        lm: &Arc<dyn Lm>,
        id: &str,
    ) -> Result<HashMap<String, Result<Completion, String>>, String> {
        let api = lm.batch_api().ok_or("the provider has no batch API")?;
        let deadline = Duration::from_secs_f64(self.settings.deadline_minutes * 60.0);
        // The deadline counts from the submission, across runs; the age comes
        // from a stored timestamp, so it is never subtracted from an instant
        // (that panics when the machine started more recently than the batch).
        let submitted = self.cache.batch_age(id).map_err(|e| e.to_string())?;
        let ends = tokio::time::Instant::now() + deadline.saturating_sub(submitted);
        let mut delay = Duration::from_secs_f64(self.settings.poll_secs);
        let max_delay = Duration::from_secs_f64(self.settings.max_poll_secs);
        let mut failures = 0;
        loop {
            match api.poll(id).await {
                Ok(BatchState::Ended(results)) => return Ok(results),
                Ok(BatchState::Pending) => failures = 0,
                Err(CallError::Fatal(m)) => return Err(m),
                Err(e) => {
                    failures += 1;
                    if failures >= MAX_POLL_FAILURES {
                        return Err(format!(
                            "{failures} polls failed, the last: {}",
                            e.message()
                        ));
                    }
                }
            }
            if tokio::time::Instant::now() >= ends {
                let _ = api.cancel(id).await;
                return Err(format!(
                    "not ended after batch.deadline_minutes ({}); cancelled",
                    self.settings.deadline_minutes
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(max_delay);
        }
    }
}

/// The answers in a JSONL results file, by custom id, each read by
/// `result_of`; lines without a custom id (or not JSON) are skipped.
fn results_by_id(
    bytes: &[u8],
    result_of: fn(&serde_json::Value) -> Result<Completion, String>,
    out: &mut HashMap<String, Result<Completion, String>>,
) {
    for line in String::from_utf8_lossy(bytes).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(id) = v.get("custom_id").and_then(serde_json::Value::as_str) {
            out.insert(id.to_string(), result_of(&v));
        }
    }
}

/// GETs a results file with the provider's headers: its bytes.
async fn fetch(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&'static str, String)],
    hints: &crate::lm::http::Hints<'_>,
) -> Result<Vec<u8>, CallError> {
    let mut req = http.get(url);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    Ok(crate::lm::http::send(req, url, hints).await?.0)
}

/// The requests in batches of at most [`MAX_BATCH_REQUESTS`].
fn chunks(mut items: Vec<Waiting>) -> Vec<Vec<Waiting>> {
    let mut out = Vec::new();
    while items.len() > MAX_BATCH_REQUESTS {
        let rest = items.split_off(MAX_BATCH_REQUESTS);
        out.push(items);
        items = rest;
    }
    if !items.is_empty() {
        out.push(items);
    }
    out
}
