//! The client every caller uses: a provider per role, wrapped in the cache,
//! the budget, the limits and the retry loop.

use std::sync::Arc;
use std::time::Duration;

use crate::lm::adaptive::{Gate, Queue, Signal};
use crate::lm::anthropic::Anthropic;
use crate::lm::batch::Batcher;
use crate::lm::bridge::Bridge;
use crate::lm::budget::{Budget, Event, Usage};
use crate::lm::cache::{self, Cache};
use crate::lm::command::CommandLm;
use crate::lm::limits::Limiter;
use crate::lm::openai::OpenAi;
use crate::lm::retry::backoff;
use crate::lm::secret::{Secret, redact};
use crate::lm::settings::{AsLmSetup, CacheMode, LmConfig, LmSetup};
use crate::lm::sim::Sim;
use crate::lm::{CallError, Completion, Lm, LmError, LmRequest, Provider, Role};

/// The most a single wait between attempts lasts.
const BACKOFF_CAP: Duration = Duration::from_secs(30);

struct RoleClient {
    role: Role,
    cfg: LmConfig,
    lm: Arc<dyn Lm>,
    limiter: Limiter,
    /// The adaptive in-flight limit shared with the other roles of this
    /// endpoint (none for the in-process simulator).
    gate: Option<Arc<Gate>>,
    /// Recent latencies of this role's answers, for when to hedge.
    latencies: Latencies,
    /// Recent latencies of every role on this endpoint: until the role has
    /// answered enough to say what its own usual latency is.
    endpoint_latencies: Arc<Latencies>,
}

/// The latencies of a role's last answers (those that needed no hedge).
#[derive(Default)]
struct Latencies(std::sync::Mutex<std::collections::VecDeque<Duration>>);

/// How many recent latencies are kept.
const LATENCY_WINDOW: usize = 64;
/// Fewer answers than this say too little about a role's usual latency.
const LATENCY_MIN_SAMPLES: usize = 16;

impl Latencies {
    fn record(&self, d: Duration) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        v.push_back(d);
        if v.len() > LATENCY_WINDOW {
            v.pop_front();
        }
    }

    /// When an attempt is late enough to be hedged: twice the 95th
    /// percentile of the recent latencies (at least 20 ms), once there are
    /// enough of them. A hung connection or one lost request then costs a
    /// trial a few usual latencies, not its timeout; an ordinary slow
    /// answer (under twice the 95th percentile) is never doubled.
    fn hedge_after(&self) -> Option<Duration> {
        self.hedge_after_from(LATENCY_MIN_SAMPLES)
    }

    /// [`Self::hedge_after`] from as few as `min` answers.
    fn hedge_after_from(&self, min: usize) -> Option<Duration> {
        let v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() < min.max(1) {
            return None;
        }
        let mut sorted: Vec<Duration> = v.iter().copied().collect();
        sorted.sort();
        let p95 = sorted[(sorted.len() * 95 / 100).min(sorted.len() - 1)];
        Some((p95 * 2).max(Duration::from_millis(20)))
    }
}

/// The backoff base of a retry that is not about load: another attempt at
/// once would do, a little jitter spreads a crowd of them.
const QUICK_RETRY: Duration = Duration::from_millis(5);
/// The longest wait before such a retry: every attempt after a failure that
/// says nothing about load is as likely to succeed as the first, and a whole
/// batch of trials waits on its slowest call.
const QUICK_RETRY_CAP: Duration = Duration::from_millis(20);
/// The smoothed share of overload signals from which refusals back off fully.
const BUSY_SHARE: f64 = 0.5;

/// How many times the endpoint's usual hedge delay a role waits before it
/// has answered enough to have its own.
const ENDPOINT_HEDGE_MARGIN: u32 = 4;

/// How often an attempt that cannot be hedged yet (no latency known) looks
/// again whether one can.
const HEDGE_RECHECK: Duration = Duration::from_millis(50);

/// When an attempt of `rc` is late enough to hedge: from the role's own
/// recent latencies, else (another role's answers may be much shorter) from
/// the endpoint's with a wide margin; `None` before either is known.
fn hedge_delay(rc: &RoleClient) -> Option<Duration> {
    rc.latencies.hedge_after().or_else(|| {
        rc.endpoint_latencies
            .hedge_after_from(ENDPOINT_MIN_SAMPLES)
            .map(|d| d * ENDPOINT_HEDGE_MARGIN)
    })
}

