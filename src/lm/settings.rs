//! The LM settings of `promptc.yaml` (`lms`, `prices`, `budget`, `limits`,
//! `cache`): the LM layer owns them, and the config embeds them, so that this
//! layer never imports the config.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::lm::spec::{Provider, Role};

/// What an [`crate::lm::LmClient`] is built from.
#[derive(Debug, Clone)]
pub struct LmSetup<'a> {
    /// The LM per role.
    pub lms: &'a Lms,
    /// Prices by `provider:model`.
    pub prices: &'a IndexMap<String, Price>,
    /// Hard caps.
    pub budget: &'a BudgetConfig,
    /// Limits shared by the roles.
    pub limits: &'a LimitsConfig,
    /// How the cache is used.
    pub cache_mode: CacheMode,
    /// The cache file, resolved.
    pub cache_path: PathBuf,
    /// Batch pricing for the calls that can wait.
    pub batch: &'a BatchConfig,
}

/// Anything an LM client can be built from (the config).
pub trait AsLmSetup {
    /// The LM settings.
    fn lm_setup(&self) -> LmSetup<'_>;
}

impl AsLmSetup for LmSetup<'_> {
    fn lm_setup(&self) -> LmSetup<'_> {
        self.clone()
    }
}

/// The LM per role.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Lms {
    /// Runs the program.
    pub task: LmConfig,
    /// Scores judge dimensions.
    pub judge: LmConfig,
    /// Proposes instructions.
    pub proposer: LmConfig,
}

impl Default for Lms {
    fn default() -> Self {
        Lms {
            task: LmConfig::sim(),
            judge: LmConfig::sim(),
            proposer: LmConfig::sim(),
        }
    }
}

impl Lms {
    /// The config of one role.
    pub fn get(&self, role: Role) -> &LmConfig {
        match role {
            Role::Task => &self.task,
            Role::Judge => &self.judge,
            Role::Proposer => &self.proposer,
        }
    }

    /// The config of one role, to change.
    pub fn get_mut(&mut self, role: Role) -> &mut LmConfig {
        match role {
            Role::Task => &mut self.task,
            Role::Judge => &mut self.judge,
            Role::Proposer => &mut self.proposer,
        }
    }
}

/// One role's LM: provider, model, endpoint and limits.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LmConfig {
    /// The API.
    pub provider: Provider,
    /// The model name.
    pub model: String,
    /// Base URL (openai, anthropic, bridge); provider default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The program to run (command provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// The environment variable holding the API key (the key itself never goes in a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Calls in flight at once for this role.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
    /// Sampling temperature (default: 0 for task and judge, 0.7 for the proposer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Completion length cap (default: 512 for the judge, the provider's otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Base seed sent to providers that take one (OpenAI-compatible); each
    /// sample and re-ask adds its index (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Per-call timeout.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// The longest the server may stay silent: before its answer begins, or
    /// between parts of it (unset: only `timeout_secs`). A server answers a
    /// request that is not streamed once the model has finished, so this
    /// must allow for the longest generation; it is for a server that
    /// accepts requests and sometimes never answers them, where waiting out
    /// `timeout_secs` would hold up a whole batch of trials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_timeout_secs: Option<u64>,
    /// Retries after the first attempt.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First backoff between attempts, doubled each retry (with jitter) up to 30 s;
    /// a Retry-After from the server wins.
    #[serde(default = "default_backoff")]
    pub retry_backoff_ms: u64,
}

fn default_concurrency() -> u32 {
    8
}
fn default_timeout() -> u64 {
    120
}
fn default_retries() -> u32 {
    4
}
fn default_backoff() -> u64 {
    500
}

/// How long a provider waits for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For the whole call.
    pub total: Duration,
    /// For the server to say something (before its answer begins, or
    /// between parts of it), if limited apart from the total.
    pub read: Option<Duration>,
}

impl From<Duration> for Timeouts {
    /// The total timeout alone.
    fn from(total: Duration) -> Timeouts {
        Timeouts { total, read: None }
    }
}

impl LmConfig {
    /// The timeouts of a call.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            total: Duration::from_secs(self.timeout_secs.max(1)),
            read: self
                .read_timeout_secs
                .map(|s| Duration::from_secs(s.max(1))),
        }
    }

    /// The offline simulator with default limits.
    pub fn sim() -> LmConfig {
        LmConfig {
            provider: Provider::Sim,
            model: "sim".into(),
            base_url: None,
            program: None,
            api_key_env: None,
            concurrency: default_concurrency(),
            rpm: None,
            tpm: None,
            temperature: None,
            max_tokens: None,
            seed: None,
            timeout_secs: default_timeout(),
            read_timeout_secs: None,
            max_retries: default_retries(),
            retry_backoff_ms: default_backoff(),
        }
    }

    /// `provider:model`, as reports and provenance name an LM.
    pub fn label(&self) -> String {
        format!("{}:{}", self.provider, self.model)
    }
}

