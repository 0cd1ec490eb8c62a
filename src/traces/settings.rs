//! How trace files are read, gated and split (`traces`, `gate`, `split` in
//! `promptc.yaml`): owned by the trace layer, embedded by the config.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How trace lines are read and mapped onto the trace fields.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSettings {
    /// JSON pointers to each field, for logs that do not use promptc's own shape.
    pub fields: FieldMap,
    /// Longer lines are reported as bad and skipped without being read into memory.
    pub max_line_bytes: usize,
    /// Any bad line fails the run.
    pub strict: bool,
    /// The files' format: `promptc` (this line format, the default) or
    /// another tool's export, read in place (`otel`, `openinference`,
    /// `langsmith`, `langfuse`, `openai`; `promptc traces import` converts).
    pub format: TraceFormat,
    /// How another tool's records are matched to the signature and where the
    /// workspace is (formats other than `promptc`).
    #[serde(alias = "otel")]
    pub source: SourceSettings,
}

/// Which records of another tool's export are the signature's calls, and
/// where the workspace is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SourceSettings {
    /// The attribute (`otel`) or metadata key (the other formats) whose value
    /// is the signature's name on its calls. Default: `gen_ai.prompt.name`
    /// for `otel`, `prompt` for the others. A record named after the
    /// signature (span, run or observation name, Langfuse `promptName`)
    /// counts too.
    #[serde(alias = "select_attribute", skip_serializing_if = "Option::is_none")]
    pub select_key: Option<String>,
    /// The attribute or metadata key that names the workspace.
    #[serde(alias = "workspace_attribute")]
    pub workspace_key: String,
}

impl Default for SourceSettings {
    fn default() -> Self {
        SourceSettings {
            select_key: None,
            workspace_key: "workspace".into(),
        }
    }
}

impl SourceSettings {
    /// The key that selects the signature's calls in `format`.
    pub fn select_key(&self, format: TraceFormat) -> &str {
        match (&self.select_key, format) {
            (Some(k), _) => k,
            (None, TraceFormat::Otel) => "gen_ai.prompt.name",
            (None, _) => "prompt",
        }
    }
}

/// The trace files' format.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    /// promptc's own line format (with `fields` pointers).
    #[default]
    Promptc,
    /// OTLP/JSON export requests, one per line, of OpenTelemetry GenAI spans.
    Otel,
    /// OTLP/JSON export requests of OpenInference spans (Arize Phoenix).
    Openinference,
    /// LangSmith runs, one JSON object per line.
    Langsmith,
    /// Langfuse traces with their observations and scores, one per line.
    Langfuse,
    /// OpenAI chat completions: `{request, response}` log lines or stored completions.
    Openai,
}

impl TraceFormat {
    /// The name used in the config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Promptc => "promptc",
            TraceFormat::Otel => "otel",
            TraceFormat::Openinference => "openinference",
            TraceFormat::Langsmith => "langsmith",
            TraceFormat::Langfuse => "langfuse",
            TraceFormat::Openai => "openai",
        }
    }
}

impl Default for TraceSettings {
    fn default() -> Self {
        TraceSettings {
            fields: FieldMap::default(),
            max_line_bytes: 1 << 20,
            strict: false,
            format: TraceFormat::Promptc,
            source: SourceSettings::default(),
        }
    }
}

/// JSON pointers (RFC 6901) from a trace line to each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FieldMap {
    /// The line's id (default: sha256 of the line's canonical JSON).
    pub id: String,
    /// The signature name.
    pub signature: String,
    /// The conversation thread.
    pub thread: String,
    /// The tenant or workspace.
    pub workspace: String,
    /// RFC 3339 timestamp of the call.
    pub ts: String,
    /// The pack version that produced the call.
    pub pack: String,
    /// The inputs object.
    pub inputs: String,
    /// The outputs object.
    pub outputs: String,
    /// `ok` or an error status.
    pub status: String,
    /// Ratings people gave the answer (`{"thumbs": 1}`), for `feedback` metric dimensions.
    pub feedback: String,
}

impl Default for FieldMap {
    fn default() -> Self {
        FieldMap {
            id: "/id".into(),
            signature: "/signature".into(),
            thread: "/thread".into(),
            workspace: "/workspace".into(),
            ts: "/ts".into(),
            pack: "/pack".into(),
            inputs: "/inputs".into(),
            outputs: "/outputs".into(),
            status: "/status".into(),
            feedback: "/feedback".into(),
        }
    }
}

impl FieldMap {
    /// The fields as (name, pointer) pairs.
    pub fn entries(&self) -> [(&'static str, &str); 10] {
        [
            ("id", &self.id),
            ("signature", &self.signature),
            ("thread", &self.thread),
            ("workspace", &self.workspace),
            ("ts", &self.ts),
            ("pack", &self.pack),
            ("inputs", &self.inputs),
            ("outputs", &self.outputs),
            ("status", &self.status),
            ("feedback", &self.feedback),
        ]
    }
}

/// The minimum data to optimize on.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// Distinct threads with at least one clean turn.
    pub min_threads: usize,
    /// Clean turns.
    pub min_clean_turns: usize,
    /// Distinct workspaces.
    pub min_workspaces: usize,
    /// Clean turns served by today's pack (its id in the traces' `pack`)
    /// before `ci` optimizes again, so the next candidate learns from how
    /// today's pack behaves (0: no such wait).
    pub min_turns_on_current_pack: usize,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            min_threads: 48,
            min_clean_turns: 400,
            min_workspaces: 3,
            min_turns_on_current_pack: 0,
        }
    }
}

/// How clean turns are split, thread by thread.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Seed of the thread shuffle.
    pub seed: u64,
    /// With no `train_cutoff` in the current pack: the newest fraction of threads held out.
    pub heldout_fraction: f64,
    /// With a cutoff: at most this fraction of all threads is held out (the newest fresh
    /// ones); older fresh threads join train/val, and the new pack's cutoff moves up to them.
    pub max_heldout_fraction: f64,
    /// The fraction of the remaining (older) threads used for validation.
    pub val_fraction: f64,
    /// Fewer held-out turns than this is an error: an A/B on less proves nothing.
    pub min_heldout_turns: usize,
    /// Cap on train turns (deterministic sample), to bound cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_train: Option<usize>,
    /// Cap on val turns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_val: Option<usize>,
    /// Cap on held-out turns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_heldout: Option<usize>,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            seed: 7,
            heldout_fraction: 0.2,
            max_heldout_fraction: 0.5,
            val_fraction: 0.5,
            min_heldout_turns: 40,
            max_train: None,
            max_val: None,
            max_heldout: None,
        }
    }
}
