//! The run's scorer: every example score of a run remembered, so a full
//! evaluation reuses what minibatches measured, and no question asked twice
//! even by searches running at once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use tokio::sync::watch;

use super::Context;
use crate::eval::{EvalError, EvalReport, Evaluator, Program};
use crate::metric::ExampleScore;
use crate::pack::Demo;
use crate::program::render_system_as;
use crate::traces::Turn;

/// A program (a digest of its system prompt, the only part that differs
/// between a run's programs) and an example id.
type Key = ([u8; 32], String);

/// What is known and what is being asked.
#[derive(Default)]
struct Memo {
    /// Scores measured.
    scores: HashMap<Key, ExampleScore>,
    /// Scores being measured by one caller: the others wait for its end (the
    /// sender's drop) instead of asking the same question again.
    claimed: HashMap<Key, watch::Receiver<()>>,
}

/// Scores programs, remembering every example score of the run so that a
/// full evaluation reuses what minibatches already measured.
///
/// An example lost to LM errors (after the evaluator's one more try) for any
/// program is left out of every program's scores from then on, so that
/// programs are compared on the same examples.
///
/// Callers may run at once (several trials in flight, full evaluations
/// beside them): an example a caller is already scoring for a program is
/// waited for by the others, never asked twice.
pub struct Scorer<'a> {
    ctx: &'a Context<'a>,
    memo: Mutex<Memo>,
    lost: Mutex<BTreeSet<String>>,
}

/// The examples a caller has claimed: released when it is dropped, whether
/// the scoring finished, failed or was cancelled, so waiters always wake
/// (and take the claim over when no score came of it).
struct Claim<'s> {
    memo: &'s Mutex<Memo>,
    keys: Vec<Key>,
    _done: watch::Sender<()>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut memo) = self.memo.lock() {
            for k in &self.keys {
                memo.claimed.remove(k);
            }
        }
        // `_done` drops after this: every waiter's `changed()` ends.
    }
}

fn poisoned(what: &str) -> EvalError {
    EvalError::Internal(format!("the {what} lock is poisoned"))
}

