//! The metric: judge dimensions, trace-derived dimensions and built-in checks,
//! combined into one weighted score on 0..100.

pub mod builtin;
pub mod feedback;
pub mod judge;
pub mod spec;
pub mod template_check;
pub mod trace_dims;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use indexmap::IndexMap;
use minijinja::Environment;
use serde::Serialize;
use serde_json::{Map, Value};

pub use spec::{DimensionKind, DimensionSpec, MetricSpec};

use crate::chat::{ChatRole, Message};
use crate::lm::{LmClient, LmError, LmRequest, Role};
use crate::signature::Signature;
use crate::traces::Turn;
use judge::{COMBINED_TEMPLATE, Verdict, parse_combined, parse_verdict};
use spec::{JudgeMode, MetricError};

/// How many times an unreadable judge answer is asked again.
const JUDGE_REASKS: u32 = 2;

#[derive(Debug, Clone)]
enum Kind {
    /// LM-judged with the template in this file.
    Judge(std::path::PathBuf),
    MoveRepetition {
        window: usize,
        turns_field: String,
        move_field: String,
    },
    SpeakerDiversity {
        window: usize,
        turns_field: String,
    },
    ExactMatch {
        field: String,
    },
    Regex {
        field: String,
        re: regex::Regex,
    },
    JsonValid {
        field: Option<String>,
    },
    EnumValid,
    LengthBand {
        field: String,
        min: Option<usize>,
        max: Option<usize>,
    },
    Feedback {
        name: String,
        range: [f64; 2],
    },
}

#[derive(Debug, Clone)]
struct Dim {
    name: String,
    kind: Kind,
    weight: f64,
    invert: bool,
}

/// A loaded metric, ready to score examples.
pub struct Metric {
    dims: Vec<Dim>,
    env: Environment<'static>,
    mode: JudgeMode,
    samples: u32,
    persona_field: Option<String>,
    signature: Signature,
    combined_fallbacks: AtomicUsize,
    /// Sum and count of the mean pairwise difference between the samples of
    /// one judge dimension on one answer (with `judge.samples` ≥ 2).
    disagreement: std::sync::Mutex<(f64, u64)>,
}

/// The mean absolute difference between every pair of samples.
fn pairwise_spread(samples: &[f64]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let mut sum = 0.0;
    let mut pairs = 0u32;
    for (i, a) in samples.iter().enumerate() {
        for b in &samples[i + 1..] {
            sum += (a - b).abs();
            pairs += 1;
        }
    }
    Some(sum / f64::from(pairs))
}

/// One example's scores.
#[derive(Debug, Clone, Serialize)]
pub struct ExampleScore {
    /// The trace id.
    pub id: String,
    /// Weighted score, 0..100.
    pub score: f64,
    /// Per dimension, 0..1 after `invert`.
    pub dimensions: IndexMap<String, f64>,
    /// Judge rationales, per judge dimension.
    pub rationales: IndexMap<String, String>,
    /// The program's answer could not be parsed (scored 0).
    pub failed: Option<String>,
    /// The parsed prediction.
    pub prediction: Option<Map<String, Value>>,
    /// With several task samples per example (`ab.task_samples`): each
    /// sample's score, of which `score` is the mean.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
}

#[derive(Serialize)]
struct Question {
    name: String,
    prompt: String,
}

