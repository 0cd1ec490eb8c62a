//! GEPA-style reflective evolution of the instruction.
//!
//! Each iteration picks a parent from the per-example Pareto front of the
//! pool (a candidate that is best on more val examples is picked more often,
//! but any candidate best somewhere can be), runs it on a small train
//! minibatch, shows the reflector the requests, answers, scores and judge
//! rationales, and keeps the child only if it beats the parent on that same
//! minibatch; a kept child is then scored on all of val. Demos stay those of
//! the pack running today.

use serde_json::{Map, Value};

use super::log::Entry;
use super::{Context, OptimizeError, Outcome, Progress, Scorer, describe, rng, run_prompt};
use crate::eval::EvalError;
use crate::metric::ExampleScore;
use crate::program::render_value;
use crate::traces::Turn;

/// The most feedback text one reflection sees.
const MAX_FEEDBACK_CHARS: usize = 6000;

struct Candidate {
    instruction: String,
    /// Score per val example, by position in `ctx.val`.
    val: Vec<f64>,
}

impl Candidate {
    fn mean(&self) -> f64 {
        if self.val.is_empty() {
            0.0
        } else {
            self.val.iter().sum::<f64>() / self.val.len() as f64
        }
    }
}

fn per_example(val: &[Turn], scores: &[ExampleScore]) -> Vec<f64> {
    val.iter()
        .map(|t| {
            scores
                .iter()
                .find(|s| s.id == t.id.0)
                .map_or(0.0, |s| s.score)
        })
        .collect()
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The inputs of one reflection.
fn reflection_inputs(description: &str, instruction: &str, feedback: String) -> Map<String, Value> {
    [
        ("program_description", description.to_string()),
        ("current_instruction", instruction.to_string()),
        ("feedback", feedback),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Value::String(v)))
    .collect()
}

/// The reflections of a GEPA run, for pricing before it runs: each with
/// `instruction` standing in for its parent's and feedback at its bound
/// (`MAX_FEEDBACK_CHARS`), so their prompts are priced at most.
pub fn planned_reflection_calls<'p>(
    s: &super::Settings,
    sig: &crate::signature::Signature,
    prompts: &'p super::OwnPrompts,
    instruction: &str,
) -> Vec<(&'p crate::eval::Program, Map<String, Value>)> {
    let description = describe(sig);
    let inputs = reflection_inputs(&description, instruction, "x".repeat(MAX_FEEDBACK_CHARS));
    (0..s.num_trials)
        .map(|_| (&prompts.reflect, inputs.clone()))
        .collect()
}

/// The feedback a reflection sees, lowest scores first, bounded in size.
fn feedback(batch: &[Turn], scores: &[ExampleScore]) -> String {
    let mut pairs: Vec<(&Turn, &ExampleScore)> = batch
        .iter()
        .filter_map(|t| Some((t, scores.iter().find(|s| s.id == t.id.0)?)))
        .collect();
    pairs.sort_by(|a, b| a.1.score.total_cmp(&b.1.score));
    let mut out = String::new();
    for (i, (t, s)) in pairs.iter().enumerate() {
        let mut block = format!(
            "## Example {} — score {:.0}/100\n\nRequest:\n",
            i + 1,
            s.score
        );
        for (k, v) in &t.inputs {
            block.push_str(&format!(
                "- {k}: {}\n",
                shorten(&render_value(Some(v)), 300)
            ));
        }
        block.push_str("\nAnswer:\n");
        match (&s.prediction, &s.failed) {
            (Some(p), _) => {
                for (k, v) in p {
                    block.push_str(&format!(
                        "- {k}: {}\n",
                        shorten(&render_value(Some(v)), 500)
                    ));
                }
            }
            (None, Some(f)) => block.push_str(&format!("(unreadable: {f})\n")),
            _ => {}
        }
        block.push_str("\nGraders:\n");
        for (d, v) in &s.dimensions {
            let why = s
                .rationales
                .get(d)
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            block.push_str(&format!("- {d}: {:.2}{why}\n", v));
        }
        if out.len() + block.len() > MAX_FEEDBACK_CHARS {
            break;
        }
        out.push_str(&block);
        out.push('\n');
    }
    out
}

/// The parent of the next child: drawn with weight the number of val
/// examples on which a candidate is best (ties count for each), so that a
/// candidate best somewhere keeps a chance even when its mean is lower.
fn pick_parent(pool: &[Candidate], n: usize, r: &mut fastrand::Rng) -> usize {
    let mut wins = vec![0usize; pool.len()];
    for j in 0..n {
        let top = pool.iter().map(|c| c.val[j]).fold(f64::MIN, f64::max);
        for (c, cand) in pool.iter().enumerate() {
            if cand.val[j] >= top - 1e-9 {
                wins[c] += 1;
            }
        }
    }
    let total: usize = wins.iter().sum::<usize>().max(1);
    let mut pick = r.usize(..total);
    wins.iter()
        .position(|w| {
            if pick < *w {
                true
            } else {
                pick -= w;
                false
            }
        })
        .unwrap_or(0)
}

