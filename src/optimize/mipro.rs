//! MIPROv2-style search: demo sets, grounded instruction proposals, then TPE
//! over (instruction, demo set) with minibatch scoring and periodic full
//! evaluation of the most promising untested combination.

use std::collections::HashMap;

use futures::StreamExt;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesOrdered;

use serde_json::{Map, Value};

use super::background::{Background, Combo, Done, best_of};
use super::log::Entry;
use super::tpe::Tpe;
use super::window::Window;
use super::{
    Context, OptimizeError, Outcome, Progress, Scorer, demo, describe, examples_json, rng,
    run_prompt,
};
use crate::eval::EvalError;
use crate::lm::client::in_rank;
use crate::pack::Demo;
use crate::traces::Turn;

/// One direction per proposal, drawn at random: variety in the candidates is
/// what gives the search something to choose from.
pub const TIPS: [(&str, &str); 6] = [
    (
        "creative",
        "Try an unusual angle: an instruction that approaches the task differently from the current one.",
    ),
    (
        "simple",
        "Keep it simple: a short, clear instruction with only the rules that matter most.",
    ),
    (
        "description",
        "Make the instruction descriptive: say what each input that matters is for and how to use it.",
    ),
    (
        "high_stakes",
        "Frame the task as high-stakes: spell out what a bad answer would cost and what must never happen.",
    ),
    (
        "persona",
        "Anchor the answer in who is speaking: the instruction should make the voice and expertise unmistakable.",
    ),
    ("none", ""),
];