impl Metric {
    /// Loads a metric file for `signature`; `persona_field` names the input
    /// trace dimensions key their history on.
    pub fn load(
        path: &Path,
        signature: &Signature,
        persona_field: Option<&str>,
    ) -> Result<Metric, MetricError> {
        let spec = MetricSpec::load(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let invalid = |key: String, message: String| MetricError::Invalid {
            path: path.to_path_buf(),
            key,
            line: None,
            message,
        };
        let mut env = Environment::new();
        env.add_template_owned("__combined", COMBINED_TEMPLATE.to_string())
            .map_err(|e| invalid("judge.mode".into(), format!("combined template: {e}")))?;
        let first_enum = signature
            .outputs
            .iter()
            .find(|(_, o)| o.enum_values.is_some())
            .map(|(n, _)| n.clone());
        let mut dims = Vec::new();
        for ((name, d), (_, weight)) in spec.dimensions.iter().zip(spec.normalized_weights()) {
            let key = format!("dimensions.{name}");
            let output = |field: &Option<String>| -> Result<String, MetricError> {
                let f = field
                    .clone()
                    .or_else(|| first_enum.clone())
                    .ok_or_else(|| {
                        invalid(format!("{key}.field"), "name the output field".into())
                    })?;
                if !signature.outputs.contains_key(&f) {
                    return Err(invalid(
                        format!("{key}.field"),
                        format!("`{f}` is not an output of `{}`", signature.name),
                    ));
                }
                Ok(f)
            };
            let needs_persona = || -> Result<(), MetricError> {
                if persona_field.is_none() {
                    return Err(invalid(
                        key.clone(),
                        "trace dimensions need the config's persona_field for this signature"
                            .into(),
                    ));
                }
                Ok(())
            };
            let turns_field = d
                .turns_field
                .clone()
                .unwrap_or_else(|| "prior_turns".into());
            let kind = match d.kind() {
                Some(DimensionKind::Judge(p)) => {
                    let full = base.join(&p);
                    let text = crate::files::read_text(&full, spec::MAX_TEMPLATE_BYTES)
                        .map_err(|e| invalid(format!("{key}.judge"), e.to_string()))?;
                    env.add_template_owned(name.clone(), text).map_err(|e| {
                        invalid(format!("{key}.judge"), format!("{}: {e}", full.display()))
                    })?;
                    Kind::Judge(full)
                }
                Some(DimensionKind::Trace(t)) if t == "move_repetition" => {
                    needs_persona()?;
                    Kind::MoveRepetition {
                        window: d.window.unwrap_or(3),
                        turns_field,
                        move_field: output(&d.field)?,
                    }
                }
                Some(DimensionKind::Trace(_)) => {
                    needs_persona()?;
                    Kind::SpeakerDiversity {
                        window: d.window.unwrap_or(6),
                        turns_field,
                    }
                }
                Some(DimensionKind::Builtin(b)) => match b.as_str() {
                    "exact_match" => Kind::ExactMatch {
                        field: output(&d.field)?,
                    },
                    "regex" => {
                        let pattern = d.pattern.clone().unwrap_or_default();
                        let re = regex::Regex::new(&pattern)
                            .map_err(|e| invalid(format!("{key}.pattern"), e.to_string()))?;
                        Kind::Regex {
                            field: output(&d.field)?,
                            re,
                        }
                    }
                    "json_valid" => Kind::JsonValid {
                        field: d.field.clone(),
                    },
                    "enum_valid" => Kind::EnumValid,
                    _ => Kind::LengthBand {
                        field: output(&d.field)?,
                        min: d.min_chars,
                        max: d.max_chars,
                    },
                },
                Some(DimensionKind::Feedback(name)) => Kind::Feedback {
                    name,
                    range: d.range.unwrap_or([0.0, 1.0]),
                },
                // MetricSpec::load has already rejected specs without exactly one kind.
                None => {
                    return Err(invalid(
                        key,
                        "set exactly one of `judge`, `trace` or `builtin`".into(),
                    ));
                }
            };
            dims.push(Dim {
                name: name.clone(),
                kind,
                weight,
                invert: d.invert,
            });
        }
        Ok(Metric {
            dims,
            env,
            mode: spec.judge.mode,
            samples: spec.judge.samples,
            persona_field: persona_field.map(str::to_string),
            signature: signature.clone(),
            combined_fallbacks: AtomicUsize::new(0),
            disagreement: std::sync::Mutex::new((0.0, 0)),
        })
    }

    /// Dimension names, in file order.
    pub fn dimension_names(&self) -> Vec<&str> {
        self.dims.iter().map(|d| d.name.as_str()).collect()
    }

    fn judge_dims(&self) -> Vec<&Dim> {
        self.dims
            .iter()
            .filter(|d| matches!(d.kind, Kind::Judge(_)))
            .collect()
    }

    /// Judge calls one example costs (before re-asks of unreadable answers).
    pub fn judge_calls_per_example(&self) -> usize {
        let n = self.judge_dims().len();
        if n == 0 {
            0
        } else if self.mode == JudgeMode::Combined {
            self.samples as usize
        } else {
            n * self.samples as usize
        }
    }

    /// Renders a judge dimension's prompt for an example and a prediction.
    pub fn render_judge(
        &self,
        dim: &str,
        example: &Turn,
        prediction: &Map<String, Value>,
    ) -> Result<String, String> {
        let file = self
            .dims
            .iter()
            .find_map(|d| match &d.kind {
                Kind::Judge(p) if d.name == dim => Some(p.display().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| dim.to_string());
        let tmpl = self.env.get_template(dim).map_err(|e| e.to_string())?;
        tmpl.render(minijinja::context! {
            inputs => minijinja::Value::from(minijinja::value::Serde(&example.inputs)),
            reference => minijinja::Value::from(minijinja::value::Serde(&example.outputs)),
            prediction => minijinja::Value::from(minijinja::value::Serde(prediction)),
            signature => minijinja::context! { name => self.signature.name.clone(), description => self.signature.description.clone() },
        })
        .map_err(|e| {
            let line = e.line().map(|l| format!(":{l}")).unwrap_or_default();
            format!("{file}{line}: judge template of `{dim}` does not render: {e}")
        })
    }

    /// Scores one prediction. Judge calls for the example run in parallel.
    pub async fn score(
        &self,
        lm: &LmClient,
        example: &Turn,
        prediction: &Map<String, Value>,
    ) -> Result<ExampleScore, LmError> {
        let mut values: IndexMap<String, f64> = IndexMap::new();
        let mut rationales: IndexMap<String, String> = IndexMap::new();
        let verdicts = self.judge(lm, example, prediction).await?;
        let persona = self
            .persona_field
            .as_ref()
            .and_then(|f| example.inputs.get(f))
            .map(|v| crate::program::render_value(Some(v)))
            .unwrap_or_default();
        for d in &self.dims {
            let raw = match &d.kind {
                Kind::Judge(_) => {
                    let v = verdicts.get(&d.name).cloned().unwrap_or(Verdict {
                        score: 0.0,
                        rationale: String::new(),
                    });
                    rationales.insert(d.name.clone(), v.rationale);
                    v.score
                }
                Kind::MoveRepetition {
                    window,
                    turns_field,
                    move_field,
                } => {
                    let mv = crate::program::render_value(prediction.get(move_field));
                    trace_dims::move_repetition(
                        &example.inputs,
                        &persona,
                        &mv,
                        turns_field,
                        *window,
                    )
                }
                Kind::SpeakerDiversity {
                    window,
                    turns_field,
                } => trace_dims::speaker_diversity(&example.inputs, &persona, turns_field, *window),
                Kind::ExactMatch { field } => {
                    builtin::exact_match(&self.signature, field, prediction, &example.outputs)
                }
                Kind::Regex { field, re } => builtin::regex(re, field, prediction),
                Kind::JsonValid { field } => builtin::json_valid(field.as_deref(), prediction),
                Kind::EnumValid => builtin::enum_valid(&self.signature, prediction),
                Kind::LengthBand { field, min, max } => {
                    builtin::length_band(field, *min, *max, prediction)
                }
                Kind::Feedback { name, range } => {
                    // No rating: no value, and the other dimensions carry the score.
                    let Some(r) = example
                        .feedback
                        .get(name)
                        .and_then(|v| feedback::rating(v, *range))
                    else {
                        continue;
                    };
                    let a = feedback::agreement(&self.signature, prediction, &example.outputs);
                    feedback::value(r, a)
                }
            };
            values.insert(d.name.clone(), if d.invert { 1.0 - raw } else { raw });
        }
        Ok(ExampleScore {
            id: example.id.0.clone(),
            score: self.aggregate(&values),
            dimensions: values,
            rationales,
            failed: None,
            prediction: Some(prediction.clone()),
            samples: Vec::new(),
        })
    }

    /// The weighted mean on 0..100 of per-dimension values in 0..1. A
    /// feedback dimension without a value (nobody rated the turn) is left
    /// out and the others' weights renormalised; any other missing value is 0.
    pub fn aggregate(&self, values: &IndexMap<String, f64>) -> f64 {
        let (mut sum, mut weight) = (0.0, 0.0);
        for d in &self.dims {
            match values.get(&d.name) {
                Some(v) => {
                    sum += d.weight * v;
                    weight += d.weight;
                }
                None if matches!(d.kind, Kind::Feedback { .. }) => {}
                None => weight += d.weight,
            }
        }
        if weight > 0.0 {
            sum / weight * 100.0
        } else {
            0.0
        }
    }

    /// The score of an example whose answer could not be parsed: 0 on every dimension.
    pub fn failed(&self, example: &Turn, reason: String) -> ExampleScore {
        ExampleScore {
            id: example.id.0.clone(),
            score: 0.0,
            dimensions: self
                .dims
                .iter()
                .filter(|d| match &d.kind {
                    Kind::Feedback { name, .. } => example.feedback.contains_key(name),
                    _ => true,
                })
                .map(|d| (d.name.clone(), 0.0))
                .collect(),
            rationales: IndexMap::new(),
            failed: Some(reason),
            prediction: None,
            samples: Vec::new(),
        }
    }

    async fn judge(
        &self,
        lm: &LmClient,
        example: &Turn,
        prediction: &Map<String, Value>,
    ) -> Result<IndexMap<String, Verdict>, LmError> {
        let dims = self.judge_dims();
        if dims.is_empty() {
            return Ok(IndexMap::new());
        }
        let setup = |e: String| LmError::Setup(e);
        let mut prompts = Vec::new();
        for d in &dims {
            prompts.push(Question {
                name: d.name.clone(),
                prompt: self
                    .render_judge(&d.name, example, prediction)
                    .map_err(setup)?,
            });
        }
        match self.mode {
            JudgeMode::Separate => self.separate(lm, &prompts).await,
            JudgeMode::Combined => match self.combined(lm, &prompts).await {
                Err(Asked::Unreadable(why)) => {
                    // One unreadable combined answer costs this example the
                    // separate calls, not the run; counted for the report.
                    self.combined_fallbacks.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("combined judge answer unreadable ({why}); judging separately");
                    self.separate(lm, &prompts).await
                }
                Err(Asked::Lm(e)) => Err(e),
                Ok(v) => Ok(v),
            },
        }
    }

    /// How much the judge's samples of one answer differed, on average (the
    /// mean pairwise absolute difference, scores 0..1), so far; `None` with
    /// one sample per answer.
    pub fn judge_disagreement(&self) -> Option<f64> {
        let (sum, n) = *self.disagreement.lock().unwrap_or_else(|e| e.into_inner());
        (n > 0).then(|| sum / n as f64)
    }

    /// Samples per judge answer (`judge.samples`).
    pub fn judge_samples(&self) -> u32 {
        self.samples
    }

    fn record_spread(&self, samples: &[f64]) {
        if let Some(d) = pairwise_spread(samples) {
            let mut g = self.disagreement.lock().unwrap_or_else(|e| e.into_inner());
            g.0 += d;
            g.1 += 1;
        }
    }

    /// Examples whose combined judge answer stayed unreadable and were judged
    /// with separate calls instead, so far.
    pub fn combined_fallbacks(&self) -> usize {
        self.combined_fallbacks.load(Ordering::Relaxed)
    }

    async fn separate(
        &self,
        lm: &LmClient,
        prompts: &[Question],
    ) -> Result<IndexMap<String, Verdict>, LmError> {
        let calls = prompts.iter().map(|q| async move {
            let mut scores = Vec::with_capacity(self.samples as usize);
            let mut rationale = String::new();
            for s in 0..self.samples {
                let v = ask(lm, &q.prompt, s, parse_verdict, &q.name)
                    .await
                    .map_err(|e| e.into_lm(lm))?;
                scores.push(v.score);
                if rationale.is_empty() {
                    rationale = v.rationale;
                }
            }
            self.record_spread(&scores);
            let sum: f64 = scores.iter().sum();
            Ok::<_, LmError>((
                q.name.clone(),
                Verdict {
                    score: sum / f64::from(self.samples),
                    rationale,
                },
            ))
        });
        Ok(futures::future::try_join_all(calls)
            .await?
            .into_iter()
            .collect())
    }

    async fn combined(
        &self,
        lm: &LmClient,
        prompts: &[Question],
    ) -> Result<IndexMap<String, Verdict>, Asked> {
        let setup = |e: minijinja::Error| Asked::Lm(LmError::Setup(e.to_string()));
        let tmpl = self.env.get_template("__combined").map_err(setup)?;
        let prompt = tmpl
            .render(minijinja::context! { questions => minijinja::Value::from(minijinja::value::Serde(prompts)) })
            .map_err(setup)?;
        let names: Vec<&str> = prompts.iter().map(|q| q.name.as_str()).collect();
        let mut sums = vec![0.0; names.len()];
        let mut scores = vec![Vec::new(); names.len()];
        let mut rationales = vec![String::new(); names.len()];
        for s in 0..self.samples {
            let vs = ask(lm, &prompt, s, |t| parse_combined(t, &names), "combined").await?;
            for (i, v) in vs.into_iter().enumerate() {
                sums[i] += v.score;
                scores[i].push(v.score);
                if rationales[i].is_empty() {
                    rationales[i] = v.rationale;
                }
            }
        }
        for s in &scores {
            self.record_spread(s);
        }
        Ok(names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    name.to_string(),
                    Verdict {
                        score: sums[i] / f64::from(self.samples),
                        rationale: rationales[i].clone(),
                    },
                )
            })
            .collect())
    }
}