/// The fewest answers of an endpoint whose latency is used for a role that
/// has too few of its own (a run's first requests).
const ENDPOINT_MIN_SAMPLES: usize = 4;

tokio::task_local! {
    /// Set while a caller's work is background work (see [`in_background`]).
    static BACKGROUND: ();
    /// The rank of the caller's piece of work (see [`in_rank`]).
    static RANK: u64;
}

/// Runs `work` as the caller's piece of work of `rank`: where its LM calls
/// wait for a place in an endpoint's in-flight limit, they go before the
/// waiting calls of higher ranks of the same ground (foreground or
/// background). Work outside any rank has rank 0. An optimizer with several
/// trials in flight ranks each by its number, so they finish in turn and the
/// next is proposed while the others keep every place busy.
pub async fn in_rank<F: std::future::Future>(rank: u64, work: F) -> F::Output {
    RANK.scope(rank, work).await
}

/// Runs `work` as background work: where its LM calls wait for a place in
/// an endpoint's in-flight limit, they wait behind every other caller's.
/// Work whose result is not needed soon (an optimizer's full evaluations)
/// then fills the places that the work on the critical path leaves idle,
/// such as the end of a batch of trials, instead of delaying that work.
pub async fn in_background<F: std::future::Future>(work: F) -> F::Output {
    BACKGROUND.scope((), work).await
}

/// Whether the calling task's work is background work.
fn is_background() -> bool {
    BACKGROUND.try_with(|_| ()).is_ok()
}

/// The most hedges of one attempt out at once beside the first request.
const MAX_HEDGES: u32 = 2;
/// The most requests one attempt sends, hedges and replacements of failed
/// hedges included.
const MAX_SENT: u32 = 6;

/// How many hedge delays a request stays unanswered before it no longer
/// counts as out: by then it has almost surely hung, and holding the
/// attempt's hedges for it would make the attempt wait out its timeout
/// when two or three of its requests hang together (a search of a few
/// thousand calls meets that about once a run at a 5% hang rate).
const STALE_HEDGE_DELAYS: u32 = 4;

/// The send times of one attempt's requests still out.
#[derive(Default)]
struct Sent {
    times: Vec<Option<tokio::time::Instant>>,
}

impl Sent {
    /// Records a request sent at `at`; returns its id.
    fn push(&mut self, at: tokio::time::Instant) -> usize {
        self.times.push(Some(at));
        self.times.len() - 1
    }
    /// The request `id` has its answer (or failure).
    fn done(&mut self, id: usize) {
        if let Some(t) = self.times.get_mut(id) {
            *t = None;
        }
    }
    /// Requests sent in all.
    fn count(&self) -> usize {
        self.times.len()
    }
    /// Requests out that are not yet stale at `now`.
    fn young(&self, now: tokio::time::Instant, stale: Option<Duration>) -> usize {
        self.times
            .iter()
            .flatten()
            .filter(|t| stale.is_none_or(|s| now < **t + s))
            .count()
    }
    /// When the next request out that is young at `now` becomes stale.
    fn next_stale(
        &self,
        now: tokio::time::Instant,
        stale: Option<Duration>,
    ) -> Option<tokio::time::Instant> {
        let s = stale?;
        self.times
            .iter()
            .flatten()
            .map(|t| *t + s)
            .filter(|at| *at > now)
            .min()
    }
}

/// The smallest in-flight limit of an endpoint that hedges: a server with a
/// slot or two (a local model) would only queue the second request behind
/// the first.
const HEDGE_MIN_CEILING: u32 = 4;

/// What roles share an in-flight budget on: the provider and its base URL
/// (or program); the simulator is its own endpoint per role.
fn endpoint(role: Role, cfg: &LmConfig) -> String {
    match cfg.provider {
        Provider::Sim => format!("sim:{role}"),
        p => format!(
            "{p}|{}",
            cfg.base_url
                .as_deref()
                .or(cfg.program.as_deref())
                .unwrap_or("default")
        ),
    }
}

