//! `promptc eval` and `promptc plan`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

pub use crate::app::data::{SplitName, examples, program};
pub use crate::app::progress::eval as progress;
use crate::commands::{Context, Output, UsageError};
use crate::eval::{EvalReport, Program};
use crate::lm::settings::Tokens;
use crate::lm::{LmClient, Provider, Role};
use crate::pack;
use crate::program::messages;

/// " — simulated: the task and judge LMs were `sim`", or nothing.
pub fn simulated_note(roles: &[Role]) -> String {
    if roles.is_empty() {
        return String::new();
    }
    let names: Vec<String> = roles.iter().map(Role::to_string).collect();
    format!(
        " — simulated scores, not a real model's: the {} LM{} {} `sim`",
        names.join(" and "),
        if roles.len() > 1 { "s" } else { "" },
        if roles.len() > 1 { "were" } else { "was" }
    )
}

/// `eval`.
pub async fn eval(
    ctx: &Context,
    pack_path: Option<&Path>,
    adapter: Option<crate::program::Adapter>,
    which: SplitName,
    limit: Option<usize>,
) -> anyhow::Result<Output> {
    let (path, mut program) = program(ctx, pack_path)?;
    if let Some(a) = adapter
        && a != program.adapter
    {
        // The same instructions and demos, rendered for the other adapter.
        // The file `program` read, or the pack derived from the signature when
        // there is none yet; a load error is an error, never a silent fallback.
        let mut pack = if path.exists() {
            pack::load(&path, Some(&ctx.signature))?.pack
        } else {
            ctx.current_pack()?.pack
        };
        if let Some(p) = pack.prompt_mut() {
            p.adapter = a;
        }
        pack.refresh_rendered();
        program = Program::from_pack(&pack)
            .ok_or_else(|| UsageError(format!("{}: no program to evaluate", path.display())))?;
    }
    let examples = examples(ctx, which, limit)?;
    let lm = LmClient::from_config(&ctx.config)?;
    // An evaluation can wait: with batches enabled its calls go out as batches.
    lm.set_batching(ctx.config.batch.enabled);
    let metric = ctx.metric()?;
    let evaluator = ctx.evaluator(&lm, &metric);
    let report = evaluator
        .evaluate(&program, &examples, &progress("eval", &lm))
        .await?;
    let usage = lm.usage();
    let sim_roles = lm.simulated_roles();
    let sim = !sim_roles.is_empty();
    let json = json!({
        "score": report.score,
        "n": report.n,
        "failed": report.failed,
        "errors": report.errors,
        "retried": report.retried,
        "dimensions": report.dimensions,
        "lm": crate::commands::lm_json(&usage),
        "worst": worst(&report, 5),
        "pack": path,
        "split": which,
        "simulated": sim,
        "adapter": program.adapter.as_str(),
        "judge_fallbacks": metric.combined_fallbacks(),
        "judge_disagreement": metric.judge_disagreement(),
    });
    let mut h = String::new();
    let _ = writeln!(
        h,
        "{} on {} ({} split, {} examples){}",
        ctx.name,
        path.display(),
        which,
        report.n,
        simulated_note(&sim_roles)
    );
    let _ = writeln!(
        h,
        "  score {:.1} / 100   (failed to parse: {}, LM errors: {})",
        report.score, report.failed, report.errors
    );
    let width = report.dimensions.keys().map(|k| k.len()).max().unwrap_or(0);
    for (d, v) in &report.dimensions {
        let _ = writeln!(h, "  {d:<width$}  {v:6.1}");
    }
    let cost = match usage.cost_usd {
        Some(c) => format!("${c:.4}"),
        None => "unknown".into(),
    };
    let _ = writeln!(
        h,
        "  LM: {} calls, {} cache hits, {} input / {} output tokens, cost {cost}",
        usage.calls, usage.cache_hits, usage.input_tokens, usage.output_tokens
    );
    let worst = worst(&report, 5);
    if !worst.is_empty() {
        let _ = writeln!(h, "worst examples:");
        for w in &worst {
            let _ = writeln!(
                h,
                "  {} {:.1}",
                w["id"].as_str().unwrap_or(""),
                w["score"].as_f64().unwrap_or(0.0)
            );
            if let Some(f) = w["failed"].as_str() {
                let _ = writeln!(h, "    unparsable answer: {f}");
            }
            if let Some(r) = w["rationales"].as_object() {
                for (d, text) in r {
                    let _ = writeln!(h, "    {d}: {}", text.as_str().unwrap_or(""));
                }
            }
        }
    }
    Ok(Output::ok(json, h))
}