/// Why asking the judge gave no verdict.
enum Asked {
    /// The call failed.
    Lm(LmError),
    /// Every try answered something unreadable.
    Unreadable(String),
}

impl From<LmError> for Asked {
    fn from(e: LmError) -> Asked {
        Asked::Lm(e)
    }
}

impl Asked {
    fn into_lm(self, lm: &LmClient) -> LmError {
        match self {
            Asked::Lm(e) => e,
            Asked::Unreadable(message) => LmError::Call {
                role: Role::Judge,
                label: lm.label(Role::Judge),
                message,
                fatal: false,
            },
        }
    }
}

/// Asks the judge, re-sampling an unreadable answer up to [`JUDGE_REASKS`] times.
async fn ask<T>(
    lm: &LmClient,
    prompt: &str,
    sample: u32,
    parse: impl Fn(&str) -> Result<T, String>,
    what: &str,
) -> Result<T, Asked> {
    let mut last = String::new();
    for attempt in 0..=JUDGE_REASKS {
        let req = LmRequest {
            // Another sample index is another request, not the cached unreadable one.
            sample: sample + attempt * 1000,
            ..LmRequest::new(vec![Message {
                role: ChatRole::User,
                content: prompt.to_string(),
            }])
        };
        let r = lm.complete(Role::Judge, req).await?;
        match parse(&r.text) {
            Ok(v) => {
                lm.record_parse(
                    Role::Judge,
                    crate::lm::budget::Event::Parsed {
                        first_try: attempt == 0,
                    },
                );
                return Ok(v);
            }
            Err(e) => {
                // The raw answer (already redacted by the client) at -v.
                tracing::info!(
                    "unreadable judge answer for {what} (try {}): {e}; it was: {:?}",
                    attempt + 1,
                    crate::text::truncate_for_message(&r.text)
                );
                last = e;
            }
        }
    }
    lm.record_parse(Role::Judge, crate::lm::budget::Event::Unparsed);
    Err(Asked::Unreadable(format!(
        "unreadable judge answer for {what} after {} tries: {last}",
        JUDGE_REASKS + 1
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_of_judge_samples_is_their_mean_pairwise_difference() {
        assert_eq!(pairwise_spread(&[0.5]), None);
        assert!((pairwise_spread(&[0.2, 0.6]).unwrap() - 0.4).abs() < 1e-12);
        // |0.2-0.6| + |0.2-0.4| + |0.6-0.4| over 3 pairs.
        assert!((pairwise_spread(&[0.2, 0.6, 0.4]).unwrap() - 0.8 / 3.0).abs() < 1e-12);
    }
    use serde_json::json;

    /// A clean turn asking `q: ?`, with its logged outputs and ratings.
    fn one_turn(outputs: Map<String, Value>, feedback: Map<String, Value>) -> Turn {
        Turn {
            id: crate::traces::TraceId("t".into()),
            thread: "th".into(),
            workspace: None,
            ts: None,
            persona: None,
            pack: None,
            clean: true,
            inputs: json!({"q": "?"}).as_object().unwrap().clone(),
            outputs,
            feedback,
        }
    }

    #[tokio::test]
    async fn weights_normalise_and_invert_flips_a_penalty() {
        let dir = tempfile::tempdir().unwrap();
        let sig: Signature =
            serde_yaml::from_str("name: s\ninputs: {q: {}}\noutputs:\n  a: {}\n").unwrap();
        std::fs::write(
            dir.path().join("m.yaml"),
            "dimensions:\n  long: {builtin: length_band, field: a, min_chars: 10, weight: 3}\n  json: {builtin: json_valid, field: a, weight: 1, invert: true}\n",
        )
        .unwrap();
        let m = Metric::load(&dir.path().join("m.yaml"), &sig, None).unwrap();
        let cfg = crate::config::Config::from_yaml(
            &dir.path().join("c.yaml"),
            "signatures:\n  s: {signature: s, pack: p, traces: [t], metric: m}\ncache: {mode: off}\n",
        )
        .unwrap();
        let lm = LmClient::from_config(&cfg).unwrap();
        let ex = one_turn(Map::new(), Map::new());
        let score = |a: &str| {
            let p = json!({"a": a}).as_object().unwrap().clone();
            let (m, lm, ex) = (&m, &lm, &ex);
            async move { m.score(lm, ex, &p).await.unwrap() }
        };
        // Long and not JSON: 3/4 · 1 + 1/4 · (1 − 0).
        let s = score("a long plain answer").await;
        assert!((s.score - 100.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.dimensions["json"], 1.0);
        // Five characters of valid JSON: 3/4 · 0.5 + 1/4 · (1 − 1).
        let s = score("[1,2]").await;
        assert!((s.score - 37.5).abs() < 1e-9, "{s:?}");
        assert_eq!(lm.usage().calls, 0, "no dimension here calls an LM");
    }

    #[tokio::test]
    async fn feedback_that_disagrees_with_the_judges_reorders_two_answers() {
        // `long` stands in for a judge that likes long answers; users gave the
        // long logged answer a thumbs down.
        let dir = tempfile::tempdir().unwrap();
        let sig: Signature = serde_yaml::from_str(
            "name: s\ninputs: {q: {}}\noutputs:\n  a: {}\n  tone: {enum: [warm, curt]}\n",
        )
        .unwrap();
        let metric = |extra: &str| {
            std::fs::write(
                dir.path().join("m.yaml"),
                format!("dimensions:\n  long: {{builtin: length_band, field: a, min_chars: 40, weight: 1}}\n{extra}"),
            )
            .unwrap();
            Metric::load(&dir.path().join("m.yaml"), &sig, None).unwrap()
        };
        let cfg = crate::config::Config::from_yaml(
            &dir.path().join("c.yaml"),
            "signatures:\n  s: {signature: s, pack: p, traces: [t], metric: m}\ncache: {mode: off}\n",
        )
        .unwrap();
        let lm = LmClient::from_config(&cfg).unwrap();
        let logged =
            json!({"a": "a very long answer that goes on and on about everything", "tone": "curt"});
        let mut ex = one_turn(
            logged.as_object().unwrap().clone(),
            json!({"thumbs": "down"}).as_object().unwrap().clone(),
        );
        let like_logged = logged.as_object().unwrap().clone();
        let short = json!({"a": "short and kind", "tone": "warm"})
            .as_object()
            .unwrap()
            .clone();
        let judged = metric("");
        let (a, b) = (
            judged.score(&lm, &ex, &like_logged).await.unwrap().score,
            judged.score(&lm, &ex, &short).await.unwrap().score,
        );
        assert!(a > b, "the judge alone prefers the long answer: {a} vs {b}");
        let with_users = metric("  thumbs: {feedback: thumbs, weight: 1}\n");
        let (a, b) = (
            with_users.score(&lm, &ex, &like_logged).await.unwrap(),
            with_users.score(&lm, &ex, &short).await.unwrap(),
        );
        assert_eq!(
            a.dimensions["thumbs"], 0.0,
            "it repeats the disliked answer"
        );
        assert!(
            b.score > a.score,
            "users' thumbs down reverses it: {} vs {}",
            b.score,
            a.score
        );
        // Nobody rated the turn: the dimension is left out, not scored 0.
        ex.feedback.clear();
        let s = with_users.score(&lm, &ex, &short).await.unwrap();
        assert!(!s.dimensions.contains_key("thumbs"));
        assert_eq!(s.score, judged.score(&lm, &ex, &short).await.unwrap().score);
    }
}
