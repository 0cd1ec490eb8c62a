//! What a run works in: the config with the command line's overrides, the
//! selected signature and its files, and the error kinds that decide an exit code.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::config::{Config, ConfigError, SignatureConfig};
use crate::lm::spec::LmOverride;
use crate::metric::spec::MetricError;
use crate::pack::PackError;
use crate::signature::{Signature, SignatureError};
use crate::traces::TraceError;
use crate::traces::split::SplitError;
use crate::yamlerr::YamlError;

/// What a command produced.
#[derive(Debug)]
pub struct Output {
    /// The JSON object printed with `--json`.
    pub json: Value,
    /// The text printed for a person.
    pub human: String,
    /// Exit code: 0 done, 1 runtime failure, 2 bad usage, config or input.
    pub exit: i32,
}

impl Output {
    /// A successful output.
    pub fn ok(json: impl Serialize, human: String) -> Output {
        Output {
            json: serde_json::to_value(json).unwrap_or(Value::Null),
            human,
            exit: 0,
        }
    }
}

/// The `lm` object of the JSON outputs: calls, cache hits, tokens, cost (null
/// when unknown, never 0), per role.
pub fn lm_json(u: &crate::lm::budget::Usage) -> Value {
    serde_json::json!({
        "calls": u.calls,
        "cache_hits": u.cache_hits,
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cached_input_tokens": u.cached_input_tokens,
        "batched_calls": u.batched_calls,
        "cost_usd": u.cost_usd,
        "roles": u.roles,
    })
}

/// Options every command takes.
#[derive(Debug, Clone, Default)]
pub struct Global {
    /// `--config`.
    pub config: PathBuf,
    /// `--signature`.
    pub signature: Option<String>,
    /// `--lm ROLE=SPEC`, in order.
    pub lm: Vec<LmOverride>,
    /// `--lm-set ROLE.KEY=VALUE`, in order (after `--lm`).
    pub lm_set: Vec<crate::lm::spec::LmSetting>,
    /// `--max-in-flight N`.
    pub max_in_flight: Option<u32>,
    /// `--batch`.
    pub batch: bool,
}

/// A usage problem found by a command (not by clap).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The config, the selected signature and its loaded contract.
pub struct Context {
    /// The config, with `--lm` applied.
    pub config: Config,
    /// The signature's name.
    pub name: String,
    /// Its config entry.
    pub sig_cfg: SignatureConfig,
    /// Its contract.
    pub signature: Signature,
    /// The trace files' format (the signature's `traces_format`, else `traces.format`).
    pub format: crate::traces::settings::TraceFormat,
    /// With another tool's format: how its records become trace lines.
    pub expand: Option<crate::formats::Reader>,
}

impl Context {
    /// The pack in production: the configured file, or, before the first pack
    /// exists, one derived from the signature (its description as the
    /// instructions, no demos, no cutoff), said in a warning.
    pub fn current_pack(&self) -> anyhow::Result<crate::pack::LoadedPack> {
        let path = self.resolve(&self.sig_cfg.pack);
        if path.exists() {
            return Ok(crate::pack::load(&path, Some(&self.signature))?);
        }
        let pack = crate::pack::Pack::first(
            self.signature.clone(),
            &crate::pack::first_instructions(&self.signature),
            format!("promptc {} (derived from the signature)", crate::VERSION),
        );
        let json = pack.to_json();
        use sha2::Digest;
        Ok(crate::pack::LoadedPack {
            pack,
            sha256: hex::encode(sha2::Sha256::digest(json.as_bytes())),
            warnings: vec![format!(
                "{}: no pack yet; starting from the signature's description (no demos, no training cutoff)",
                path.display()
            )],
            path,
            stale_rendered: false,
        })
    }

    /// Loads the config and the selected signature.
    pub fn load(g: &Global) -> anyhow::Result<Context> {
        let mut config = Config::load(&g.config)?;
        config.apply_lm_overrides(&g.lm);
        config.apply_run_settings(&g.lm_set, g.max_in_flight)?;
        config.batch.enabled |= g.batch;
        let (name, sig_cfg) = config.select_signature(g.signature.as_deref())?;
        let (name, sig_cfg) = (name.to_string(), sig_cfg.clone());
        let signature = Signature::load(&config.resolve(&sig_cfg.signature))?;
        if signature.name != name {
            return Err(ConfigError::Signature(format!(
                "{}: signatures.{name} points at {}, whose name is `{}`",
                config.path.display(),
                sig_cfg.signature.display(),
                signature.name
            ))
            .into());
        }
        if let Some(p) = &sig_cfg.persona_field
            && !signature.inputs.contains_key(p)
        {
            return Err(ConfigError::Signature(format!(
                "{}: signatures.{name}.persona_field: `{p}` is not an input of `{name}`",
                config.path.display()
            ))
            .into());
        }
        let format = sig_cfg.traces_format.unwrap_or(config.traces.format);
        let expand = crate::formats::Reader::new(format, &signature, &config.traces.source);
        Ok(Context {
            config,
            name,
            sig_cfg,
            signature,
            format,
            expand,
        })
    }

