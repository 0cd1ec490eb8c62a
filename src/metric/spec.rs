//! The metric file (YAML) as typed values, and its checks.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::yamlerr::{self, YamlError};

/// The trace-derived dimensions promptc computes from an example itself.
pub const TRACE_DIMENSIONS: [&str; 2] = ["move_repetition", "speaker_diversity"];
/// The built-in non-LM dimensions.
pub const BUILTIN_DIMENSIONS: [&str; 5] = [
    "exact_match",
    "regex",
    "json_valid",
    "enum_valid",
    "length_band",
];

/// The largest weight a dimension may have (weights are relative).
pub const MAX_WEIGHT: f64 = 1e6;
/// The largest judge template promptc reads.
pub const MAX_TEMPLATE_BYTES: u64 = 1 << 20;
/// The most judge samples averaged per dimension.
pub const MAX_JUDGE_SAMPLES: u32 = 16;
/// The longest look-back of a trace dimension, in turns.
pub const MAX_WINDOW: usize = 10_000;

/// A metric file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// The scale scores are reported on; promptc reports on 0..100.
    #[serde(default = "hundred")]
    pub scale: f64,
    /// How judge dimensions are asked.
    #[serde(default)]
    pub judge: JudgeSettings,
    /// The dimensions, by name.
    pub dimensions: IndexMap<String, DimensionSpec>,
}

fn hundred() -> f64 {
    100.0
}

/// How judges are called.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct JudgeSettings {
    /// `separate`: one call per judge dimension; `combined`: one call per example.
    pub mode: JudgeMode,
    /// Judge samples averaged per dimension.
    pub samples: u32,
}

impl Default for JudgeSettings {
    fn default() -> Self {
        JudgeSettings {
            mode: JudgeMode::Separate,
            samples: 1,
        }
    }
}

/// One judge call per dimension, or one for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JudgeMode {
    /// One call per judge dimension.
    Separate,
    /// All judge dimensions in one call.
    Combined,
}

/// One dimension: exactly one of `judge`, `trace` or `builtin`, plus its settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DimensionSpec {
    /// A judge prompt template (path relative to the metric file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<PathBuf>,
    /// A trace-derived dimension (`move_repetition`, `speaker_diversity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// A built-in check (`exact_match`, `regex`, `json_valid`, `enum_valid`, `length_band`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// Relative weight; weights are normalised to sum to 1.
    pub weight: f64,
    /// Score as 1 - value (for penalties).
    #[serde(default)]
    pub invert: bool,
    /// Turns looked back over (trace dimensions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// The output field a built-in checks (trace dimensions: the move field;
    /// default: the first output with an enum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Trace dimensions: the input holding the prior turns, a list of objects
    /// with `speaker` and `move` (default `prior_turns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns_field: Option<String>,
    /// The pattern of `regex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Lower bound of `length_band`, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_chars: Option<usize>,
    /// Upper bound of `length_band`, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
    /// A rating people gave the logged answers (the traces' `feedback.<name>`:
    /// thumbs, a score, a label): new answers are rewarded for agreeing with
    /// liked answers and for differing from disliked ones. Turns without the
    /// rating leave this dimension out of their score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// The scale of a numeric `feedback` rating, `[worst, best]` (default `[0, 1]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
}

/// What kind of dimension a spec is.
#[derive(Debug, Clone, PartialEq)]
pub enum DimensionKind {
    /// LM-judged with this template file.
    Judge(PathBuf),
    /// Trace-derived.
    Trace(String),
    /// A built-in check.
    Builtin(String),
    /// People's rating of the logged answer, by its name.
    Feedback(String),
}

impl DimensionSpec {
    /// The kind, if exactly one is set.
    pub fn kind(&self) -> Option<DimensionKind> {
        match (&self.judge, &self.trace, &self.builtin, &self.feedback) {
            (Some(j), None, None, None) => Some(DimensionKind::Judge(j.clone())),
            (None, Some(t), None, None) => Some(DimensionKind::Trace(t.clone())),
            (None, None, Some(b), None) => Some(DimensionKind::Builtin(b.clone())),
            (None, None, None, Some(f)) => Some(DimensionKind::Feedback(f.clone())),
            _ => None,
        }
    }
}