fn worst(report: &EvalReport, n: usize) -> Vec<Value> {
    let mut v: Vec<_> = report.examples.iter().collect();
    v.sort_by(|a, b| a.score.total_cmp(&b.score).then_with(|| a.id.cmp(&b.id)));
    v.into_iter()
        .take(n)
        .map(|s| json!({"id": s.id, "score": s.score, "failed": s.failed, "rationales": s.rationales}))
        .collect()
}

/// `plan --optimizer O [--smoke]`: the LM calls of an optimizer run, an upper
/// bound for a cold cache (minibatch examples scored again in a full
/// evaluation are not called twice, so a run usually makes fewer).
pub fn plan_optimizer(
    ctx: &Context,
    name: crate::config::OptimizerName,
    smoke: bool,
) -> anyhow::Result<Output> {
    let base = ctx.current_pack()?;
    let data = crate::commands::optimize::run_data(ctx, &base.pack, smoke)?;
    let s = crate::optimize::Settings::from_config(&ctx.config.optimizer, name, smoke);
    let metric = ctx.metric()?;
    let j = metric.judge_calls_per_example();
    let (train, val) = (data.train.len(), data.val.len());
    // Examples scored, each one task call and `j` judge calls.
    let crate::optimize::CallPlan { examples, proposer } = crate::optimize::by_name(name)
        .plan_calls(
            &s,
            crate::optimize::PlanSizes {
                train,
                val,
                base_has_demos: base.pack.prompt().is_some_and(|p| !p.demos.is_empty()),
            },
        );
    // Dollars of the task and judge calls: val's tokens per example times
    // the examples scored; and of the proposer's calls as far as they are
    // known before the run (see `proposer_tokens`).
    let program = crate::eval::Program::from_pack(&base.pack);
    let proposer_tokens = match base.pack.prompt() {
        Some(prompt) => Some(proposer_tokens(
            ctx,
            name,
            &s,
            &data.train,
            &prompt.instructions,
        )?),
        None => None,
    };
    let cost = match (&program, data.val.is_empty()) {
        (Some(program), false) => {
            let (t, jd) = estimate_tokens(program, &metric, &data.val);
            let per = |x: u64| x * examples as u64 / data.val.len() as u64;
            let scale = |t: Tokens| Tokens {
                input: per(t.input),
                cached_input: per(t.cached_input),
                cache_write: per(t.cache_write),
                output: per(t.output),
            };
            pricings(ctx, scale(t), scale(jd), proposer_tokens.map(|(t, _)| t))
        }
        _ => Value::Null,
    };
    let json = json!({
        "lm_calls": {"task": examples, "judge": examples * j, "proposer": proposer},
        "cost_usd": cost.get("live").cloned().unwrap_or(Value::Null),
        "cost_usd_by_pricing": cost,
        "proposer_priced": match proposer_tokens {
            Some((_, ProposerOutput::AtMost)) => "answers at lms.proposer.max_tokens",
            Some((_, ProposerOutput::Estimated)) => "answers estimated at today's instructions' length",
            None => "not priced",
        },
        "optimizer": name,
        "smoke": smoke,
        "train": train,
        "val": val,
        "note": "upper bound for a cold cache; scores already measured are not called again, and cached calls are free",
    });
    let at = |k: &str| {
        cost.get(k)
            .and_then(Value::as_f64)
            .map(|c| format!("${c:.4}"))
            .unwrap_or_else(|| "unknown".into())
    };
    let proposer_priced = match proposer_tokens {
        Some((_, ProposerOutput::AtMost)) => {
            "proposer calls included, their answers at lms.proposer.max_tokens each"
        }
        Some((_, ProposerOutput::Estimated)) => {
            "proposer calls included, their answers estimated at the length of today's instructions (set lms.proposer.max_tokens for a bound)"
        }
        None => {
            "proposer calls not priced (today's pack has no instructions to stand in for theirs)"
        }
    };
    let h = format!(
        "{name:?} on {} ({train} train / {val} val{}): at most {examples} task + {} judge + {proposer} proposer LM calls (cold cache)\n  dollars (task and judge calls at most): {} live, {} with prompt caching (the optimizer calls live, never through batches); {proposer_priced}\n",
        ctx.name,
        if smoke { ", smoke" } else { "" },
        examples * j,
        at("live"),
        at("prompt_cache"),
    );
    Ok(Output::ok(json, h))
}

