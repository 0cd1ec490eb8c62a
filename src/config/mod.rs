//! `promptc.yaml`: every setting of a run, typed.
//!
//! Relative paths resolve from the config file's folder, so a config works the
//! same whether promptc runs from the repository root or from CI's workspace.
//! Unknown keys are errors (with the nearest known key suggested): a typo that
//! silently falls back to a default is the worst kind of config bug.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::lm::settings::{AsLmSetup, LmSetup};
pub use crate::lm::settings::{
    BatchConfig, BudgetConfig, CacheConfig, CacheMode, LimitsConfig, LmConfig, Lms, Price,
};
use crate::lm::spec::{LmOverride, Provider, Role};
pub use crate::traces::settings::{FieldMap, GateConfig, SplitConfig, TraceSettings};
use crate::yamlerr::{self, YamlError};

mod validate;
pub use validate::{
    MAX_BOOTSTRAP_RESAMPLES, MAX_CONCURRENCY, MAX_LINE_BYTES, MAX_RETRIES, MAX_TASK_SAMPLES,
    MAX_TIMEOUT_SECS, MAX_WALL_MINUTES, MIN_TPM,
};

/// The whole of `promptc.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Config format version; only `1` exists.
    #[serde(default = "one")]
    pub version: u32,
    /// The signatures promptc optimizes, by name.
    pub signatures: IndexMap<String, SignatureConfig>,
    /// How trace lines are read.
    #[serde(default)]
    pub traces: TraceSettings,
    /// The LM serving each role.
    #[serde(default)]
    pub lms: Lms,
    /// Prices per million tokens, keyed `provider:model`; a model with no entry has unknown cost.
    #[serde(default)]
    pub prices: IndexMap<String, Price>,
    /// Optimizer defaults.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Hard caps that stop a run cleanly.
    #[serde(default)]
    pub budget: BudgetConfig,
    /// When there is enough data to optimize at all.
    #[serde(default)]
    pub gate: GateConfig,
    /// How traces become train, val and held-out sets.
    #[serde(default)]
    pub split: SplitConfig,
    /// The A/B policy that turns a verdict into a decision.
    #[serde(default)]
    pub ab: AbConfig,
    /// How `realized` compares a deployed pack with the one it replaced.
    #[serde(default)]
    pub realized: RealizedConfig,
    /// The LM response cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// How evaluations run.
    #[serde(default)]
    pub eval: EvalConfig,
    /// Limits shared by every role.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Batch pricing for the calls that can wait.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Branches, labels and reviewers for the pull requests promptc opens.
    #[serde(default)]
    pub github: GithubConfig,
    /// The file this config was read from (not part of the file).
    #[serde(skip)]
    #[schemars(skip)]
    pub path: PathBuf,
}

fn one() -> u32 {
    1
}

/// One optimized signature and where its pieces live.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureConfig {
    /// The signature YAML.
    pub signature: PathBuf,
    /// The pack the application serves today (and promptc rewrites).
    pub pack: PathBuf,
    /// Glob patterns of the JSONL trace files.
    pub traces: Vec<String>,
    /// The format of this signature's trace files, when it differs from
    /// `traces.format` (one signature logged by the app, another exported
    /// from an observability tool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces_format: Option<crate::traces::settings::TraceFormat>,
    /// The metric YAML.
    pub metric: PathBuf,
    /// The input field that names the speaking persona, for per-persona stats and v3 packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona_field: Option<String>,
    /// The adapter new packs use (`sections` or `json`); default: the current pack's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<crate::adapter::Adapter>,
    /// A candidate the application serves to a share of threads before it
    /// is merged (picked by a stable hash of the thread id, as the runtimes'
    /// `choosePack` / `choose_pack` do); `realized` then compares the two as
    /// a randomized experiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
}

/// A candidate served to a share of threads.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// The candidate pack file.
    pub candidate: PathBuf,
    /// The share of threads that get it, strictly between 0 and 1.
    pub share: f64,
}