/// A metric file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    /// The file could not be read.
    #[error("{}: cannot read metric: {source}", path.display())]
    Io {
        /// The metric file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The YAML did not fit.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// A rule is broken.
    #[error("{}{}: {key}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The metric file.
        path: PathBuf,
        /// The key path.
        key: String,
        /// The line, when found.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

impl MetricSpec {
    /// Reads and checks a metric file, including that judge templates exist and compile.
    pub fn load(path: &Path) -> Result<MetricSpec, MetricError> {
        let src = crate::files::read_text(path, yamlerr::MAX_YAML_BYTES).map_err(|e| {
            MetricError::Io {
                path: path.to_path_buf(),
                source: e.source,
            }
        })?;
        let spec: MetricSpec = yamlerr::from_str(path, &src)?;
        let base = path.parent().unwrap_or(Path::new("."));
        spec.validate(base)
            .map_err(|(key, message)| MetricError::Invalid {
                path: path.to_path_buf(),
                line: yamlerr::locate_nearest(&src, &key),
                key,
                message,
            })?;
        Ok(spec)
    }

    fn validate(&self, base: &Path) -> Result<(), (String, String)> {
        if self.scale != 100.0 {
            return Err((
                "scale".into(),
                "promptc scores on 0..100; set scale: 100".into(),
            ));
        }
        if !(1..=MAX_JUDGE_SAMPLES).contains(&self.judge.samples) {
            return Err((
                "judge.samples".into(),
                format!("{} is outside 1..={MAX_JUDGE_SAMPLES}", self.judge.samples),
            ));
        }
        if self.dimensions.is_empty() {
            return Err(("dimensions".into(), "name at least one dimension".into()));
        }
        for (name, d) in &self.dimensions {
            let key = format!("dimensions.{name}");
            // Bounded above so that the sum of weights stays finite.
            if !(d.weight.is_finite() && d.weight > 0.0 && d.weight <= MAX_WEIGHT) {
                return Err((
                    format!("{key}.weight"),
                    format!(
                        "{} is not a positive weight up to {}",
                        yamlerr::show_number(d.weight),
                        yamlerr::show_number(MAX_WEIGHT)
                    ),
                ));
            }
            if d.window.is_some_and(|w| w > MAX_WINDOW) {
                return Err((
                    format!("{key}.window"),
                    format!("must be at most {MAX_WINDOW}"),
                ));
            }
            match d.kind() {
                None => {
                    return Err((
                        key,
                        "set exactly one of `judge`, `trace`, `builtin` or `feedback`".into(),
                    ));
                }
                Some(DimensionKind::Feedback(name)) => {
                    if name.trim().is_empty() {
                        return Err((
                            format!("{key}.feedback"),
                            "name the rating (the traces' `feedback.<name>`)".into(),
                        ));
                    }
                    if let Some([lo, hi]) = d.range
                        && !(lo.is_finite() && hi.is_finite() && lo < hi)
                    {
                        return Err((
                            format!("{key}.range"),
                            "must be [worst, best] with worst < best".into(),
                        ));
                    }
                }
                Some(DimensionKind::Judge(p)) => {
                    let full = base.join(&p);
                    let text = crate::files::read_text(&full, MAX_TEMPLATE_BYTES)
                        .map_err(|e| (format!("{key}.judge"), e.to_string()))?;
                    let mut env = minijinja::Environment::new();
                    env.add_template("judge", &text).map_err(|e| {
                        (
                            format!("{key}.judge"),
                            format!("{} does not compile: {e}", full.display()),
                        )
                    })?;
                }
                Some(DimensionKind::Trace(t)) => {
                    if !TRACE_DIMENSIONS.contains(&t.as_str()) {
                        let hint = yamlerr::suggest(&t, TRACE_DIMENSIONS)
                            .map(|s| format!("; did you mean `{s}`?"))
                            .unwrap_or_default();
                        return Err((
                            format!("{key}.trace"),
                            format!(
                                "unknown trace dimension `{t}` (known: {}){hint}",
                                TRACE_DIMENSIONS.join(", ")
                            ),
                        ));
                    }
                    if d.window == Some(0) {
                        return Err((format!("{key}.window"), "must be at least 1".into()));
                    }
                }
                Some(DimensionKind::Builtin(b)) => {
                    if !BUILTIN_DIMENSIONS.contains(&b.as_str()) {
                        let hint = yamlerr::suggest(&b, BUILTIN_DIMENSIONS)
                            .map(|s| format!("; did you mean `{s}`?"))
                            .unwrap_or_default();
                        return Err((
                            format!("{key}.builtin"),
                            format!(
                                "unknown built-in `{b}` (known: {}){hint}",
                                BUILTIN_DIMENSIONS.join(", ")
                            ),
                        ));
                    }
                    if b != "json_valid" && b != "enum_valid" && d.field.is_none() {
                        return Err((
                            format!("{key}.field"),
                            format!("`{b}` needs the output `field` it checks"),
                        ));
                    }
                    if b == "regex" && d.pattern.is_none() {
                        return Err((format!("{key}.pattern"), "`regex` needs a `pattern`".into()));
                    }
                    if b == "length_band" && d.min_chars.is_none() && d.max_chars.is_none() {
                        return Err((
                            key,
                            "`length_band` needs `min_chars` and/or `max_chars`".into(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Weights normalised to sum to 1, in file order.
    pub fn normalized_weights(&self) -> Vec<(&str, f64)> {
        let total: f64 = self.dimensions.values().map(|d| d.weight).sum();
        self.dimensions
            .iter()
            .map(|(n, d)| (n.as_str(), d.weight / total))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(src: &str) -> Result<MetricSpec, MetricError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.yaml");
        std::fs::write(&p, src).unwrap();
        MetricSpec::load(&p)
    }

    #[test]
    fn weights_that_would_overflow_the_sum_are_refused_with_their_key() {
        let err = load("dimensions:\n  a: {builtin: json_valid, weight: 1e308}\n  b: {builtin: json_valid, weight: 1e308}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2: dimensions.a.weight: "), "{err}");
        for bad in [".nan", "-1", "0", ".inf"] {
            let err = load(&format!(
                "dimensions:\n  a: {{builtin: json_valid, weight: {bad}}}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(err.contains("dimensions.a.weight"), "{bad}: {err}");
        }
        let err = load(
            "judge: {samples: 4294967295}\ndimensions:\n  a: {builtin: json_valid, weight: 1}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(":1: judge.samples: "), "{err}");
        let ok = load("dimensions:\n  a: {builtin: json_valid, weight: 1000000}\n  b: {builtin: json_valid, weight: 1000000}\n").unwrap();
        let w = ok.normalized_weights();
        assert_eq!(w, vec![("a", 0.5), ("b", 0.5)]);
    }
}