fn map(pairs: &[(&str, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect()
}

/// Stops cleanly on a budget cap; everything else is an error.
fn budget(e: EvalError) -> Result<String, OptimizeError> {
    match e {
        EvalError::Budget { reason, .. } => Ok(reason),
        other => Err(other.into()),
    }
}

/// The error of a run whose budget ran out before today's program was
/// scored: without today's score no outcome can be reported.
fn baseline_unscored(reason: &str) -> OptimizeError {
    OptimizeError::Log(format!(
        "budget exhausted before the baseline was scored: {reason}"
    ))
}

/// Files finished background full evaluations: a score into `full`; a
/// spent budget stops the search.
fn absorb(
    done: Vec<Done>,
    full: &mut HashMap<Combo, f64>,
    stopped: &mut Option<String>,
) -> Result<(), OptimizeError> {
    for (combo, result) in done {
        match result {
            Ok(v) => {
                full.insert(combo, v);
            }
            Err(e) => {
                let reason = budget(e)?;
                stopped.get_or_insert(reason);
            }
        }
    }
    Ok(())
}

/// The demo sets: today's demos, zero-shot, labelled-only, then bootstrapped.
/// Returns the sets and the index of today's.
pub async fn demo_sets(
    ctx: &Context<'_>,
    scorer: &Scorer<'_>,
) -> Result<(Vec<Vec<Demo>>, usize), OptimizeError> {
    let s = ctx.settings;
    // Today's demos first, so that combination (0, 0) is the pack running today.
    let mut sets: Vec<Vec<Demo>> = vec![ctx.base_demos.to_vec()];
    let base_idx = 0;
    if !ctx.base_demos.is_empty() && s.num_demo_sets > 1 {
        sets.push(Vec::new());
    }
    if ctx.train.is_empty() || sets.len() >= s.num_demo_sets {
        return Ok((sets, base_idx));
    }
    let labelled = |k: u64, exclude: &[String], n: usize| -> Vec<Demo> {
        let mut idx: Vec<usize> = (0..ctx.train.len())
            .filter(|i| !exclude.contains(&ctx.train[*i].id.0))
            .collect();
        rng(s.seed, "labelled", k).shuffle(&mut idx);
        idx.into_iter()
            .take(n)
            .map(|i| demo(&ctx.train[i], ctx.train[i].outputs.clone()))
            .collect()
    };
    sets.push(labelled(0, &[], s.max_labeled_demos));

    // Bootstrapping: run today's program over a pool of train once, concurrently,
    // and keep the answers the metric scores well as demos.
    let bootstrapped = s.num_demo_sets.saturating_sub(sets.len());
    if bootstrapped > 0 {
        let mut pool: Vec<Turn> = ctx.train.to_vec();
        rng(s.seed, "bootstrap-pool", 0).shuffle(&mut pool);
        pool.truncate((bootstrapped * s.max_bootstrapped_demos * 3).max(16));
        let program = scorer.program(ctx.base_instructions, ctx.base_demos);
        let scores = scorer.scores(&program, &pool).await?;
        let mean = scores.iter().map(|x| x.score).sum::<f64>() / scores.len().max(1) as f64;
        let threshold = mean.max(50.0);
        let passing: Vec<(&Turn, Map<String, Value>)> = scores
            .iter()
            .filter(|x| x.failed.is_none() && x.score >= threshold)
            .filter_map(|x| Some((pool.iter().find(|t| t.id.0 == x.id)?, x.prediction.clone()?)))
            .collect();
        for k in 0..bootstrapped {
            let mut chosen: Vec<(&Turn, Map<String, Value>)> = passing.clone();
            rng(s.seed, "bootstrap-set", k as u64).shuffle(&mut chosen);
            chosen.truncate(s.max_bootstrapped_demos);
            let mut set: Vec<Demo> = chosen.into_iter().map(|(t, out)| demo(t, out)).collect();
            if set.len() < s.max_labeled_demos {
                let ids: Vec<String> = set.iter().map(|d| d.trace_id.0.clone()).collect();
                set.extend(labelled(
                    k as u64 + 1,
                    &ids,
                    s.max_labeled_demos - set.len(),
                ));
            }
            sets.push(set);
        }
    }
    Ok((sets, base_idx))
}

/// The train batches the dataset summary reads, in order: up to three of eight.
fn summary_batches(seed: u64, train: &[Turn]) -> Vec<Vec<&Turn>> {
    let mut shuffled: Vec<&Turn> = train.iter().collect();
    rng(seed, "summary", 0).shuffle(&mut shuffled);
    shuffled.chunks(8).take(3).map(<[&Turn]>::to_vec).collect()
}

/// The inputs of one summary call: a batch, and the observations so far.
fn summary_inputs(description: &str, batch: &[&Turn], observations: &str) -> Map<String, Value> {
    map(&[
        ("program_description", description.to_string()),
        ("examples", examples_json(batch, 400)),
        ("previous_observations", observations.to_string()),
    ])
}

/// The inputs of proposal `i`: the summary, up to three demos, today's
/// instruction, and the proposal's own seeded tip.
fn proposal_inputs(
    seed: u64,
    i: usize,
    description: &str,
    observations: &str,
    demos: &[&Turn],
    current_instruction: &str,
) -> Map<String, Value> {
    let (_, tip) = TIPS[rng(seed, "tip", i as u64).usize(..TIPS.len())];
    map(&[
        ("program_description", description.to_string()),
        ("dataset_summary", observations.to_string()),
        ("demos", examples_json(demos, 400)),
        ("current_instruction", current_instruction.to_string()),
        ("previous_attempts", String::new()),
        ("tip", tip.to_string()),
    ])
}

/// The proposer requests of a MIPRO run, as far as they are known before it
/// runs, for pricing: each call's prompt program and inputs. The summaries
/// read the same train batches the run will; each observation and the
/// summary stand in as `observation` (the proposer's answers are not known
/// yet), and train examples with their logged outputs stand in for the
/// demos a proposal is shown (bootstrapped demos are train examples too).
pub fn planned_proposer_calls<'p>(
    s: &super::Settings,
    sig: &crate::signature::Signature,
    prompts: &'p super::OwnPrompts,
    train: &[Turn],
    current_instruction: &str,
    observation: &str,
) -> Vec<(&'p crate::eval::Program, Map<String, Value>)> {
    if s.num_candidates <= 1 {
        return Vec::new();
    }
    let description = describe(sig);
    let mut calls = Vec::new();
    let mut observations = String::new();
    for batch in summary_batches(s.seed, train) {
        calls.push((
            &prompts.summarize,
            summary_inputs(&description, &batch, &observations),
        ));
        if !observations.is_empty() {
            observations.push('\n');
        }
        observations.push_str(observation);
    }
    let shown: Vec<&Turn> = train.iter().take(3).collect();
    for i in 1..s.num_candidates {
        calls.push((
            &prompts.propose,
            proposal_inputs(
                s.seed,
                i,
                &description,
                &observations,
                &shown,
                current_instruction,
            ),
        ));
    }
    calls
}

/// The dataset summary the proposer is grounded in, built over a few
/// batches of train (each batch sees the observations so far). It needs no
/// demo set, so it runs while the demos are bootstrapped.
pub async fn summarize(ctx: &Context<'_>) -> Result<String, OptimizeError> {
    let s = ctx.settings;
    let mut observations = String::new();
    if s.num_candidates <= 1 {
        return Ok(observations);
    }
    let description = describe(ctx.signature);
    for (b, batch) in summary_batches(s.seed, ctx.train).iter().enumerate() {
        let inputs = summary_inputs(&description, batch, &observations);
        if let Some(out) = run_prompt(ctx.lm, &ctx.prompts.summarize, inputs, b as u32).await?
            && let Some(Value::String(o)) = out.get("observations")
        {
            if !observations.is_empty() {
                observations.push('\n');
            }
            observations.push_str(o.trim());
        }
    }
    Ok(observations)
}

/// The grounded proposer: candidate 0 is today's instruction, the others are
/// proposals from the dataset summary, the program's description, demos and a tip.
pub async fn propose(
    ctx: &Context<'_>,
    sets: &[Vec<Demo>],
    observations: &str,
) -> Result<Vec<String>, OptimizeError> {
    let s = ctx.settings;
    let description = describe(ctx.signature);
    let mut candidates = vec![ctx.base_instructions.to_string()];
    if s.num_candidates <= 1 {
        return Ok(candidates);
    }
    let calls = (1..s.num_candidates).map(|i| {
        let shown: Vec<&Demo> = sets
            .iter()
            .filter(|set| !set.is_empty())
            .nth(i % sets.iter().filter(|set| !set.is_empty()).count().max(1))
            .map(|set| set.iter().take(3).collect())
            .unwrap_or_default();
        let demo_turns: Vec<Turn> = shown
            .iter()
            .map(|d| Turn {
                id: d.trace_id.clone(),
                thread: String::new(),
                workspace: None,
                ts: None,
                persona: None,
                pack: None,
                clean: true,
                inputs: d.inputs.clone(),
                outputs: d.outputs.clone(),
                feedback: Default::default(),
            })
            .collect();
        let inputs = proposal_inputs(
            s.seed,
            i,
            &description,
            observations,
            &demo_turns.iter().collect::<Vec<_>>(),
            ctx.base_instructions,
        );
        async move { run_prompt(ctx.lm, &ctx.prompts.propose, inputs, i as u32).await }
    });
    for out in futures::future::try_join_all(calls)
        .await?
        .into_iter()
        .flatten()
    {
        if let Some(Value::String(text)) = out.get("instruction") {
            let text = text.trim().to_string();
            if !text.is_empty() && !candidates.contains(&text) {
                candidates.push(text);
            }
        }
    }
    Ok(candidates)
}

/// Combination (instruction `i`, demo set `d`) on all of val, or its score
/// from a resumed log.
async fn full_eval(
    ctx: &Context<'_>,
    scorer: &Scorer<'_>,
    program: crate::eval::Program,
    (i, d): Combo,
) -> Result<f64, EvalError> {
    let key = format!("{i}:{d}");
    let replayed = ctx.log.lock().ok().and_then(|l| {
        l.replay(|e| match e {
            Entry::Full { combo, score, .. } if *combo == key => Some(*score),
            _ => None,
        })
    });
    if let Some(score) = replayed {
        return Ok(score);
    }
    let score = scorer.mean(&program, ctx.val).await?;
    if let Ok(mut log) = ctx.log.lock() {
        log.write(&Entry::Full {
            combo: key,
            instruction: i,
            demos: d,
            score,
        });
    }
    Ok(score)
}

/// Logs the candidates and demo sets once (a resumed run has them already).
fn log_candidates(ctx: &Context<'_>, candidates: &[String], sets: &[Vec<Demo>]) {
    if let Ok(mut log) = ctx.log.lock() {
        let ids: Vec<Vec<String>> = sets
            .iter()
            .map(|set| set.iter().map(|d| d.trace_id.0.clone()).collect())
            .collect();
        if log
            .replay(|e| matches!(e, Entry::Candidates { .. }).then_some(()))
            .is_none()
        {
            log.write(&Entry::Candidates {
                instructions: candidates.to_vec(),
                demo_sets: ids,
            });
        }
    }
}

/// The val examples a trial of `combo` is scored on: all of val, or a
/// minibatch (see [`minibatch`]).
fn trial_batch(
    ctx: &Context<'_>,
    minibatch: bool,
    r: &mut fastrand::Rng,
    asked: impl Fn(&Turn) -> bool,
) -> Vec<Turn> {
    if !minibatch {
        return ctx.val.to_vec();
    }
    self::minibatch(ctx.val.len(), ctx.settings.minibatch_size, r, |k| {
        asked(&ctx.val[k])
    })
    .into_iter()
    .map(|k| ctx.val[k].clone())
    .collect()
}

/// `size` of `n` examples, by index, in a seeded order with the examples
/// the combination was never asked first. A combination tried again is
/// then scored on examples its earlier trials left out, so the mean of its
/// trials covers more of val, and once it is chosen for a full evaluation
/// little or nothing is left to ask (a question asked at the end of the
/// search is a task call and then a judge call the run waits for).
fn minibatch(
    n: usize,
    size: usize,
    r: &mut fastrand::Rng,
    asked: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    r.shuffle(&mut idx);
    // Stable: the seeded order within the unasked and within the asked;
    // cached: one lookup per example.
    idx.sort_by_cached_key(|&k| asked(k));
    idx.truncate(size);
    idx
}

/// Trial `t` as a resumed log recorded it: (instruction, demo set, score).
fn replayed_trial(ctx: &Context<'_>, t: usize) -> Option<(usize, usize, f64)> {
    ctx.log.lock().ok().and_then(|l| {
        l.replay(|e| match e {
            Entry::Trial {
                trial,
                instruction,
                demos,
                score,
                ..
            } if *trial == t => Some((*instruction, *demos, *score)),
            _ => None,
        })
    })
}

/// The best-by-mean combination of the minibatch trials not yet scored (or
/// due to be scored) on all of val.
fn next_full(
    by_combo: &HashMap<Combo, Vec<f64>>,
    full: &HashMap<Combo, f64>,
    chosen: &[Combo],
) -> Option<Combo> {
    by_combo
        .iter()
        .filter(|(c, _)| !full.contains_key(*c) && !chosen.contains(*c))
        .map(|(c, v)| (*c, v.iter().sum::<f64>() / v.len() as f64))
        .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|(c, _)| c)
}