/// The optimizer and its settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// `mipro` or `gepa`.
    pub name: OptimizerName,
    /// Seed for every random choice of a run.
    pub seed: u64,
    /// Instruction candidates proposed (candidate 0 is the current pack's).
    pub num_candidates: u32,
    /// Search trials.
    pub num_trials: u32,
    /// Demo sets (including the zero-shot and labelled-only sets).
    pub num_demo_sets: u32,
    /// Val examples scored per trial: in a seeded order, the examples the
    /// trial's combination was not yet asked first, so a combination tried
    /// again is scored on more of val.
    pub minibatch_size: u32,
    /// A full val evaluation every this many trials, of the best combination
    /// by its trials' mean not yet evaluated fully. It is chosen from the
    /// trials scored when the trial that ends the period is proposed, and
    /// runs beside the trials after it; the last is chosen once every trial
    /// is scored.
    pub full_eval_every: u32,
    /// The most trials in flight at once (MIPRO): a trial is proposed as
    /// the earliest in flight is scored, counting those still in flight as
    /// already scored badly (a "constant liar") so they spread out, while
    /// the trials in flight ask at most four evaluations' worth of new
    /// questions between them. 1 is the one-at-a-time search. The result
    /// depends on this number, the seed and the scores, never on timing.
    pub parallel_trials: u32,
    /// Bootstrapped demos per set.
    pub max_bootstrapped_demos: u32,
    /// Labelled demos per set.
    pub max_labeled_demos: u32,
    /// promptc's own prompts replaced by packs of yours, by name
    /// (`summarize_dataset`, `propose_instruction`, `reflect`); paths are
    /// relative to this file. A replacement keeps the built-in's input and
    /// output fields (build one from `packs/src/<name>/`).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub prompts: IndexMap<String, PathBuf>,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            name: OptimizerName::Mipro,
            seed: 7,
            num_candidates: 10,
            num_trials: 25,
            num_demo_sets: 6,
            minibatch_size: 35,
            full_eval_every: 5,
            parallel_trials: 5,
            max_bootstrapped_demos: 4,
            max_labeled_demos: 4,
            prompts: IndexMap::new(),
        }
    }
}

/// The optimizers promptc has.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerName {
    /// MIPROv2-style Bayesian search over instructions and demo sets.
    Mipro,
    /// GEPA-style reflective evolution of instructions.
    Gepa,
}

impl AsLmSetup for Config {
    fn lm_setup(&self) -> LmSetup<'_> {
        LmSetup {
            lms: &self.lms,
            prices: &self.prices,
            budget: &self.budget,
            limits: &self.limits,
            cache_mode: self.cache.mode,
            cache_path: self.resolve(&self.cache.path),
            batch: &self.batch,
        }
    }
}

/// The A/B decision policy.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AbConfig {
    /// Minimum mean lift (0..100 scale) to open a PR.
    pub min_lift: f64,
    /// Confidence level of the interval whose lower bound must clear `min_lift`.
    pub confidence: f64,
    /// Fewer held-out examples than this is a `skip`.
    pub min_heldout: usize,
    /// Open a draft PR when the mean lift is positive but the interval does not clear.
    pub draft_when_inconclusive: bool,
    /// Bootstrap resamples for the interval.
    pub bootstrap_resamples: u32,
    /// Seed of the bootstrap and permutation test.
    pub seed: u64,
    /// Dimensions that may not fall, each with its largest allowed drop in
    /// points (0..100): a candidate whose mean drop on one is larger is at
    /// most a draft, and a `skip` when the drop's interval lies wholly beyond
    /// it, however much the weighted mean rose.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub guards: IndexMap<String, f64>,
    /// Answers per held-out example and pack, averaged: more samples shrink
    /// the task's own sampling noise in the paired differences (at
    /// temperature 0 the samples mostly agree and buy little). 1..=16.
    pub task_samples: u32,
}