    /// Reads the trace files as `format` (`--format` on the trace commands).
    pub fn set_format(&mut self, format: crate::traces::settings::TraceFormat) {
        self.format = format;
        self.expand =
            crate::formats::Reader::new(format, &self.signature, &self.config.traces.source);
    }

    /// A config-relative path made usable from here.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        self.config.resolve(p)
    }

    /// Every clean turn of the signature in `files`.
    pub fn dataset(&self, files: &[PathBuf]) -> Result<crate::traces::Dataset, TraceError> {
        crate::traces::Dataset::load(
            files,
            &self.signature,
            &self.config.traces.fields,
            self.sig_cfg.persona_field.as_deref(),
            self.config.traces.max_line_bytes,
            self.expand
                .as_ref()
                .map(|x| x as &dyn crate::traces::Expand),
        )
    }

    /// What the statistics pass needs, with the current pack's cutoff.
    pub fn stats_input(
        &self,
        train_cutoff: Option<chrono::DateTime<chrono::Utc>>,
    ) -> crate::traces::stats::StatsInput<'_> {
        crate::traces::stats::StatsInput {
            signature: &self.signature,
            fields: &self.config.traces.fields,
            persona_field: self.sig_cfg.persona_field.as_deref(),
            max_line_bytes: self.config.traces.max_line_bytes,
            gate: &self.config.gate,
            split: &self.config.split,
            train_cutoff,
            expand: self
                .expand
                .as_ref()
                .map(|x| x as &dyn crate::traces::Expand),
        }
    }

    /// The signature's metric.
    pub fn metric(&self) -> Result<crate::metric::Metric, MetricError> {
        crate::metric::Metric::load(
            &self.resolve(&self.sig_cfg.metric),
            &self.signature,
            self.sig_cfg.persona_field.as_deref(),
        )
    }

    /// An evaluator with the config's concurrency and error tolerance.
    pub fn evaluator<'a>(
        &self,
        lm: &'a crate::lm::LmClient,
        metric: &'a crate::metric::Metric,
    ) -> crate::eval::Evaluator<'a> {
        crate::eval::Evaluator {
            lm,
            metric,
            // Batched calls wait for a whole batch: every example's request
            // must be in it, so none waits for a slot.
            concurrency: if lm.batching() {
                usize::MAX
            } else {
                self.config.eval.concurrency
            },
            max_errors: self.config.eval.max_errors,
            max_error_share: self.config.eval.max_error_share,
            task_samples: 1,
        }
    }

    /// The trace files: `--traces` globs when given, else the config's.
    pub fn trace_files(&self, override_globs: &[String]) -> anyhow::Result<Vec<PathBuf>> {
        let (files, notes) = self.trace_files_noted(override_globs)?;
        for n in notes {
            tracing::warn!("{n}");
        }
        Ok(files)
    }

    /// [`Context::trace_files`] with its notes (globs that match nothing,
    /// matches that are skipped) returned instead of logged.
    pub fn trace_files_noted(
        &self,
        override_globs: &[String],
    ) -> anyhow::Result<(Vec<PathBuf>, Vec<String>)> {
        let (files, notes) = if override_globs.is_empty() {
            self.config.trace_files_noted(&self.sig_cfg)?
        } else {
            let pairs: Vec<(String, String)> = override_globs
                .iter()
                .map(|g| (g.clone(), g.clone()))
                .collect();
            crate::config::expand_globs(&pairs).map_err(|e| UsageError(format!("--traces {e}")))?
        };
        if files.is_empty() {
            let patterns = if override_globs.is_empty() {
                self.sig_cfg.traces.join(", ")
            } else {
                override_globs.join(", ")
            };
            let skipped: String = notes.iter().map(|n| format!("; {n}")).collect();
            return Err(TraceError::NoFiles {
                patterns: format!(
                    "{patterns} (from {}){skipped}",
                    match self.config.root().display().to_string() {
                        r if r.is_empty() => ".".to_string(),
                        r => r,
                    }
                ),
            }
            .into());
        }
        Ok((files, notes))
    }
}

/// Exit code for an error: 2 when the input (flags, config, files) is at
/// fault, 1 for everything else.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.is::<UsageError>()
            || cause.is::<ConfigError>()
            || cause.is::<YamlError>()
            || cause.is::<SignatureError>()
            || cause.is::<PackError>()
            || cause.is::<MetricError>()
            || cause.is::<SplitError>()
            || cause.is::<crate::optimize::log::LogError>()
            || matches!(
                cause.downcast_ref::<crate::lm::LmError>(),
                Some(crate::lm::LmError::Setup(_))
            )
            || matches!(
                cause.downcast_ref::<crate::eval::EvalError>(),
                Some(crate::eval::EvalError::Empty)
            )
            || matches!(
                cause.downcast_ref::<crate::github::GithubError>(),
                Some(crate::github::GithubError::Setup(_))
            )
            || matches!(
                cause.downcast_ref::<crate::git::GitError>(),
                Some(crate::git::GitError::Open { .. } | crate::git::GitError::Rev { .. })
            )
        {
            return 2;
        }
        if let Some(t) = cause.downcast_ref::<TraceError>() {
            return match t {
                TraceError::Read(_) => 1,
                TraceError::Strict { .. } | TraceError::NoFiles { .. } => 2,
            };
        }
    }
    1
}