/// A model's price per million tokens, in US dollars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Dollars per million input tokens.
    pub input_per_mtok: f64,
    /// Dollars per million output tokens.
    pub output_per_mtok: f64,
    /// Dollars per million input tokens read from the provider's prompt
    /// cache (OpenAI and Anthropic bill them at a fraction of the input
    /// price). Absent: billed as ordinary input, so a cost is never understated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_mtok: Option<f64>,
    /// Dollars per million input tokens written to the provider's prompt
    /// cache (Anthropic bills them above the input price). Absent: the input price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_per_mtok: Option<f64>,
    /// The share taken off every token price for calls sent through the
    /// provider's batch API (`0.5`: half price, what OpenAI and Anthropic
    /// charge today). Absent: 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_discount: Option<f64>,
}

/// The token counts of some calls, split the way providers bill them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tokens {
    /// Every prompt token (cached, written and plain).
    pub input: u64,
    /// Prompt tokens read from the provider's cache.
    pub cached_input: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_write: u64,
    /// Completion tokens.
    pub output: u64,
}

impl Price {
    /// The price of a model that costs nothing (the simulator).
    pub const FREE: Price = Price {
        input_per_mtok: 0.0,
        output_per_mtok: 0.0,
        cached_input_per_mtok: None,
        cache_write_per_mtok: None,
        batch_discount: None,
    };

    /// The batch discount when the config names none.
    pub const DEFAULT_BATCH_DISCOUNT: f64 = 0.5;

    /// Dollars for these tokens, live or through the batch API.
    pub fn cost(&self, t: Tokens, batched: bool) -> f64 {
        let cached = t.cached_input.min(t.input);
        let written = t.cache_write.min(t.input - cached);
        let plain = t.input - cached - written;
        let dollars = plain as f64 * self.input_per_mtok
            + cached as f64 * self.cached_input_per_mtok.unwrap_or(self.input_per_mtok)
            + written as f64 * self.cache_write_per_mtok.unwrap_or(self.input_per_mtok)
            + t.output as f64 * self.output_per_mtok;
        let share = if batched {
            1.0 - self.batch_discount.unwrap_or(Self::DEFAULT_BATCH_DISCOUNT)
        } else {
            1.0
        };
        dollars * share / 1e6
    }
}

/// Hard caps; a run that reaches one stops scheduling work and reports what it did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// LM calls (cache hits are free).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u64>,
    /// Input plus output tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// US dollars (needs prices for every model used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    /// Wall-clock minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_wall_minutes: Option<f64>,
}

/// Limits shared by the roles.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// LM requests in flight at once across all roles that use one endpoint
    /// (a provider and base URL, or a program), beside each role's
    /// `concurrency`. A real API key has one rate limit, and a local server
    /// has few slots: `1` for a one-slot llama.cpp server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
}

/// Batch pricing: the calls of an A/B or an evaluation sent through the
/// provider's batch API (OpenAI Batch API, Anthropic Message Batches) at a
/// discount, for runs that can wait for them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Send `ab`'s, `eval`'s and `ci`'s A/B calls as batches (`--batch`).
    /// Roles whose provider has no batch API are asked live.
    pub enabled: bool,
    /// Seconds between the first polls of a pending batch; doubled after
    /// each poll up to `max_poll_secs`.
    pub poll_secs: f64,
    /// The longest wait between polls, in seconds.
    pub max_poll_secs: f64,
    /// Minutes after its submission at which a batch that has not ended is
    /// cancelled and its requests are asked live (providers allow 24 hours).
    pub deadline_minutes: f64,
    /// Milliseconds without a new request after which the gathered requests
    /// go out as one batch.
    pub gather_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            enabled: false,
            poll_secs: 10.0,
            max_poll_secs: 300.0,
            deadline_minutes: 120.0,
            gather_ms: 300,
        }
    }
}

/// The LM response cache.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// The cache database file.
    pub path: PathBuf,
    /// How the cache is used.
    pub mode: CacheMode,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            path: PathBuf::from(".promptc/cache.sqlite"),
            mode: CacheMode::ReadWrite,
        }
    }
}

/// How the LM cache is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CacheMode {
    /// Read hits, write misses.
    ReadWrite,
    /// Read hits, never write.
    ReadOnly,
    /// No cache.
    Off,
    /// Read hits; a miss is an error (no LM call is made).
    Offline,
}