/// The whole GEPA run: `num_trials` reflections.
pub async fn run(ctx: &Context<'_>) -> Result<Outcome, OptimizeError> {
    let s = ctx.settings;
    let scorer = Scorer::new(ctx);
    let demos = ctx.base_demos;
    let report = |trial: usize, best: f64, phase: &'static str| {
        (ctx.progress)(&Progress {
            trial,
            total: s.num_trials,
            best,
            phase,
        })
    };
    let base_program = scorer.program(ctx.base_instructions, demos);
    let base_scores = scorer.scores(&base_program, ctx.val).await?;
    let mut pool = vec![Candidate {
        instruction: ctx.base_instructions.to_string(),
        val: per_example(ctx.val, &base_scores),
    }];
    let baseline = pool[0].mean();
    report(0, baseline, "reflecting");
    let description = describe(ctx.signature);
    let mut stopped = None;
    let mut trials = 0;
    for it in 0..s.num_trials {
        let mut r = rng(s.seed, "gepa", it as u64);
        let parent = pick_parent(&pool, ctx.val.len(), &mut r);
        let mut idx: Vec<usize> = (0..ctx.train.len()).collect();
        r.shuffle(&mut idx);
        let batch: Vec<Turn> = idx
            .into_iter()
            .take(s.reflection_minibatch)
            .map(|k| ctx.train[k].clone())
            .collect();
        let step = async {
            let parent_prog = scorer.program(&pool[parent].instruction, demos);
            let parent_scores = scorer.scores(&parent_prog, &batch).await?;
            let inputs = reflection_inputs(
                &description,
                &pool[parent].instruction,
                feedback(&batch, &parent_scores),
            );
            let child = run_prompt(ctx.lm, &ctx.prompts.reflect, inputs, it as u32)
                .await
                .map_err(EvalError::from_lm)?
                .and_then(|o| {
                    o.get("instruction")
                        .and_then(Value::as_str)
                        .map(|t| t.trim().to_string())
                })
                .filter(|t| !t.is_empty() && pool.iter().all(|c| &c.instruction != t));
            let Some(child) = child else {
                return Ok::<_, EvalError>((None, 0.0, 0.0, None));
            };
            let child_prog = scorer.program(&child, demos);
            let child_scores = scorer.scores(&child_prog, &batch).await?;
            let (ps, cs) = (
                parent_scores.iter().map(|x| x.score).sum::<f64>(),
                child_scores.iter().map(|x| x.score).sum::<f64>(),
            );
            if cs <= ps {
                return Ok((Some(child), ps, cs, None));
            }
            let val_scores = scorer.scores(&child_prog, ctx.val).await?;
            Ok((Some(child), ps, cs, Some(per_example(ctx.val, &val_scores))))
        };
        let (child, ps, cs, val) = match step.await {
            Ok(x) => x,
            Err(EvalError::Budget { reason, .. }) => {
                stopped = Some(reason);
                break;
            }
            Err(e) => return Err(e.into()),
        };
        trials += 1;
        let accepted = val.is_some();
        let val_mean = val
            .as_ref()
            .map(|v| v.iter().sum::<f64>() / v.len().max(1) as f64);
        if let Ok(mut log) = ctx.log.lock()
            && log
                .replay(|e| {
                    matches!(e, Entry::Gepa { iteration, .. } if *iteration == it).then_some(())
                })
                .is_none()
        {
            log.write(&Entry::Gepa {
                iteration: it,
                parent,
                accepted,
                minibatch_parent: ps,
                minibatch_child: cs,
                val: val_mean,
                child: child.clone(),
            });
        }
        if let (Some(instruction), Some(val)) = (child, val) {
            pool.push(Candidate { instruction, val });
        }
        let best = pool.iter().map(Candidate::mean).fold(f64::MIN, f64::max);
        report(it + 1, best, "reflecting");
    }
    // The winner: best mean val score; the base wins ties, so nothing worse ships.
    let (wi, best_val) = pool.iter().enumerate().fold((0, baseline), |acc, (i, c)| {
        if c.mean() > acc.1 { (i, c.mean()) } else { acc }
    });
    let full_scores = pool
        .iter()
        .enumerate()
        .map(|(i, c)| (i, 0, c.mean()))
        .collect();
    Ok(Outcome {
        instructions: pool[wi].instruction.clone(),
        demos: demos.to_vec(),
        baseline_val: baseline,
        best_val,
        trials,
        candidates: pool.iter().map(|c| c.instruction.clone()).collect(),
        full_scores,
        winner: (wi, 0),
        stopped,
        lost_examples: scorer.lost(),
    })
}