/// An example lost late was still in the earlier full scores: every finalist
/// is scored again on the examples that survived (memoized, no new call), so
/// the winner is chosen on one set of examples. Returns the baseline's and the
/// best combination's new scores.
async fn rescore(
    ctx: &Context<'_>,
    scorer: &Scorer<'_>,
    program: &dyn Fn(usize, usize) -> crate::eval::Program,
    base: (usize, usize),
    full: &mut HashMap<(usize, usize), f64>,
    lost: &[String],
) -> Result<(f64, ((usize, usize), f64)), OptimizeError> {
    let baseline = scorer.mean(&program(base.0, base.1), ctx.val).await?;
    let mut best = (base, baseline);
    for ((i, d), v) in full.iter_mut() {
        *v = scorer.mean(&program(*i, *d), ctx.val).await?;
        if *v > best.1 {
            best = ((*i, *d), *v);
        }
    }
    if let Ok(mut log) = ctx.log.lock() {
        log.write(&Entry::Lost {
            examples: lost.to_vec(),
            baseline,
            best: best.1,
        });
    }
    Ok((baseline, best))
}

/// One trial: its point, its examples, and its logged score when a resumed
/// run has it.
struct Planned {
    trial: usize,
    point: Vec<usize>,
    batch: Vec<Turn>,
    replayed: Option<f64>,
}