/// What a proposer answer's tokens are counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProposerOutput {
    /// `lms.proposer.max_tokens` each: a bound.
    AtMost,
    /// Today's instructions' length each: the proposer writes instructions
    /// (and the summarizer a few observations), and nothing bounds them.
    Estimated,
}

/// The tokens of a run's proposer calls, rendered as the run will render
/// them with today's instructions standing in for each answer the prompts
/// quote (MIPRO: the summaries and the proposals; GEPA: the reflections,
/// their feedback at its bound), and how their answers were counted.
fn proposer_tokens(
    ctx: &Context,
    name: crate::config::OptimizerName,
    s: &crate::optimize::Settings,
    train: &[crate::traces::Turn],
    instructions: &str,
) -> anyhow::Result<(Tokens, ProposerOutput)> {
    use crate::config::OptimizerName;
    let tokens = |s: &str| (s.len() as u64).div_ceil(4);
    let prompts = crate::commands::optimize::own_prompts(ctx)?;
    let calls = match name {
        OptimizerName::Mipro => crate::optimize::mipro::planned_proposer_calls(
            s,
            &ctx.signature,
            &prompts,
            train,
            instructions,
            instructions,
        ),
        OptimizerName::Gepa => crate::optimize::gepa::planned_reflection_calls(
            s,
            &ctx.signature,
            &prompts,
            instructions,
        ),
    };
    let (per_answer, counted) = match ctx.config.lms.get(Role::Proposer).max_tokens {
        Some(max) => (u64::from(max), ProposerOutput::AtMost),
        None => (tokens(instructions), ProposerOutput::Estimated),
    };
    let mut t = Tokens::default();
    for (program, inputs) in &calls {
        for m in messages(&program.signature, &program.system, inputs) {
            t.input += tokens(&m.content);
        }
        t.output += per_answer;
    }
    Ok((t, counted))
}

/// The tokens an evaluation of `program` on `examples` needs, task and
/// judge: the task prompt as rendered; its answer and the judges' prompts
/// estimated with the logged outputs standing in for the prediction. The
/// task's system prompt counts as read from the provider's cache after its
/// first use, when it is long enough for a provider to cache it.
fn estimate_tokens(
    program: &crate::eval::Program,
    metric: &crate::metric::Metric,
    examples: &[crate::traces::Turn],
) -> (Tokens, Tokens) {
    let tokens = |s: &str| (s.len() as u64).div_ceil(4);
    let mut task = Tokens::default();
    let mut judge = Tokens::default();
    let mut systems = std::collections::HashSet::new();
    for ex in examples {
        let system = program.system_for(ex);
        let cacheable = tokens(system) >= MIN_CACHED_PREFIX_TOKENS;
        if cacheable && !systems.insert(system.to_string()) {
            task.cached_input += tokens(system);
        } else if cacheable {
            task.cache_write += tokens(system);
        }
        for m in messages(&program.signature, system, &ex.inputs) {
            task.input += tokens(&m.content);
        }
        task.output += ex
            .outputs
            .values()
            .map(|v| tokens(&crate::program::render_value(Some(v))))
            .sum::<u64>()
            + 12;
        for d in metric.dimension_names() {
            if let Ok(p) = metric.render_judge(d, ex, &ex.outputs) {
                judge.input += tokens(&p);
            }
        }
    }
    judge.output = (examples.len() * metric.judge_calls_per_example()) as u64 * 60;
    (task, judge)
}

/// The dollars of these task and judge tokens under the configured prices:
/// live, with the prompt cache, through batches, and both (`null` where a
/// price is unknown).
fn pricings(ctx: &Context, task: Tokens, judge: Tokens, proposer: Option<Tokens>) -> Value {
    let price = |role: Role| -> Option<crate::config::Price> {
        let lm = ctx.config.lms.get(role);
        if lm.provider == Provider::Sim {
            return Some(crate::config::Price::FREE);
        }
        ctx.config.prices.get(&lm.label()).cloned()
    };
    let dollars = |cached: bool, batched: bool| -> Option<f64> {
        let of = |role: Role, t: Tokens| {
            let t = if cached {
                t
            } else {
                Tokens {
                    cached_input: 0,
                    cache_write: 0,
                    ..t
                }
            };
            price(role).map(|p| p.cost(t, batched))
        };
        // The proposer's calls never go through batches and share no
        // cached prefix: priced live whatever the setting.
        let proposer = match proposer {
            Some(t) => price(Role::Proposer)?.cost(t, false),
            None => 0.0,
        };
        Some(of(Role::Task, task)? + of(Role::Judge, judge)? + proposer)
    };
    json!({
        "live": dollars(false, false),
        "prompt_cache": dollars(true, false),
        "batch": dollars(false, true),
        "batch_and_prompt_cache": dollars(true, true),
    })
}