/// One adaptive gate per endpoint that talks to a server. Its ceiling is
/// `limits.max_in_flight`, else the summed `concurrency` of the roles on it
/// (each role keeps its own `concurrency` cap besides).
fn gates(config: &LmSetup<'_>) -> std::collections::HashMap<String, Arc<Gate>> {
    let mut ceilings: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    for role in Role::ALL {
        let cfg = config.lms.get(role);
        if cfg.provider != Provider::Sim {
            let c = ceilings.entry(endpoint(role, cfg)).or_insert(0);
            *c = c.saturating_add(cfg.concurrency.max(1));
        }
    }
    ceilings
        .into_iter()
        .map(|(name, sum)| {
            let ceiling = config.limits.max_in_flight.unwrap_or(sum);
            let gate = Gate::new(crate::lm::safe_url(&name), ceiling);
            (name, gate)
        })
        .collect()
}

/// What an attempt says about the endpoint's load.
fn signal(result: &Result<Completion, CallError>, latency: Duration) -> Signal {
    match result {
        // Prompt tokens are read far faster than answer tokens are written.
        Ok(c) => Signal::Answered {
            latency,
            cost: c.input_tokens / 8 + c.output_tokens + 16,
        },
        Err(CallError::Retryable {
            overloaded: true, ..
        }) => Signal::Overloaded,
        Err(_) => Signal::Other,
    }
}

/// A role's sampling parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sampling {
    /// Temperature (`None`: the provider's default).
    pub temperature: Option<f64>,
    /// Completion cap (`None`: the provider's default).
    pub max_tokens: Option<u32>,
    /// Base seed; each sample adds its index.
    pub seed: u64,
}

impl Sampling {
    /// Defaults when the config sets nothing: temperature 0 for the task and
    /// the judge (the same prompt scores the same, run after run, on any
    /// server), 0.7 for the proposer (candidates should differ); a judge's
    /// answer capped at 512 tokens, ample for its JSON verdict; seed 0.
    pub fn default_for(role: Role) -> Sampling {
        match role {
            Role::Task => Sampling {
                temperature: Some(0.0),
                max_tokens: None,
                seed: 0,
            },
            Role::Judge => Sampling {
                temperature: Some(0.0),
                max_tokens: Some(512),
                seed: 0,
            },
            Role::Proposer => Sampling {
                temperature: Some(0.7),
                max_tokens: None,
                seed: 0,
            },
        }
    }
}

/// What a caller gets back.
#[derive(Debug, Clone, PartialEq)]
pub struct LmResponse {
    /// The text.
    pub text: String,
    /// Answered from the cache (no call was made).
    pub cached: bool,
}

/// The LMs of a run.
pub struct LmClient {
    roles: Vec<RoleClient>,
    cache: Option<Arc<Cache>>,
    budget: Arc<Budget>,
    in_flight: std::sync::atomic::AtomicU64,
    /// Requests being asked now, by cache key: an identical request that
    /// arrives meanwhile waits for that answer instead of paying for it
    /// again (what the cache would have given it a moment later).
    asking: std::sync::Mutex<std::collections::HashMap<String, Arc<Asked>>>,
    /// Batch pricing, when the config enables it.
    batcher: Option<Arc<Batcher>>,
    /// Whether calls go through the batcher now (commands turn it on for
    /// the work that can wait: an A/B, an evaluation).
    batching: std::sync::atomic::AtomicBool,
}

/// A request being asked, as those waiting for the same answer share it.
#[derive(Default)]
struct Asked {
    /// The text, or `None` when it failed (a waiter then asks for itself,
    /// and reports its own error).
    answer: tokio::sync::OnceCell<Option<String>>,
    /// Notified when a foreground caller waits for this answer: a request
    /// still waiting behind background work then waits with the foreground.
    promote: tokio::sync::Notify,
}

/// The environment variable a provider's key is read from.
pub fn key_env(cfg: &LmConfig) -> Option<String> {
    cfg.api_key_env.clone().or_else(|| match cfg.provider {
        Provider::Openai => Some("OPENAI_API_KEY".into()),
        Provider::Anthropic => Some("ANTHROPIC_API_KEY".into()),
        Provider::Bridge => Some("PROMPTC_BRIDGE_TOKEN".into()),
        Provider::Command | Provider::Sim => None,
    })
}