impl Default for AbConfig {
    fn default() -> Self {
        AbConfig {
            min_lift: 0.0,
            confidence: 0.95,
            min_heldout: 30,
            draft_when_inconclusive: false,
            bootstrap_resamples: 10_000,
            seed: 7,
            guards: IndexMap::new(),
            task_samples: 1,
        }
    }
}

/// How the realized lift of a deployed pack is measured.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RealizedConfig {
    /// What a stratum is: `workspace`, `persona`, or `inputs.<name>` (a
    /// top-level input, as text). Traffic is compared within strata and
    /// reweighted to the two packs' common mix.
    pub strata: Vec<String>,
    /// Fewer turns of the deployed pack than this is `too_little_traffic`.
    pub min_turns: usize,
    /// The interval half-width, in points, the "turns needed" figure aims for.
    pub precision: f64,
    /// At most this many turns per pack are scored, the most recent: every
    /// run rescores both packs' traffic (free from the cache once scored), and
    /// a large history should not cost a judge call per turn it ever logged.
    pub max_turns: usize,
}

impl Default for RealizedConfig {
    fn default() -> Self {
        RealizedConfig {
            strata: vec!["workspace".into(), "persona".into()],
            min_turns: 100,
            precision: 2.0,
            max_turns: 2000,
        }
    }
}

/// How evaluations run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Examples scored at once (each role's LM concurrency still applies).
    pub concurrency: usize,
    /// Examples whose LM calls may fail for good (after retries) before an
    /// evaluation aborts, at least; below the limit they are left out of the
    /// score and counted.
    pub max_errors: usize,
    /// The same limit as a share of the examples: an evaluation aborts when
    /// more than `max(max_errors, ceil(max_error_share × examples))` fail.
    pub max_error_share: f64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            concurrency: 16,
            max_errors: 2,
            max_error_share: 0.05,
        }
    }
}

/// Pull request settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GithubConfig {
    /// promptc's branches are `<prefix><signature>`.
    pub branch_prefix: String,
    /// Labels put on promptc's PRs.
    pub labels: Vec<String>,
    /// Users asked for review.
    pub reviewers: Vec<String>,
    /// When a PR is a draft.
    pub draft: DraftPolicy,
    /// Commit author name.
    pub author_name: String,
    /// Commit author email.
    pub author_email: String,
    /// Where the run report is committed beside the pack (none: not committed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_path: Option<PathBuf>,
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig {
            branch_prefix: "promptc/".into(),
            labels: vec!["promptc".into()],
            reviewers: Vec::new(),
            draft: DraftPolicy::Verdict,
            author_name: "github-actions[bot]".into(),
            author_email: "41898282+github-actions[bot]@users.noreply.github.com".into(),
            report_path: None,
        }
    }
}

/// When promptc's PR is opened as a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DraftPolicy {
    /// Draft when the A/B decision is `draft`.
    Verdict,
    /// Always a draft.
    Always,
    /// Never a draft.
    Never,
}