/// Trial `t`'s proposal, made while the trials before it that are not in
/// `history` are still being scored: those (the `window`'s points) count
/// as scored at the worst score so far (a constant liar), so trials in flight
/// together spread over the space instead of proposing one point five times.
///
/// Which trials are in `history` when trial `t` is planned depends only on
/// the trials' scores and examples, never on which call came back first (see
/// the window in [`run`]), so a proposal depends on the seed and the scores;
/// a resumed run proposes the same points, and a logged trial's point is the
/// one proposed then.
fn plan_trial(
    ctx: &Context<'_>,
    tpe: &Tpe,
    history: &[(Vec<usize>, f64)],
    window: &Window,
    minibatch: bool,
    t: usize,
) -> Planned {
    let (point, replayed) = match replayed_trial(ctx, t) {
        Some((i, d, score)) => (vec![i, d], Some(score)),
        None => {
            let liar = history
                .iter()
                .map(|(_, v)| *v)
                .reduce(f64::min)
                .unwrap_or(0.0);
            let mut lied = history.to_vec();
            lied.extend(window.points().into_iter().map(|p| (p, liar)));
            let point = tpe.suggest(&lied, &mut rng(ctx.settings.seed, "trial", t as u64));
            (point, None)
        }
    };
    // The examples have a stream of their own; which of them the point's
    // combination was already asked is known from the trials and full
    // evaluations planned before this one, so a resumed run draws the same.
    let combo = (point[0], point[1]);
    let batch = trial_batch(
        ctx,
        minibatch,
        &mut rng(ctx.settings.seed, "trial-examples", t as u64),
        |ex| window.was_asked(combo, ex),
    );
    Planned {
        trial: t,
        point,
        batch,
        replayed,
    }
}