/// Builds the provider of one role.
pub fn provider(role: Role, cfg: &LmConfig) -> Result<Arc<dyn Lm>, LmError> {
    let timeout = cfg.timeouts();
    let env = key_env(cfg);
    let key = env.as_deref().and_then(Secret::from_env);
    let setup = |e: String| LmError::Setup(format!("lms.{role}: {e}"));
    let lm: Arc<dyn Lm> = match cfg.provider {
        Provider::Sim => Arc::new(Sim::new(role, &cfg.model)),
        Provider::Openai | Provider::Anthropic => {
            // Hosted APIs need a key; a local server at a custom URL usually does not.
            if key.is_none() && cfg.base_url.is_none() {
                return Err(setup(format!(
                    "{} needs an API key: set ${} (or name another variable in lms.{role}.api_key_env)",
                    cfg.provider,
                    env.as_deref().unwrap_or("")
                )));
            }
            let env = env.unwrap_or_default();
            if cfg.provider == Provider::Openai {
                Arc::new(
                    OpenAi::new(&cfg.model, cfg.base_url.as_deref(), key, &env, timeout)
                        .map_err(setup)?,
                )
            } else {
                Arc::new(
                    Anthropic::new(&cfg.model, cfg.base_url.as_deref(), key, &env, timeout)
                        .map_err(setup)?,
                )
            }
        }
        Provider::Bridge => {
            let url = cfg
                .base_url
                .as_deref()
                .ok_or_else(|| setup("the bridge needs base_url".into()))?;
            Arc::new(
                Bridge::new(&cfg.model, url, key, &env.unwrap_or_default(), timeout)
                    .map_err(setup)?,
            )
        }
        Provider::Command => {
            let program = cfg
                .program
                .as_deref()
                .ok_or_else(|| setup("the command provider needs program".into()))?;
            Arc::new(CommandLm::new(&cfg.model, program, timeout.total).map_err(setup)?)
        }
    };
    Ok(lm)
}

impl LmClient {
    /// The LMs, cache and budget a config describes.
    pub fn from_config<C: AsLmSetup + ?Sized>(config: &C) -> Result<LmClient, LmError> {
        let config = config.lm_setup();
        let mut providers = Vec::new();
        for role in Role::ALL {
            providers.push(provider(role, config.lms.get(role))?);
        }
        Self::with_providers(&config, providers)
    }

    /// Like [`LmClient::from_config`], with the providers given (task, judge,
    /// proposer, in that order): for embedding promptc with a custom [`Lm`].
    pub fn with_providers<C: AsLmSetup + ?Sized>(
        config: &C,
        providers: Vec<Arc<dyn Lm>>,
    ) -> Result<LmClient, LmError> {
        let config = &config.lm_setup();
        if providers.len() != Role::ALL.len() {
            return Err(LmError::Setup(
                "one provider per role: task, judge, proposer".into(),
            ));
        }
        let cache = match config.cache_mode {
            CacheMode::Off => None,
            mode => Some(Arc::new(Cache::open(&config.cache_path, mode)?)),
        };
        let batcher = match (&cache, config.batch.enabled) {
            (_, false) => None,
            (Some(c), true) if c.mode() == CacheMode::ReadWrite => {
                Some(Arc::new(Batcher::new(config.batch.clone(), c.clone())))
            }
            _ => {
                return Err(LmError::Setup(
                    "batch.enabled (--batch) needs cache.mode read-write: pending batches are recorded in the cache so an interrupted run resumes them".into(),
                ));
            }
        };
        let budget = Arc::new(Budget::new(config.budget.clone()));
        let gates = gates(config);
        let mut endpoint_latencies: std::collections::HashMap<String, Arc<Latencies>> =
            Default::default();
        let mut roles = Vec::new();
        for (role, lm) in Role::ALL.into_iter().zip(providers) {
            let cfg = config.lms.get(role).clone();
            let label = lm.label();
            let price = if cfg.provider == Provider::Sim {
                // The simulator is free, and its cost is known to be zero.
                Some(crate::lm::settings::Price::FREE)
            } else {
                config.prices.get(&label).cloned()
            };
            if config.budget.max_cost_usd.is_some() && price.is_none() {
                return Err(LmError::Setup(format!(
                    "budget.max_cost_usd is set but {label} has no price: add prices.\"{label}\" (input_per_mtok, output_per_mtok)"
                )));
            }
            budget.register(role, label, price);
            let gate = gates.get(&endpoint(role, &cfg)).cloned();
            let shared = endpoint_latencies
                .entry(endpoint(role, &cfg))
                .or_default()
                .clone();
            roles.push(RoleClient {
                role,
                gate,
                latencies: Latencies::default(),
                endpoint_latencies: shared,
                limiter: Limiter::new(cfg.concurrency, cfg.rpm, cfg.tpm),
                cfg,
                lm,
            });
        }
        Ok(LmClient {
            roles,
            cache,
            budget,
            in_flight: std::sync::atomic::AtomicU64::new(0),
            asking: Default::default(),
            batcher,
            batching: Default::default(),
        })
    }

