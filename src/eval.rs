//! The evaluator: a program over a set of examples with a metric.
//!
//! Examples run concurrently (bounded), results come back in the examples'
//! order, and every LM call goes through the client's cache. An answer the
//! program cannot parse scores 0 and is counted as `failed`; an example whose
//! LM calls fail for good is left out of the score and counted as an error,
//! and more errors than `max_errors` abort the evaluation instead of being
//! scored as zeros (the silent-zero trap).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::StreamExt;
use indexmap::IndexMap;
use serde::Serialize;

use crate::lm::{LmClient, LmError};
use crate::metric::{ExampleScore, Metric};
use crate::pack::Pack;
use crate::program::{Prediction, predict_sample};
use crate::signature::Signature;
use crate::traces::Turn;

/// What the program sends: the system message per example.
#[derive(Debug, Clone)]
pub struct Program {
    /// The contract.
    pub signature: Signature,
    /// The system message.
    pub system: String,
    /// Per-persona system messages (v3 packs).
    pub persona_systems: IndexMap<String, String>,
    /// How the answer is asked for and read back.
    pub adapter: crate::program::Adapter,
}

impl Program {
    /// The program a pack describes, rendered by the adapter.
    pub fn from_pack(pack: &Pack) -> Option<Program> {
        let p = pack.prompt()?;
        let rendered = pack.render()?;
        Some(Program {
            signature: p.signature.spec.clone(),
            system: rendered.system,
            persona_systems: rendered.personas.unwrap_or_default(),
            adapter: p.adapter,
        })
    }

    /// The system message for an example.
    pub fn system_for(&self, example: &Turn) -> &str {
        example
            .persona
            .as_ref()
            .and_then(|p| self.persona_systems.get(p))
            .unwrap_or(&self.system)
    }
}

/// An evaluation's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalReport {
    /// Mean score over scored examples, 0..100.
    pub score: f64,
    /// Examples scored (failed ones included, as 0).
    pub n: usize,
    /// Examples whose answer could not be parsed.
    pub failed: usize,
    /// Examples left out because an LM call failed for good (after one more try).
    pub errors: usize,
    /// Examples tried once more at the end after a transient failure.
    pub retried: usize,
    /// Per dimension, mean on 0..100.
    pub dimensions: IndexMap<String, f64>,
    /// Every example, in input order (errors are absent).
    pub examples: Vec<ExampleScore>,
    /// The LM errors, one line each.
    pub error_messages: Vec<String>,
}

/// Why an evaluation stopped.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Too many examples failed at the LM level.
    #[error(
        "evaluation aborted: {errors} of {total} examples failed at the LM level, more than the {max} allowed (eval.max_errors, eval.max_error_share); first: {first}"
    )]
    TooManyErrors {
        /// How many.
        errors: usize,
        /// The most allowed for this evaluation.
        max: usize,
        /// Examples asked for.
        total: usize,
        /// The first error.
        first: String,
    },
    /// A budget cap stopped the run.
    #[error("evaluation stopped: budget exhausted ({reason}) after {done} of {total} examples")]
    Budget {
        /// Which cap.
        reason: String,
        /// Examples finished.
        done: usize,
        /// Examples asked for.
        total: usize,
    },
    /// Nothing to evaluate.
    #[error("no examples to evaluate")]
    Empty,
    /// An LM error no other example could avoid (a wrong key, a missing
    /// model, a program that does not run): the run stops at once.
    #[error("evaluation stopped")]
    Fatal(#[source] LmError),
    /// Every example failed at the LM level: there is no score to report.
    #[error("evaluation failed: all {errors} examples failed at the LM level; first: {first}")]
    AllFailed {
        /// How many.
        errors: usize,
        /// The first error.
        first: String,
    },
    /// A shared score table was left unusable by a panicking task.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EvalError {
    /// An LM error outside an evaluation, as an evaluation error (a budget cap
    /// stays a budget cap).
    pub fn from_lm(e: LmError) -> EvalError {
        match e {
            LmError::Budget(reason) => EvalError::Budget {
                reason,
                done: 0,
                total: 0,
            },
            e if e.ends_the_run() => EvalError::Fatal(e),
            other => EvalError::TooManyErrors {
                errors: 1,
                max: 0,
                total: 1,
                first: other.to_string(),
            },
        }
    }
}

/// Runs evaluations.
pub struct Evaluator<'a> {
    /// The LMs.
    pub lm: &'a LmClient,
    /// The metric.
    pub metric: &'a Metric,
    /// Examples at once.
    pub concurrency: usize,
    /// LM-level failures tolerated before aborting, at least.
    pub max_errors: usize,
    /// LM-level failures tolerated as a share of the examples.
    pub max_error_share: f64,
    /// Answers per example (samples 0..k of the task request), each scored,
    /// the scores averaged: `ab.task_samples`.
    pub task_samples: u32,
}