/// Scores a trial (or gives its logged score back). Trials in flight at once
/// share the scorer, which asks each question once whichever trial asks it.
async fn score_trial(
    scorer: &Scorer<'_>,
    candidates: &[String],
    sets: &[Vec<Demo>],
    planned: Planned,
) -> (Planned, Result<f64, EvalError>) {
    let result = match planned.replayed {
        Some(score) => Ok(score),
        None => {
            let (i, d) = (planned.point[0], planned.point[1]);
            let program = scorer.program(&candidates[i], &sets[d]);
            // Earlier trials first: the next trial is proposed when the
            // earliest in flight is scored.
            in_rank(
                planned.trial as u64 + 2,
                scorer.mean(&program, &planned.batch),
            )
            .await
        }
    };
    (planned, result)
}

/// The whole MIPRO run.
pub async fn run(ctx: &Context<'_>) -> Result<Outcome, OptimizeError> {
    let s = ctx.settings;
    let scorer = Scorer::new(ctx);
    let report = |trial: usize, best: f64, phase: &'static str| {
        (ctx.progress)(&Progress {
            trial,
            total: s.num_trials,
            best,
            phase,
        })
    };

    report(0, 0.0, "bootstrapping demos");
    // Today's program on all of val needs neither the demo sets nor the
    // proposals, and the dataset summary needs no demo set: the three run
    // at once. Today's calls wait behind those the search's start is
    // waiting on (rank 1), so the bootstrapping and the proposals are done
    // sooner and today's calls fill the places they leave; the trials' calls
    // wait behind today's (ranks 2 and up).
    let today = scorer.program(ctx.base_instructions, ctx.base_demos);
    let mut bg = Background::default();
    bg.start(
        (0, 0),
        false,
        in_rank(1, full_eval(ctx, &scorer, today, (0, 0))),
    );
    let prepared = bg
        .beside(async {
            let (demos, summary) = futures::join!(demo_sets(ctx, &scorer), summarize(ctx));
            let (sets, base_idx) = demos?;
            report(0, 0.0, "proposing instructions");
            let candidates = propose(ctx, &sets, &summary?).await?;
            Ok::<_, OptimizeError>((sets, base_idx, candidates))
        })
        .await;
    let (sets, base_idx, candidates) = prepared?;
    // Combination (0, 0) is today's program (candidate 0 is today's
    // instruction, set 0 today's demos): the baseline started above.
    debug_assert_eq!(base_idx, 0);
    log_candidates(ctx, &candidates, &sets);
    // Every outcome needs today's score, also one whose budget runs out
    // early: under a cap on what is spent, the trials start once it is in,
    // so they cannot spend what it needs. Otherwise they start beside it.
    if ctx.lm.spend_capped() {
        bg.finish().await;
    }
    let mut full: HashMap<Combo, f64> = HashMap::new();
    let mut stopped = None;
    absorb(bg.take(), &mut full, &mut stopped)?;
    // The combinations whose full scores compete, in the order they were
    // chosen: the winner is the first of the best, whatever finished first.
    let mut order: Vec<Combo> = vec![(0, base_idx)];
    let tpe = Tpe::new(vec![candidates.len(), sets.len()]);
    let minibatch = ctx.val.len() > s.minibatch_size;
    let mut history: Vec<(Vec<usize>, f64)> = Vec::new();
    let mut by_combo: HashMap<Combo, Vec<f64>> = HashMap::new();
    let mut trials = 0;
    // Trials are planned one by one as the earliest in flight comes in (see
    // `Window`), so the endpoint never waits for the slowest call of a group
    // of trials before the next is proposed. New questions in flight: about
    // four evaluations' worth, so the next trial is already asking while the
    // earliest in flight finishes its last calls.
    let mut window = Window::new(s.parallel_trials, 4 * ctx.concurrency.max(1));
    window.ask((0, base_idx), ctx.val);
    let mut running: FuturesOrdered<LocalBoxFuture<'_, (Planned, Result<f64, EvalError>)>> =
        FuturesOrdered::new();
    let mut next = 0;
    loop {
        while stopped.is_none() && next < s.num_trials && window.open() {
            let planned = plan_trial(ctx, &tpe, &history, &window, minibatch, next);
            window.start(planned.point.clone(), &planned.batch);
            running.push_back(Box::pin(score_trial(&scorer, &candidates, &sets, planned)));
            next += 1;
            // A periodic full evaluation is chosen as its trial is planned,
            // from the trials scored by then: it then runs beside the trials
            // in flight instead of after them.
            if minibatch
                && next % s.full_eval_every == 0
                && next < s.num_trials
                && let Some(c) = next_full(&by_combo, &full, bg.chosen())
            {
                let program = scorer.program(&candidates[c.0], &sets[c.1]);
                bg.start(c, true, full_eval(ctx, &scorer, program, c));
                window.ask(c, ctx.val);
                order.push(c);
            }
        }
        // In trial order, whatever order they finished in.
        let Some((planned, result)) = bg.beside(running.next()).await else {
            break;
        };
        window.came_in();
        absorb(bg.take(), &mut full, &mut stopped)?;
        let (t, i, d) = (planned.trial, planned.point[0], planned.point[1]);
        let score = match result {
            Ok(v) => v,
            Err(e) => {
                // The trials after it are dropped unscored (and unlogged).
                stopped = Some(budget(e)?);
                break;
            }
        };
        if planned.replayed.is_none()
            && let Ok(mut log) = ctx.log.lock()
        {
            log.write(&Entry::Trial {
                trial: t,
                instruction: i,
                demos: d,
                score,
                examples: planned.batch.len(),
                full: !minibatch,
            });
        }
        trials += 1;
        history.push((vec![i, d], score));
        by_combo.entry((i, d)).or_default().push(score);
        if !minibatch {
            full.insert((i, d), score);
            order.push((i, d));
        } else if t + 1 == s.num_trials
            && let Some(c) = next_full(&by_combo, &full, bg.chosen())
        {
            let program = scorer.program(&candidates[c.0], &sets[c.1]);
            bg.start(c, true, full_eval(ctx, &scorer, program, c));
            window.ask(c, ctx.val);
            order.push(c);
        }
        let shown = best_of(&order, &full).map_or(0.0, |(_, v)| v);
        report(t + 1, shown, "searching");
    }
    drop(running);
    // The full evaluations still under way (those of a stopped search fail
    // at once on the spent budget).
    bg.finish().await;
    absorb(bg.take(), &mut full, &mut stopped)?;
    // A stopped search (no trial starts once `stopped` is set) ends here;
    // without today's score it has no outcome.
    let Some(&baseline) = full.get(&(0, base_idx)) else {
        return Err(baseline_unscored(stopped.as_deref().unwrap_or("")));
    };
    // Today's score is in `full`, so there is always a best.
    let best = best_of(&order, &full).unwrap_or(((0, base_idx), baseline));
    report(trials, best.1, "searching");
    let lost = scorer.lost();
    let (baseline, best) = if !lost.is_empty() && stopped.is_none() {
        let program = |i: usize, d: usize| scorer.program(&candidates[i], &sets[d]);
        rescore(ctx, &scorer, &program, (0, base_idx), &mut full, &lost).await?
    } else {
        (baseline, best)
    };
    let ((wi, wd), best_val) = best;
    let mut full_scores: Vec<(usize, usize, f64)> =
        full.into_iter().map(|((i, d), v)| (i, d, v)).collect();
    full_scores.sort_by_key(|a| (a.0, a.1));
    Ok(Outcome {
        instructions: candidates[wi].clone(),
        demos: sets[wd].clone(),
        baseline_val: baseline,
        best_val,
        trials,
        candidates,
        full_scores,
        winner: (wi, wd),
        stopped,
        lost_examples: lost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_minibatch_takes_the_examples_its_combination_was_never_asked_first() {
        let draw = |asked: &HashSet<usize>, t: u64| {
            minibatch(40, 35, &mut rng(7, "trial-examples", t), |k| {
                asked.contains(&k)
            })
        };
        // Nothing asked yet: the seeded order, cut at 35.
        let first = draw(&HashSet::new(), 0);
        let mut seeded: Vec<usize> = (0..40).collect();
        rng(7, "trial-examples", 0).shuffle(&mut seeded);
        assert_eq!(first, seeded[..35]);
        // The same combination again: the five left out come first, so two
        // trials of it cover all of val.
        let asked: HashSet<usize> = first.iter().copied().collect();
        let second = draw(&asked, 1);
        let left_out: HashSet<usize> = (0..40).filter(|k| !asked.contains(k)).collect();
        assert_eq!(second.len(), 35);
        assert_eq!(
            second[..5].iter().copied().collect::<HashSet<_>>(),
            left_out
        );
        let covered: HashSet<usize> = first.iter().chain(&second).copied().collect();
        assert_eq!(covered.len(), 40);
        // After those five, the asked ones in the trial's own seeded order.
        let mut rest: Vec<usize> = (0..40).collect();
        rng(7, "trial-examples", 1).shuffle(&mut rest);
        rest.retain(|k| asked.contains(k));
        assert_eq!(second[5..], rest[..30]);
    }
}