impl<'a> Scorer<'a> {
    /// A scorer for a run.
    pub fn new(ctx: &'a Context<'a>) -> Scorer<'a> {
        Scorer {
            ctx,
            memo: Mutex::new(Memo::default()),
            lost: Mutex::new(BTreeSet::new()),
        }
    }

    /// The program of an instruction and demos.
    pub fn program(&self, instructions: &str, demos: &[Demo]) -> Program {
        Program {
            signature: self.ctx.signature.clone(),
            system: render_system_as(self.ctx.adapter, self.ctx.signature, instructions, demos),
            persona_systems: Default::default(),
            adapter: self.ctx.adapter,
        }
    }

    /// Per-example scores of a program on examples, in order.
    pub async fn scores(
        &self,
        program: &Program,
        examples: &[Turn],
    ) -> Result<Vec<ExampleScore>, EvalError> {
        // A digest, not the prompt itself: a lookup neither copies nor hashes
        // a prompt of many kilobytes (a batch's end waited on hundreds).
        let program_id: [u8; 32] =
            <sha2::Sha256 as sha2::Digest>::digest(program.system.as_bytes()).into();
        let key = |ex: &Turn| (program_id, ex.id.0.clone());
        loop {
            let (todo, claim, waits) = self.claim(examples, &key)?;
            if !todo.is_empty() {
                self.measure(program, &todo, &key).await?;
            }
            drop(claim);
            if waits.is_empty() {
                break;
            }
            // Another caller was scoring some of these: wait for its end and
            // look again (what it could not score is claimed next time round).
            for mut w in waits {
                let _ = w.changed().await;
            }
        }
        let memo = self.memo.lock().map_err(|_| poisoned("score memo"))?;
        let lost = self.lost.lock().map_err(|_| poisoned("lost-example"))?;
        // Examples lost to (tolerated) LM errors are left out, for every program.
        Ok(examples
            .iter()
            .filter(|ex| !lost.contains(&ex.id.0))
            .filter_map(|ex| memo.scores.get(&key(ex)).cloned())
            .collect())
    }

    /// Splits `examples` into those this caller must score (claimed for it)
    /// and the claims of other callers to wait for; memoized and lost
    /// examples are in neither.
    #[allow(clippy::type_complexity)]
    fn claim(
        &self,
        examples: &[Turn],
        key: &dyn Fn(&Turn) -> Key,
    ) -> Result<(Vec<Turn>, Claim<'_>, Vec<watch::Receiver<()>>), EvalError> {
        let mut memo = self.memo.lock().map_err(|_| poisoned("score memo"))?;
        let lost = self.lost.lock().map_err(|_| poisoned("lost-example"))?;
        let (tx, rx) = watch::channel(());
        let mut todo = Vec::new();
        let mut keys = Vec::new();
        let mut waits: Vec<watch::Receiver<()>> = Vec::new();
        for ex in examples {
            let k = key(ex);
            if memo.scores.contains_key(&k) || lost.contains(&ex.id.0) || keys.contains(&k) {
                continue;
            }
            match memo.claimed.get(&k) {
                Some(other) => {
                    if !waits.iter().any(|w| w.same_channel(other)) {
                        waits.push(other.clone());
                    }
                }
                None => {
                    memo.claimed.insert(k.clone(), rx.clone());
                    keys.push(k);
                    todo.push(ex.clone());
                }
            }
        }
        let claim = Claim {
            memo: &self.memo,
            keys,
            _done: tx,
        };
        Ok((todo, claim, waits))
    }

    /// Scores the claimed `todo` and files the scores and the examples lost.
    async fn measure(
        &self,
        program: &Program,
        todo: &[Turn],
        key: &dyn Fn(&Turn) -> Key,
    ) -> Result<(), EvalError> {
        let ev = Evaluator {
            lm: self.ctx.lm,
            metric: self.ctx.metric,
            concurrency: self.ctx.concurrency,
            max_errors: self.ctx.max_errors,
            max_error_share: self.ctx.max_error_share,
            task_samples: 1,
        };
        let report: EvalReport = match ev.evaluate(program, todo, &|_, _| {}).await {
            Ok(r) => r,
            // A handful of examples not yet memoized that all failed are
            // lost examples, not a failed run; `mean` refuses a score
            // when nothing at all is left.
            Err(EvalError::AllFailed { .. }) => EvalReport::default(),
            Err(e) => return Err(e),
        };
        let mut memo = self.memo.lock().map_err(|_| poisoned("score memo"))?;
        let scored: std::collections::HashSet<&str> =
            report.examples.iter().map(|s| s.id.as_str()).collect();
        if let Ok(mut lost) = self.lost.lock() {
            lost.extend(
                todo.iter()
                    .filter(|e| !scored.contains(e.id.0.as_str()))
                    .map(|e| e.id.0.clone()),
            );
        }
        for s in report.examples {
            if let Some(ex) = todo.iter().find(|e| e.id.0 == s.id) {
                memo.scores.insert(key(ex), s);
            }
        }
        Ok(())
    }

    /// The examples lost so far (left out of every program's scores).
    pub fn lost(&self) -> Vec<String> {
        self.lost
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Mean score on 0..100.
    pub async fn mean(&self, program: &Program, examples: &[Turn]) -> Result<f64, EvalError> {
        let s = self.scores(program, examples).await?;
        if s.is_empty() && !examples.is_empty() {
            let lost = self.lost();
            return Err(EvalError::AllFailed {
                errors: lost.len(),
                first: format!(
                    "every example was lost to LM errors (first lost: {})",
                    lost.first().map(String::as_str).unwrap_or("?")
                ),
            });
        }
        Ok(s.iter().map(|x| x.score).sum::<f64>() / s.len().max(1) as f64)
    }
}