/// `plan`: the LM calls, tokens and cost an evaluation will need, before it
/// runs, and what the next A/B could detect for each choice of task samples.
pub fn plan(
    ctx: &Context,
    pack_path: Option<&Path>,
    which: SplitName,
    limit: Option<usize>,
    ab_report: Option<&Path>,
) -> anyhow::Result<Output> {
    let (_, program) = program(ctx, pack_path)?;
    let examples = examples(ctx, which, limit)?;
    let metric = ctx.metric()?;
    let per_judge = metric.judge_calls_per_example();
    let n = examples.len();
    let (task, judge) = estimate_tokens(&program, &metric, &examples);
    let costs = pricings(ctx, task, judge, None);
    let cost_usd = costs["live"].as_f64();
    let (task_in, task_out, judge_in, judge_out) =
        (task.input, task.output, judge.input, judge.output);
    let power = crate::app::power::plan(ctx, ab_report)?;
    let json = json!({
        "detectable_lift": power.as_ref().ok().map(|p| p.choices[0].detectable_lift),
        "power": match &power {
            Ok(p) => serde_json::to_value(p)?,
            Err(why) => json!({"unknown": why}),
        },
        "lm_calls": {"task": n, "judge": n * per_judge, "proposer": 0},
        "tokens": {"task": {"input": task_in, "output": task_out}, "judge": {"input": judge_in, "output": judge_out}},
        "cost_usd": cost_usd,
        "cost_usd_by_pricing": costs,
        "cached_input_tokens": task.cached_input,
        "examples": n,
        "split": which,
        "note": "upper bound for a cold cache; cached calls are free. Parse failures add one task call each.",
    });
    let mut h = format!(
        "eval of {} on {n} {} examples: {} task + {} judge LM calls (cold cache), ~{} input / ~{} output tokens, cost {}\n",
        ctx.name,
        which,
        n,
        n * per_judge,
        task_in + judge_in,
        task_out + judge_out,
        cost_usd
            .map(|c| format!("${c:.4}"))
            .unwrap_or_else(|| "unknown (no prices for these models)".into())
    );
    h.push_str(&pricing_text(&costs, task, ctx.config.batch.enabled));
    h.push_str(&power_text(&power));
    Ok(Output::ok(json, h))
}

/// The shortest prompt prefix providers cache (OpenAI and most Anthropic
/// models: 1,024 tokens); a shorter system prompt is never read from a cache.
const MIN_CACHED_PREFIX_TOKENS: u64 = 1024;

/// What the evaluation would cost under each pricing, for a person.
fn pricing_text(costs: &Value, task: Tokens, batch_on: bool) -> String {
    let at = |k: &str| {
        costs[k]
            .as_f64()
            .map(|c| format!("${c:.4}"))
            .unwrap_or_else(|| "unknown".into())
    };
    let cache_note = if task.cached_input > 0 {
        format!(
            "~{} task input tokens read from the provider's prompt cache: the system prompt after its first use",
            task.cached_input
        )
    } else {
        format!(
            "nothing cached: the system prompt is shorter than the {MIN_CACHED_PREFIX_TOKENS} tokens providers cache"
        )
    };
    format!(
        "  pricing: live {}; with prompt caching {} ({cache_note}); through --batch {}; both {}{}\n",
        at("live"),
        at("prompt_cache"),
        at("batch"),
        at("batch_and_prompt_cache"),
        if batch_on {
            " (batch.enabled is on)"
        } else {
            ""
        }
    )
}

/// The power plan for a person.
fn power_text(power: &Result<crate::app::power::Power, String>) -> String {
    let p = match power {
        Ok(p) => p,
        Err(why) => return format!("A/B power: unknown ({why})\n"),
    };
    let mut h = format!(
        "A/B power on {} held-out examples, at a first look's {}% level (spread {:.1} from {}):\n",
        p.n,
        crate::ab::percent(p.confidence),
        p.spread.paired_sd,
        p.source
    );
    for c in &p.choices {
        h.push_str(&format!(
            "  ab.task_samples {}: detects about {:+.1} (80% power); {} task + {} judge LM calls\n",
            c.task_samples, c.detectable_lift, c.lm_calls.task, c.lm_calls.judge
        ));
    }
    if let Some(a) = &p.assumes {
        h.push_str(&format!("  (assumes {a})\n"));
    }
    h
}