/// A config that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read config: {source}")]
    Io {
        /// The config file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The YAML did not fit the config's shape.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// A value parsed but breaks a rule.
    #[error("{}{}: {key}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The key path.
        key: String,
        /// 1-based line, when found.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// `--signature` named nothing configured, or was needed and missing.
    #[error("{0}")]
    Signature(String),
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let src = crate::files::read_text(path, yamlerr::MAX_YAML_BYTES).map_err(|e| {
            ConfigError::Io {
                path: path.to_path_buf(),
                source: e.source,
            }
        })?;
        Self::from_yaml(path, &src)
    }

    /// Parses and validates config text that was read from `path`.
    pub fn from_yaml(path: &Path, src: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = yamlerr::from_str(path, src)?;
        cfg.path = path.to_path_buf();
        if let Err((key, message)) = cfg.validate() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                line: yamlerr::locate_nearest(src, &key),
                key,
                message,
            });
        }
        Ok(cfg)
    }

    /// The folder relative paths resolve from.
    pub fn root(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// A config-relative path made usable from the current directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root().join(p)
        }
    }

    /// The signature `--signature` names, or the only one configured.
    pub fn select_signature(
        &self,
        name: Option<&str>,
    ) -> Result<(&str, &SignatureConfig), ConfigError> {
        match name {
            Some(n) => self
                .signatures
                .get_key_value(n)
                .map(|(k, v)| (k.as_str(), v))
                .ok_or_else(|| {
                    let known: Vec<&str> = self.signatures.keys().map(|s| s.as_str()).collect();
                    let hint = yamlerr::suggest(n, known.iter().copied())
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    ConfigError::Signature(format!(
                        "{}: no signature `{n}` is configured (known: {}){hint}",
                        self.path.display(),
                        known.join(", ")
                    ))
                }),
            None if self.signatures.len() == 1 => {
                let (k, v) = self
                    .signatures
                    .first()
                    .ok_or_else(|| ConfigError::Signature("no signature is configured".into()))?;
                Ok((k.as_str(), v))
            }
            None => Err(ConfigError::Signature(format!(
                "{} configures {} signatures ({}); choose one with --signature",
                self.path.display(),
                self.signatures.len(),
                self.signatures
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Applies `--lm-set ROLE.KEY=VALUE` and `--max-in-flight N`, then checks
    /// the result with the same ranges as the file.
    pub fn apply_run_settings(
        &mut self,
        settings: &[crate::lm::spec::LmSetting],
        max_in_flight: Option<u32>,
    ) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: self.path.clone(),
            key,
            line: None,
            message,
        };
        for s in settings {
            for &role in &s.roles {
                let key = format!("--lm-set {role}.{}", s.key);
                set_lm_value(self.lms.get_mut(role), &s.key, &s.value)
                    .map_err(|m| invalid(key.clone(), m))?;
            }
        }
        if max_in_flight.is_some() {
            self.limits.max_in_flight = max_in_flight;
        }
        self.validate()
            .map_err(|(key, message)| invalid(key, message))
    }

    /// Applies `--lm ROLE=SPEC` flags, keeping each role's limits.
    pub fn apply_lm_overrides(&mut self, overrides: &[LmOverride]) {
        for o in overrides {
            for &role in &o.roles {
                let lm = self.lms.get_mut(role);
                lm.provider = o.spec.provider;
                lm.model = o.spec.model.clone();
                lm.base_url = None;
                lm.program = None;
                match o.spec.provider {
                    Provider::Command => lm.program = o.spec.endpoint.clone(),
                    _ => lm.base_url = o.spec.endpoint.clone(),
                }
            }
        }
    }

    /// The trace files of a signature: every glob expanded, sorted, deduplicated.
    pub fn trace_files(&self, sig: &SignatureConfig) -> Result<Vec<PathBuf>, ConfigError> {
        Ok(self.trace_files_noted(sig)?.0)
    }

    /// [`Config::trace_files`], with a note for each glob that matches nothing
    /// and each match that is skipped (a directory, a FIFO, an unreadable entry).
    pub fn trace_files_noted(
        &self,
        sig: &SignatureConfig,
    ) -> Result<(Vec<PathBuf>, Vec<String>), ConfigError> {
        let patterns: Vec<(String, String)> = sig
            .traces
            .iter()
            .map(|p| {
                let full = self.resolve(Path::new(p)).to_string_lossy().into_owned();
                (p.clone(), full)
            })
            .collect();
        expand_globs(&patterns).map_err(|message| ConfigError::Invalid {
            path: self.path.clone(),
            key: "signatures.*.traces".into(),
            line: None,
            message,
        })
    }
}

/// Expands `(as written, as resolved)` glob patterns into regular files,
/// sorted and deduplicated, with a note for each pattern that matches nothing
/// and each match that is not a regular file.
pub fn expand_globs(patterns: &[(String, String)]) -> Result<(Vec<PathBuf>, Vec<String>), String> {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    for (shown, full) in patterns {
        let paths = glob::glob(full).map_err(|e| format!("`{shown}`: {e}"))?;
        let mut matched = 0usize;
        for p in paths {
            matched += 1;
            match p {
                Ok(p) => match std::fs::metadata(&p) {
                    Ok(m) if m.is_file() => files.push(p),
                    Ok(m) => notes.push(format!(
                        "{}: skipped: {}, not a trace file (matched by `{shown}`)",
                        p.display(),
                        if m.is_dir() {
                            "a directory"
                        } else {
                            "not a regular file"
                        }
                    )),
                    Err(e) => notes.push(format!("{}: skipped: {e}", p.display())),
                },
                Err(e) => notes.push(format!("`{shown}`: skipped {}", e)),
            }
        }
        if matched == 0 {
            notes.push(format!("`{shown}` matches no file"));
        }
    }
    files.sort();
    files.dedup();
    Ok((files, notes))
}

/// Sets one key of a role's LM config from text (a `--lm-set` value).
fn set_lm_value(lm: &mut LmConfig, key: &str, value: &str) -> Result<(), String> {
    fn num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
        v.parse()
            .map_err(|_| format!("`{v}` is not a valid number here"))
    }
    match key {
        "concurrency" => lm.concurrency = num(value)?,
        "timeout_secs" => lm.timeout_secs = num(value)?,
        "read_timeout_secs" => lm.read_timeout_secs = Some(num(value)?),
        "max_retries" => lm.max_retries = num(value)?,
        "retry_backoff_ms" => lm.retry_backoff_ms = num(value)?,
        "temperature" => lm.temperature = Some(num(value)?),
        "max_tokens" => lm.max_tokens = Some(num(value)?),
        "seed" => lm.seed = Some(num(value)?),
        "rpm" => lm.rpm = Some(num(value)?),
        "tpm" => lm.tpm = Some(num(value)?),
        other => return Err(format!("`{other}` cannot be set per run")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "signatures:\n  speak:\n    signature: s.yaml\n    pack: p.json\n    traces: ['t/*.jsonl']\n    metric: m.yaml\n";

    #[test]
    fn an_unknown_own_prompt_is_named_with_the_nearest_one() {
        let y = format!("{MIN}optimizer:\n  prompts:\n    propose_instructions: mine.json\n");
        let e = Config::from_yaml(Path::new("x/promptc.yaml"), &y)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("optimizer.prompts.propose_instructions")
                && e.contains("did you mean `propose_instruction`?"),
            "{e}"
        );
        let ok = format!("{MIN}optimizer:\n  prompts:\n    reflect: mine.json\n");
        let c = Config::from_yaml(Path::new("x/promptc.yaml"), &ok).unwrap();
        assert_eq!(c.optimizer.prompts["reflect"], PathBuf::from("mine.json"));
    }

    #[test]
    fn minimal_config_gets_the_documented_defaults() {
        let c = Config::from_yaml(Path::new("x/promptc.yaml"), MIN).unwrap();
        assert_eq!(c.gate.min_threads, 48);
        assert_eq!(c.gate.min_clean_turns, 400);
        assert_eq!(c.gate.min_workspaces, 3);
        assert_eq!(c.lms.task.provider, Provider::Sim);
        assert_eq!(c.resolve(Path::new("s.yaml")), Path::new("x/s.yaml"));
    }

    #[test]
    fn unknown_key_names_file_line_key_and_suggestion() {
        let src =
            format!("{MIN}lms:\n  task:\n    provider: openai\n    model: m\n    concurency: 4\n");
        let err = Config::from_yaml(Path::new("promptc.yaml"), &src)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("promptc.yaml:11: lms.task: unknown field `concurency`"),
            "{err}"
        );
        assert!(err.ends_with("did you mean `concurrency`?"), "{err}");
    }

    #[test]
    fn semantic_error_names_key_and_line() {
        let src = format!("{MIN}split:\n  val_fraction: 1.5\n");
        let err = Config::from_yaml(Path::new("c.yaml"), &src)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "c.yaml:8: split.val_fraction: 1.5 is not strictly between 0 and 1"
        );
    }

    #[test]
    fn every_outside_number_is_range_checked_with_its_key() {
        let cases = [
            (
                "lms:\n  task:\n    provider: sim\n    model: sim\n    timeout_secs: 18446744073709551615\n",
                "lms.task.timeout_secs",
            ),
            (
                "lms:\n  judge:\n    provider: sim\n    model: sim\n    max_retries: 4294967295\n",
                "lms.judge.max_retries",
            ),
            (
                "lms:\n  task:\n    provider: sim\n    model: sim\n    tpm: 1\n",
                "lms.task.tpm",
            ),
            (
                "lms:\n  task:\n    provider: sim\n    model: sim\n    tpm: 0\n",
                "lms.task.tpm",
            ),
            (
                "lms:\n  task:\n    provider: sim\n    model: sim\n    rpm: 0\n",
                "lms.task.rpm",
            ),
            (
                "lms:\n  task:\n    provider: sim\n    model: sim\n    concurrency: 100000\n",
                "lms.task.concurrency",
            ),
            (
                "ab:\n  bootstrap_resamples: 4294967295\n",
                "ab.bootstrap_resamples",
            ),
            ("ab:\n  min_lift: .nan\n", "ab.min_lift"),
            ("ab:\n  min_lift: .inf\n", "ab.min_lift"),
            ("ab:\n  confidence: .nan\n", "ab.confidence"),
            ("budget:\n  max_cost_usd: -1\n", "budget.max_cost_usd"),
            ("budget:\n  max_cost_usd: .nan\n", "budget.max_cost_usd"),
            (
                "budget:\n  max_wall_minutes: .inf\n",
                "budget.max_wall_minutes",
            ),
            ("budget:\n  max_calls: 0\n", "budget.max_calls"),
            (
                "split:\n  heldout_fraction: .nan\n",
                "split.heldout_fraction",
            ),
            ("eval:\n  concurrency: 0\n", "eval.concurrency"),
            (
                "optimizer:\n  num_trials: 4294967295\n",
                "optimizer.num_trials",
            ),
            (
                "traces:\n  max_line_bytes: 18446744073709551615\n",
                "traces.max_line_bytes",
            ),
            (
                "prices:\n  openai:m: {input_per_mtok: -1, output_per_mtok: 1}\n",
                "prices.openai:m.input_per_mtok",
            ),
        ];
        for (extra, key) in cases {
            let src = format!("{MIN}{extra}");
            let err = Config::from_yaml(Path::new("c.yaml"), &src)
                .expect_err(extra)
                .to_string();
            assert!(err.contains(&format!(": {key}: ")), "{extra} -> {err}");
        }
    }

    #[test]
    fn wrong_type_names_the_key() {
        let src = format!("{MIN}gate:\n  min_threads: lots\n");
        let err = Config::from_yaml(Path::new("c.yaml"), &src)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("c.yaml:8: gate.min_threads: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn lm_override_replaces_provider_and_keeps_limits() {
        let mut c = Config::from_yaml(Path::new("c.yaml"), MIN).unwrap();
        c.lms.judge.concurrency = 3;
        c.apply_lm_overrides(&["judge=openai:gpt-4o-mini@http://127.0.0.1:9/v1"
            .parse()
            .unwrap()]);
        assert_eq!(c.lms.judge.provider, Provider::Openai);
        assert_eq!(c.lms.judge.concurrency, 3);
        assert_eq!(
            c.lms.judge.base_url.as_deref(),
            Some("http://127.0.0.1:9/v1")
        );
        assert_eq!(c.lms.task.provider, Provider::Sim);
    }

    #[test]
    fn unknown_signature_suggests_the_nearest() {
        let c = Config::from_yaml(Path::new("c.yaml"), MIN).unwrap();
        let err = c.select_signature(Some("speek")).unwrap_err().to_string();
        assert!(err.contains("did you mean `speak`?"), "{err}");
    }
}