/// A failure that a later try may not meet: not one that ends the run, and
/// not the budget.
fn transient(e: &LmError) -> bool {
    !e.ends_the_run() && !matches!(e, LmError::Budget(_))
}

impl Evaluator<'_> {
    /// Scores `program` on `examples`; `progress(done, total)` is called as they finish.
    pub async fn evaluate(
        &self,
        program: &Program,
        examples: &[Turn],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<EvalReport, EvalError> {
        if examples.is_empty() {
            return Err(EvalError::Empty);
        }
        let total = examples.len();
        let allowed = self
            .max_errors
            .max((self.max_error_share * total as f64).ceil() as usize);
        let stop = Arc::new(AtomicBool::new(false));
        let done = AtomicUsize::new(0);
        let errors_seen = AtomicUsize::new(0);
        let inline_retries = AtomicUsize::new(0);
        let inline_allowed = total.div_ceil(10);
        let results: Vec<(usize, Result<ExampleScore, LmError>, bool)> =
            futures::stream::iter(examples.iter().enumerate())
                .map(|(i, ex)| {
                    let stop = stop.clone();
                    let done = &done;
                    let errors_seen = &errors_seen;
                    let inline_retries = &inline_retries;
                    async move {
                        if stop.load(Ordering::SeqCst) {
                            return (i, Err(LmError::Budget("stopped".into())), false);
                        }
                        // A failure counts against the errors allowed at
                        // once, so an outage stops the evaluation as soon
                        // as ever; a retry that then succeeds takes it back.
                        let counts = |e: &LmError| {
                            let budget = matches!(e, LmError::Budget(_));
                            if budget
                                || e.ends_the_run()
                                || errors_seen.fetch_add(1, Ordering::SeqCst) + 1 > allowed
                            {
                                stop.store(true, Ordering::SeqCst);
                            }
                        };
                        let mut r = self.one(program, ex).await;
                        let mut retried = false;
                        if let Err(e) = &r {
                            counts(e);
                        }
                        // The first few examples lost to a transient failure
                        // (an unlucky run of a flaky endpoint's attempts) are
                        // asked again at once: kept for the end, each would
                        // hold the evaluation open for its own round trips.
                        if r.as_ref().is_err_and(transient)
                            && !stop.load(Ordering::SeqCst)
                            && inline_retries.fetch_add(1, Ordering::SeqCst) < inline_allowed
                        {
                            retried = true;
                            r = self.one(program, ex).await;
                            match &r {
                                Ok(_) => {
                                    errors_seen.fetch_sub(1, Ordering::SeqCst);
                                }
                                Err(e) if !transient(e) => stop.store(true, Ordering::SeqCst),
                                Err(_) => {}
                            }
                        }
                        progress(done.fetch_add(1, Ordering::SeqCst) + 1, total);
                        (i, r, retried)
                    }
                })
                .buffer_unordered(self.concurrency.max(1))
                .collect()
                .await;

        let mut ordered: Vec<Option<Result<ExampleScore, LmError>>> =
            (0..total).map(|_| None).collect();
        let mut tried_again = vec![false; total];
        for (i, r, retried) in results {
            ordered[i] = Some(r);
            tried_again[i] = retried;
        }
        // Examples lost to a transient failure get one more try once the
        // crowd is gone (together when few, one at a time when many), unless
        // they had it already.
        let retried = tried_again.iter().filter(|t| **t).count()
            + if stop.load(Ordering::SeqCst) {
                0
            } else {
                self.retry_lost(program, examples, &mut ordered, &tried_again)
                    .await
            };
        let mut examples_out = Vec::new();
        let mut error_messages = Vec::new();
        let mut budget = None;
        let mut fatal = None;
        for r in ordered.into_iter().flatten() {
            match r {
                Ok(s) => examples_out.push(s),
                Err(e) if e.ends_the_run() => {
                    fatal.get_or_insert(e);
                }
                Err(LmError::Budget(reason)) => {
                    if reason != "stopped" {
                        budget.get_or_insert(reason);
                    }
                }
                Err(e) => error_messages.push(e.to_string()),
            }
        }
        if let Some(e) = fatal {
            return Err(EvalError::Fatal(e));
        }
        if error_messages.len() > allowed {
            return Err(EvalError::TooManyErrors {
                errors: error_messages.len(),
                max: allowed,
                total,
                first: error_messages[0].clone(),
            });
        }
        if examples_out.is_empty() && !error_messages.is_empty() {
            return Err(EvalError::AllFailed {
                errors: error_messages.len(),
                first: error_messages[0].clone(),
            });
        }
        if let Some(reason) = budget.or_else(|| {
            self.lm
                .budget_exhausted()
                .filter(|_| examples_out.len() + error_messages.len() < total)
        }) {
            return Err(EvalError::Budget {
                reason,
                done: examples_out.len(),
                total,
            });
        }
        let n = examples_out.len();
        let dimensions = self.dimension_means(&examples_out);
        let score = if n == 0 {
            0.0
        } else {
            examples_out.iter().map(|s| s.score).sum::<f64>() / n as f64
        };
        Ok(EvalReport {
            score,
            n,
            retried,
            failed: examples_out.iter().filter(|s| s.failed.is_some()).count(),
            errors: error_messages.len(),
            dimensions,
            examples: examples_out,
            error_messages,
        })
    }

    /// Examples lost to a transient failure and not yet tried again get one more try, one at a
    /// time, once the crowd is gone (a full server, a passing outage).
    /// Returns how many were tried again.
    async fn retry_lost(
        &self,
        program: &Program,
        examples: &[Turn],
        ordered: &mut [Option<Result<ExampleScore, LmError>>],
        tried_again: &[bool],
    ) -> usize {
        let lost: Vec<usize> = ordered
            .iter()
            .enumerate()
            .filter(|(i, slot)| !tried_again[*i] && matches!(slot, Some(Err(e)) if transient(e)))
            .map(|(i, _)| i)
            .collect();
        // A few examples lost to unlucky attempts (a flaky endpoint) are
        // asked again together: one at a time, each would add its own round
        // trips to the evaluation's end. Many lost at once say the endpoint
        // is in trouble (a full server, an outage): those go one at a time.
        let at_once = if lost.len() * 10 <= ordered.len() {
            self.concurrency.max(1)
        } else {
            1
        };
        let again: Vec<(usize, Result<ExampleScore, LmError>)> =
            futures::stream::iter(lost.iter().copied())
                .map(|i| async move { (i, self.one(program, &examples[i]).await) })
                .buffer_unordered(at_once)
                .collect()
                .await;
        for (i, r) in again {
            if r.is_ok() {
                ordered[i] = Some(r);
            }
        }
        lost.len()
    }

    /// Each dimension's mean over the examples that have it (a feedback
    /// dimension: the rated ones), in points (0..100).
    fn dimension_means(&self, scored: &[ExampleScore]) -> IndexMap<String, f64> {
        let mut sums: IndexMap<String, (f64, usize)> = self
            .metric
            .dimension_names()
            .into_iter()
            .map(|d| (d.to_string(), (0.0, 0)))
            .collect();
        for s in scored {
            for (d, v) in &s.dimensions {
                if let Some((sum, n)) = sums.get_mut(d) {
                    *sum += v;
                    *n += 1;
                }
            }
        }
        sums.into_iter()
            .map(|(d, (sum, n))| (d, if n == 0 { 0.0 } else { sum / n as f64 * 100.0 }))
            .collect()
    }

    async fn one(&self, program: &Program, ex: &Turn) -> Result<ExampleScore, LmError> {
        let k = self.task_samples.max(1);
        let scored =
            futures::future::try_join_all((0..k).map(|s| self.sample(program, ex, s))).await?;
        Ok(average(scored))
    }

    /// One answer (sample `sample` of the task request) and its score.
    async fn sample(
        &self,
        program: &Program,
        ex: &Turn,
        sample: u32,
    ) -> Result<ExampleScore, LmError> {
        match predict_sample(
            self.lm,
            program.adapter,
            &program.signature,
            program.system_for(ex),
            &ex.inputs,
            sample,
        )
        .await?
        {
            Prediction::Parsed(out) => self.metric.score(self.lm, ex, &out).await,
            Prediction::Failed { reason } => Ok(self.metric.failed(ex, reason)),
        }
    }
}

/// The mean of one example's sample scores: the score and each dimension
/// averaged; the first sample's answer and rationales shown; an answer that
/// could not be parsed (it scored 0 in the mean) named with its sample.
fn average(mut scored: Vec<ExampleScore>) -> ExampleScore {
    if scored.len() == 1 {
        return scored.remove(0);
    }
    let k = scored.len() as f64;
    let failed = scored.iter().enumerate().find_map(|(i, s)| {
        s.failed
            .as_ref()
            .map(|r| format!("sample {} of {}: {r}", i + 1, scored.len()))
    });
    let samples: Vec<f64> = scored.iter().map(|s| s.score).collect();
    let score = samples.iter().sum::<f64>() / k;
    let mut first = scored.remove(0);
    first.samples = samples;
    for v in first.dimensions.values_mut() {
        *v /= k;
    }
    for s in &scored {
        for (d, v) in &s.dimensions {
            if let Some(sum) = first.dimensions.get_mut(d) {
                *sum += v / k;
            }
        }
    }
    first.score = score;
    first.failed = failed;
    first
}