    fn role(&self, role: Role) -> &RoleClient {
        // `from_config` builds every role, in `Role::ALL` order.
        &self.roles[Role::ALL.iter().position(|r| *r == role).unwrap_or(0)]
    }

    /// Sends the calls that follow through the providers' batch APIs (when
    /// the config enables batches), or live again. Returns whether calls are
    /// now batched.
    pub fn set_batching(&self, on: bool) -> bool {
        let on = on && self.batcher.is_some();
        self.batching.store(on, std::sync::atomic::Ordering::SeqCst);
        on
    }

    /// Whether calls go through the batch APIs now.
    pub fn batching(&self) -> bool {
        self.batching.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `provider:model` of a role.
    pub fn label(&self, role: Role) -> String {
        self.role(role).lm.label()
    }

    /// The role's sampling applied to a request: the request's own values,
    /// else the role's configured ones, else the role's defaults
    /// ([`Sampling::default_for`]); the seed is the role's plus the sample index.
    pub fn with_defaults(&self, role: Role, mut req: LmRequest) -> LmRequest {
        let s = self.sampling(role);
        req.temperature = req.temperature.or(s.temperature);
        req.max_tokens = req.max_tokens.or(s.max_tokens);
        req.seed = Some(s.seed.wrapping_add(u64::from(req.sample)));
        req
    }

    /// What a role samples with, as recorded in a pack's provenance.
    pub fn sampling(&self, role: Role) -> Sampling {
        let cfg = &self.role(role).cfg;
        let d = Sampling::default_for(role);
        Sampling {
            temperature: cfg.temperature.or(d.temperature),
            max_tokens: cfg.max_tokens.or(d.max_tokens),
            seed: cfg.seed.unwrap_or(d.seed),
        }
    }

    /// One completion: from the cache when possible, else from the model,
    /// within the budget and the role's limits, retrying transient failures.
    pub async fn complete(&self, role: Role, req: LmRequest) -> Result<LmResponse, LmError> {
        let rc = self.role(role);
        let req = self.with_defaults(role, req);
        let label = rc.lm.label();
        let key = cache::key(&label, &req);
        if let Some(cache) = &self.cache {
            if let Some(hit) = cache.get(&key)? {
                self.budget.record(role, Event::CacheHit);
                return Ok(LmResponse {
                    // Rows are written redacted; a key registered since is hidden too.
                    text: redact(&hit.text),
                    cached: true,
                });
            }
            if cache.mode() == CacheMode::Offline {
                return Err(LmError::OfflineMiss { role, label });
            }
            return self.ask_once(role, rc, &req, key, label).await;
        }
        self.ask(role, rc, &req, &key, label, None).await
    }

    /// Asks `req` unless an identical request is being asked now; then waits
    /// for that answer, counted as a cache hit.
    async fn ask_once(
        &self,
        role: Role,
        rc: &RoleClient,
        req: &LmRequest,
        key: String,
        label: String,
    ) -> Result<LmResponse, LmError> {
        let cell = {
            let mut asking = self.asking.lock().unwrap_or_else(|e| e.into_inner());
            let asked = asking.get(&key).cloned();
            match asked {
                Some(asked) => {
                    if !is_background() {
                        asked.promote.notify_one();
                    }
                    asked
                }
                None => asking.entry(key.clone()).or_default().clone(),
            }
        };
        let mut mine: Option<Result<LmResponse, LmError>> = None;
        let shared = cell
            .answer
            .get_or_init(|| async {
                let r = self
                    .ask(role, rc, req, &key, label.clone(), Some(&cell.promote))
                    .await;
                let text = r.as_ref().ok().map(|x| x.text.clone());
                mine = Some(r);
                text
            })
            .await
            .clone();
        if let Some(r) = mine {
            self.asking
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            return r;
        }
        match shared {
            Some(text) => {
                self.budget.record(role, Event::CacheHit);
                Ok(LmResponse { text, cached: true })
            }
            None => self.ask(role, rc, req, &key, label, None).await,
        }
    }

    /// One request to the provider, with retries, recorded in the budget and the cache.
    async fn ask(
        &self,
        role: Role,
        rc: &RoleClient,
        req: &LmRequest,
        key: &str,
        label: String,
        promote: Option<&tokio::sync::Notify>,
    ) -> Result<LmResponse, LmError> {
        self.budget.try_start().map_err(LmError::Budget)?;
        let (answer, batched) = match self.batched(rc, req, key).await {
            Some(c) => (Ok(c), true),
            None => (self.call_with_retries(rc, req, promote).await, false),
        };
        let completion = match answer {
            // Redacted at the source: nothing downstream (scores, proposals,
            // packs, reports, logs, the cache) ever holds a key the model
            // repeated, and a cold run sees exactly what a warm one reads back.
            Ok(c) => Completion {
                text: redact(&c.text),
                ..c
            },
            Err((message, fatal)) => {
                self.budget.record(role, Event::Failure);
                return Err(LmError::Call {
                    role,
                    label,
                    message: redact(&message),
                    fatal,
                });
            }
        };
        self.budget.record_call(role, &completion, batched);
        if let Some(cache) = &self.cache {
            cache.put(key, &label, &completion)?;
        }
        Ok(LmResponse {
            text: completion.text,
            cached: false,
        })
    }

    /// The answer through the provider's batch API, when calls are batched
    /// now and the provider has one; `None` means ask live (a batch that
    /// failed, passed its deadline or left this request out included).
    async fn batched(&self, rc: &RoleClient, req: &LmRequest, key: &str) -> Option<Completion> {
        let batcher = self.batcher.as_ref().filter(|_| self.batching())?;
        rc.lm.batch_api()?;
        match batcher
            .ask(rc.lm.clone(), key.to_string(), req.clone())
            .await
        {
            Ok(c) => Some(c),
            Err(why) => {
                tracing::debug!("{}: asked live: {why}", rc.lm.label());
                None
            }
        }
    }

    async fn call_with_retries(
        &self,
        rc: &RoleClient,
        req: &LmRequest,
        promote: Option<&tokio::sync::Notify>,
    ) -> Result<Completion, (String, bool)> {
        let attempts = rc.cfg.max_retries.saturating_add(1);
        let timeout = Duration::from_secs(rc.cfg.timeout_secs.max(1));
        // Providers enforce `timeout` themselves and say what timed out; this outer
        // limit only catches one that does not, so it allows a little grace.
        let outer = timeout.saturating_add(Duration::from_secs(2));
        let base = Duration::from_millis(rc.cfg.retry_backoff_ms);
        let mut last = String::new();
        // The role's permit, kept over a quick retry: the retry is the same
        // request, not a new one to queue behind the others.
        let mut held = None;
        for attempt in 0..attempts {
            // Both permits are taken before the clock starts: time spent
            // waiting in promptc's own queue never counts against the timeout.
            let permit = match held.take() {
                Some(p) => p,
                None => rc.limiter.acquire(req.estimated_tokens()).await,
            };
            let place = match &rc.gate {
                Some(g) if attempt > 0 => Some(g.acquire(Queue::Front).await),
                Some(g) => {
                    g.start_with(rc.lm.slots()).await;
                    // A judge's call ends its example's chain: calls that
                    // start chains go first (see `Queue::LastStep`).
                    let background = is_background();
                    let queue = match rc.role {
                        Role::Judge => Queue::LastStep { background },
                        Role::Task | Role::Proposer => Queue::Normal { background },
                    };
                    let rank = RANK.try_with(|r| *r).unwrap_or(0);
                    Some(g.acquire_ranked(queue, rank, promote).await)
                }
                None => None,
            };
            use std::sync::atomic::Ordering::Relaxed;
            // A hedge is an extra request the role's rpm/tpm limiter never
            // counted: a role with those limits is not hedged.
            let hedging = rc
                .gate
                .as_ref()
                .is_some_and(|g| g.ceiling() >= HEDGE_MIN_CEILING)
                && rc.cfg.rpm.is_none()
                && rc.cfg.tpm.is_none();
            self.in_flight.fetch_add(1, Relaxed);
            let started = tokio::time::Instant::now();
            let result = tokio::time::timeout(outer, self.attempt(rc, req, hedging)).await;
            self.in_flight.fetch_sub(1, Relaxed);
            let (result, hedged) = match result {
                Ok(r) => r,
                Err(_) => (
                    Err(CallError::overloaded(format!(
                        "no answer within {}s (lms.{}.timeout_secs)",
                        timeout.as_secs(),
                        rc.role
                    ))),
                    false,
                ),
            };
            if result.is_ok() && !hedged {
                rc.latencies.record(started.elapsed());
                rc.endpoint_latencies.record(started.elapsed());
            }
            if let Some(place) = place {
                // A hedged answer's latency says nothing about the server's queue.
                let signal = if hedged && result.is_ok() {
                    Signal::Other
                } else {
                    signal(&result, place.started().elapsed())
                };
                place.finish(signal);
            }
            match result {
                Ok(c) => return Ok(c),
                Err(CallError::Fatal(m)) => return Err((m, true)),
                Err(CallError::Retryable {
                    message,
                    retry_after,
                    overloaded,
                }) => {
                    last = message;
                    if attempt + 1 < attempts {
                        self.budget.record(rc.role, Event::Retry);
                        // Backing off is for a server that has too much to do.
                        // A failure that says nothing about load (a 500, a
                        // garbled body, a dropped connection), or a refusal
                        // while the endpoint answers most requests, is retried
                        // at once and briefly: a whole batch of trials waits
                        // on its slowest call.
                        let busy = overloaded
                            && rc
                                .gate
                                .as_ref()
                                .is_none_or(|g| g.overload_share() >= BUSY_SHARE);
                        let quick = !busy && retry_after.is_none();
                        let wait = if quick {
                            backoff(attempt, QUICK_RETRY, QUICK_RETRY_CAP, None)
                        } else {
                            backoff(attempt, base, BACKOFF_CAP, retry_after)
                        };
                        // A role with rpm/tpm limits counts each attempt anew.
                        if quick && rc.cfg.rpm.is_none() && rc.cfg.tpm.is_none() {
                            held = Some(permit);
                        } else {
                            drop(permit);
                        }
                        tracing::info!(
                            "{} LM {}: {} (attempt {}/{attempts}); retrying in {:.1}s",
                            rc.role,
                            rc.lm.label(),
                            redact(&last),
                            attempt + 1,
                            wait.as_secs_f64()
                        );
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        Err((format!("{last} (gave up after {attempts} attempts)"), false))
    }

    /// One attempt. When it has not answered after `hedge_after`, an
    /// identical request goes beside it, and another after as long again
    /// (at most [`MAX_HEDGES`] out at once beside the first); a request that
    /// fails while others are still out is replaced at once, and one left
    /// unanswered for [`STALE_HEDGE_DELAYS`] hedge delays no longer counts
    /// as out (a hung connection would otherwise hold the attempt until its
    /// timeout). The first answer is used and the others are cancelled.
    /// Hedges use the first request's place in the gate: a hung connection
    /// holds no capacity the server still gives it. Returns whether a hedge
    /// was sent.
    async fn attempt(
        &self,
        rc: &RoleClient,
        req: &LmRequest,
        hedging: bool,
    ) -> (Result<Completion, CallError>, bool) {
        use futures::StreamExt;
        if !hedging {
            return (rc.lm.complete(req).await, false);
        }
        let mut out = futures::stream::FuturesUnordered::new();
        let mut sent = Sent::default();
        let send = |sent: &mut Sent| {
            let id = sent.push(tokio::time::Instant::now());
            let call = rc.lm.complete(req);
            async move { (id, call.await) }
        };
        out.push(send(&mut sent));
        let mut last = tokio::time::Instant::now();
        loop {
            // The delay is read again while waiting: a run's first requests
            // go out before any answer has said what latency is usual, and
            // one of them that hangs must not wait out its timeout.
            let after = hedge_delay(rc);
            let stale = after.map(|a| a * STALE_HEDGE_DELAYS);
            let now = tokio::time::Instant::now();
            // A failed request is gone: replacing it adds no load, so only
            // the requests out at once are capped (the first and
            // MAX_HEDGES more), and all of them together by MAX_SENT.
            let more = sent.count() < MAX_SENT as usize;
            let room = more && sent.young(now, stale) <= MAX_HEDGES as usize;
            let wake = if room {
                last + after.unwrap_or(HEDGE_RECHECK)
            } else {
                sent.next_stale(now, stale).unwrap_or(now + HEDGE_RECHECK)
            };
            tokio::select! {
                Some((id, r)) = out.next() => {
                    sent.done(id);
                    match r {
                        Ok(c) => return (Ok(c), sent.count() > 1),
                        // The first request failed before it was late: the
                        // ordinary retry path (with its backoff) takes over.
                        Err(e) if sent.count() == 1 => return (Err(e), false),
                        Err(_) if room => {
                            self.budget.record(rc.role, Event::Hedge);
                            out.push(send(&mut sent));
                        }
                        Err(e) if out.is_empty() => return (Err(e), true),
                        // Others are still out: wait for them.
                        Err(_) => {}
                    }
                },
                _ = tokio::time::sleep_until(wake), if more => {
                    let now = tokio::time::Instant::now();
                    let late = after.is_some_and(|a| now >= last + a);
                    if late && sent.young(now, stale) <= MAX_HEDGES as usize {
                        self.budget.record(rc.role, Event::Hedge);
                        out.push(send(&mut sent));
                        last = now;
                    } else if after.is_none() {
                        last = now;
                    }
                }
            }
        }
    }

    /// Records how reading an answer of `role` went (for parse rates).
    pub fn record_parse(&self, role: Role, event: Event) {
        self.budget.record(role, event);
    }

    /// The current in-flight limit of each endpoint (by its redacted name),
    /// as adapted so far.
    pub fn in_flight_limits(&self) -> Vec<(String, u32)> {
        let mut seen: Vec<(String, u32)> = Vec::new();
        for rc in &self.roles {
            if let Some(g) = &rc.gate {
                let name = crate::lm::safe_url(&endpoint(rc.role, &rc.cfg));
                if !seen.iter().any(|(n, _)| *n == name) {
                    seen.push((name, g.limit()));
                }
            }
        }
        seen
    }

    /// Requests sent to a model and not answered yet.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the budget caps calls, tokens or dollars (see
    /// [`Budget::spend_capped`]).
    pub fn spend_capped(&self) -> bool {
        self.budget.spend_capped()
    }

    /// Usage so far, per role and in total.
    pub fn usage(&self) -> Usage {
        self.budget.usage()
    }

    /// The roles served by the offline simulator that answered at least one
    /// request (a call or a cache hit) so far: what makes a result simulated.
    /// A configured `sim` role that was never asked does not.
    pub fn simulated_roles(&self) -> Vec<Role> {
        let usage = self.usage();
        Role::ALL
            .into_iter()
            .filter(|r| {
                usage
                    .roles
                    .get(&r.to_string())
                    .is_some_and(|u| u.lm.starts_with("sim:") && u.calls + u.cache_hits > 0)
            })
            .collect()
    }

    /// Why the budget is exhausted, if it is.
    pub fn budget_exhausted(&self) -> Option<String> {
        self.budget.exhausted()
    }

    /// The cache, if one is in use.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_deref()
    }
}
