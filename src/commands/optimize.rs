//! `promptc optimize`: search for a better pack, write it with its provenance,
//! a run report and the trial log.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use indexmap::IndexMap;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::commands::{Context, Output, UsageError};
use crate::config::OptimizerName;
use crate::lm::{LmClient, Role};
use crate::optimize::{self, OwnPrompts, Progress, Settings, TrialLog};
use crate::pack::{
    BasePack, EmbeddedSignature, OptimizerRun, Pack, PromptPack, Provenance, Rendered, SplitSizes,
};
use crate::traces::Turn;
use crate::traces::split::split;

/// What `optimize` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct OptimizeArgs {
    /// `mipro` or `gepa` (default: the config's).
    pub optimizer: Option<OptimizerName>,
    /// The smoke preset.
    pub smoke: bool,
    /// Optimize instructions per persona too (a v3 pack).
    pub per_persona: bool,
    /// Output folder (default `.promptc/runs/<signature>` beside the config).
    pub out: Option<PathBuf>,
    /// Continue from the trial log in the output folder.
    pub resume: bool,
}

/// The data an optimizer run works on.
pub struct RunData {
    /// Training examples.
    pub train: Vec<Turn>,
    /// Validation examples.
    pub val: Vec<Turn>,
    /// Held-out size (never shown to the optimizer).
    pub heldout: usize,
    /// No train or val trace at or after this instant.
    pub train_cutoff: Option<chrono::DateTime<chrono::Utc>>,
    /// sha256 over the ids of every clean turn read.
    pub fingerprint: String,
}

/// Reads the traces and splits them as the pack in production dictates.
pub fn run_data(ctx: &Context, base: &Pack, smoke: bool) -> anyhow::Result<RunData> {
    let files = ctx.trace_files(&[])?;
    let data = ctx.dataset(&files)?;
    data.report.check_strict(ctx.config.traces.strict)?;
    let mut ids: Vec<&str> = data.turns.iter().map(|t| t.id.0.as_str()).collect();
    ids.sort_unstable();
    let mut h = Sha256::new();
    for id in &ids {
        h.update(id.as_bytes());
        h.update([0]);
    }
    let fingerprint = format!("sha256:{}", hex::encode(h.finalize()));
    let s = split(&data.turns, base.train_cutoff(), &ctx.config.split)?;
    let (mut train, mut val) = (s.train, s.val);
    if smoke {
        train.truncate(8);
        val.truncate(8);
    }
    Ok(RunData {
        train,
        val,
        heldout: s.heldout.len(),
        train_cutoff: s.train_cutoff,
        fingerprint,
    })
}

/// `optimize`.
pub async fn optimize(ctx: &Context, args: &OptimizeArgs) -> anyhow::Result<Output> {
    let lm = LmClient::from_config(&ctx.config)?;
    optimize_with(ctx, args, &lm).await
}

/// `optimize` with a given LM client, whose budget a caller may share with
/// later stages (`ci` runs the A/B on the same one).
pub async fn optimize_with(
    ctx: &Context,
    args: &OptimizeArgs,
    lm: &LmClient,
) -> anyhow::Result<Output> {
    let started = std::time::Instant::now();
    let base_path = ctx.resolve(&ctx.sig_cfg.pack);
    let base = ctx.current_pack()?;
    for w in &base.warnings {
        tracing::warn!("{w}");
    }
    let Some(base_prompt) = base.pack.prompt().cloned() else {
        return Err(UsageError(format!(
            "{}: a promptc.pack/v1 pack has no instructions to optimize",
            base_path.display()
        ))
        .into());
    };
    let name = args.optimizer.unwrap_or(ctx.config.optimizer.name);
    let settings = Settings::from_config(&ctx.config.optimizer, name, args.smoke);
    let data = run_data(ctx, &base.pack, args.smoke)?;
    if data.train.is_empty() || data.val.is_empty() {
        return Err(UsageError(format!(
            "{}: no train or val examples to optimize on",
            ctx.name
        ))
        .into());
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| ctx.config.root().join(".promptc/runs").join(&ctx.name));
    let header = optimize::log::header(&settings, &data.fingerprint, &base.sha256);
    let log = Mutex::new(
        TrialLog::open(&out_dir.join("trials.jsonl"), header, args.resume).map_err(UsageError)?,
    );
    let replayed = log.lock().map(|l| l.replayed()).unwrap_or(0);

    let metric = ctx.metric()?;
    let prompts = OwnPrompts::load().map_err(UsageError)?;
    let progress = progress_line(lm, ctx.config.budget.max_calls);
    // The config's adapter, else the pack's: a run never changes it silently.
    let adapter = ctx.sig_cfg.adapter.unwrap_or(base_prompt.adapter);
    let opt_ctx = optimize::Context {
        lm,
        metric: &metric,
        signature: &ctx.signature,
        adapter,
        train: &data.train,
        val: &data.val,
        base_instructions: &base_prompt.instructions,
        base_demos: &base_prompt.demos,
        settings: &settings,
        concurrency: ctx.config.eval.concurrency,
        max_errors: ctx.config.eval.max_errors,
        max_error_share: ctx.config.eval.max_error_share,
        prompts: &prompts,
        log: &log,
        progress: &progress,
    };
    let outcome = match name {
        OptimizerName::Mipro => optimize::mipro::run(&opt_ctx).await?,
        OptimizerName::Gepa => optimize::gepa::run(&opt_ctx).await?,
    };

    // Per persona: the same search on each persona's traces, from the winner.
    let mut persona_instructions: IndexMap<String, String> = IndexMap::new();
    let mut persona_report = Vec::new();
    if args.per_persona {
        let mut personas: Vec<String> = data
            .train
            .iter()
            .chain(&data.val)
            .filter_map(|t| t.persona.clone())
            .collect();
        personas.sort();
        personas.dedup();
        if personas.is_empty() {
            return Err(UsageError(format!(
                "--per-persona needs signatures.{}.persona_field in the config",
                ctx.name
            ))
            .into());
        }
        for p in personas {
            let train: Vec<Turn> = data
                .train
                .iter()
                .filter(|t| t.persona.as_deref() == Some(&p))
                .cloned()
                .collect();
            let val: Vec<Turn> = data
                .val
                .iter()
                .filter(|t| t.persona.as_deref() == Some(&p))
                .cloned()
                .collect();
            if train.len() < 3 || val.len() < 3 {
                persona_report.push(json!({"persona": p, "skipped": format!("{} train / {} val examples", train.len(), val.len())}));
                continue;
            }
            let header = optimize::log::header(
                &settings,
                &data.fingerprint,
                &format!("{}:{p}", base.sha256),
            );
            let plog = Mutex::new(
                TrialLog::open(
                    &out_dir.join(format!("trials-{p}.jsonl")),
                    header,
                    args.resume,
                )
                .map_err(UsageError)?,
            );
            let pctx = optimize::Context {
                train: &train,
                val: &val,
                base_instructions: &outcome.instructions,
                base_demos: &outcome.demos,
                log: &plog,
                ..opt_ctx
            };
            let po = match name {
                OptimizerName::Mipro => optimize::mipro::run(&pctx).await?,
                OptimizerName::Gepa => optimize::gepa::run(&pctx).await?,
            };
            let kept = po.best_val > po.baseline_val;
            persona_report.push(json!({"persona": p, "baseline_val": po.baseline_val, "best_val": po.best_val, "override": kept}));
            if kept {
                persona_instructions.insert(p, po.instructions);
            }
        }
    }

    let usage = lm.usage();
    let lms: IndexMap<String, String> = Role::ALL
        .iter()
        .map(|r| (r.to_string(), lm.label(*r)))
        .collect();
    let sampling: IndexMap<String, serde_json::Value> = Role::ALL
        .iter()
        .map(|r| (r.to_string(), json!(lm.sampling(*r))))
        .collect();
    let provenance = Provenance {
        sampling,
        tool: format!("promptc {}", crate::VERSION),
        created_at: Some(chrono::Utc::now()),
        optimizer: Some(OptimizerRun {
            name: format!("{name:?}").to_lowercase(),
            settings: serde_json::to_value(&settings)?,
            seed: settings.seed,
        }),
        base_pack: Some(BasePack {
            path: ctx.sig_cfg.pack.display().to_string(),
            sha256: base.sha256.clone(),
        }),
        trace_fingerprint: Some(data.fingerprint.clone()),
        train_cutoff: data.train_cutoff,
        split: Some(SplitSizes {
            train: data.train.len(),
            val: data.val.len(),
            heldout: data.heldout,
        }),
        val_score: Some(outcome.best_val),
        ab: None,
        lms,
    };
    let prompt = PromptPack {
        signature: EmbeddedSignature {
            hash: ctx.signature.hash(),
            spec: ctx.signature.clone(),
        },
        instructions: outcome.instructions.clone(),
        persona_instructions: (!persona_instructions.is_empty()).then_some(persona_instructions),
        demos: outcome.demos.clone(),
        adapter,
        rendered: Rendered {
            system: String::new(),
            personas: None,
        },
        provenance,
    };
    let mut new_pack = if prompt.persona_instructions.is_some() {
        Pack::V3(prompt)
    } else {
        Pack::V2(prompt)
    };
    new_pack.refresh_rendered();
    let pack_path = out_dir.join("pack.json");
    crate::files::write_text(&pack_path, &new_pack.to_json())?;

    let simulated = !lm.simulated_roles().is_empty();
    let improved = outcome.best_val > outcome.baseline_val;
    let report = json!({
        "pack": pack_path,
        "format": new_pack.format().as_str(),
        "optimizer": name,
        "seed": settings.seed,
        "settings": settings,
        "smoke": args.smoke,
        "baseline_val": outcome.baseline_val,
        "best_val": outcome.best_val,
        "improved": improved,
        "trials": outcome.trials,
        "resumed_entries": replayed,
        "winner": {"instruction": outcome.winner.0, "demo_set": outcome.winner.1},
        "candidates": outcome.candidates,
        "full_scores": outcome.full_scores,
        "per_persona": persona_report,
        "stopped": outcome.stopped,
        "lost_examples": outcome.lost_examples,
        "split": {"train": data.train.len(), "val": data.val.len(), "heldout": data.heldout},
        "lm": crate::commands::lm_json(&usage),
        "wall_secs": started.elapsed().as_secs_f64(),
        "simulated": simulated,
    });
    crate::files::write_text(
        &out_dir.join("report.json"),
        &(serde_json::to_string_pretty(&report)? + "\n"),
    )?;

    let mut h = String::new();
    let _ = writeln!(
        h,
        "{}: {} ({}{}), {} trials on {} train / {} val examples{}",
        ctx.name,
        format!("{name:?}").to_lowercase(),
        if args.smoke { "smoke" } else { "full" },
        if replayed > 0 {
            format!(", resumed {replayed} logged steps")
        } else {
            String::new()
        },
        outcome.trials,
        data.train.len(),
        data.val.len(),
        if simulated {
            " — sim LMs: simulated scores"
        } else {
            ""
        }
    );
    let _ = writeln!(
        h,
        "  val score: {:.1} today, {:.1} best {}",
        outcome.baseline_val,
        outcome.best_val,
        if improved {
            "(a new pack)"
        } else {
            "(no candidate beat today's pack; it is kept)"
        }
    );
    if let Some(why) = &outcome.stopped {
        let _ = writeln!(
            h,
            "  stopped early: budget exhausted ({why}); the best so far was kept"
        );
    }
    let cost = usage
        .cost_usd
        .map(|c| format!("${c:.4}"))
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(
        h,
        "  LM: {} calls, {} cache hits, cost {cost}, {:.1}s",
        usage.calls,
        usage.cache_hits,
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        h,
        "  wrote {} and {}",
        pack_path.display(),
        out_dir.join("report.json").display()
    );
    let json = json!({
        "pack": pack_path,
        "baseline_val": outcome.baseline_val,
        "best_val": outcome.best_val,
        "trials": outcome.trials,
        "improved": improved,
        "stopped": outcome.stopped,
        "lm": report["lm"],
        "simulated": simulated,
    });
    Ok(Output::ok(json, h))
}

/// One updating line on a terminal; in CI a line on each new phase, trial or
/// best score, and otherwise at most every few seconds.
fn progress_line<'a>(lm: &'a LmClient, max_calls: Option<u64>) -> impl Fn(&Progress) + Sync + 'a {
    let ticker = crate::commands::progress::Ticker::new(lm);
    move |p: &Progress| {
        let left = max_calls
            .map(|m| format!(", {} calls left", m.saturating_sub(lm.usage().calls)))
            .unwrap_or_default();
        let what = format!(
            "{}: trial {}/{}, best val {:.1}{left}",
            p.phase, p.trial, p.total, p.best
        );
        let key = format!("{} {} {:.1}", p.phase, p.trial, p.best);
        let searching = p.phase != "bootstrapping demos" && p.phase != "proposing instructions";
        let fraction = searching.then(|| p.trial as f64 / p.total.max(1) as f64);
        ticker.update(&key, &what, fraction);
        if p.trial == p.total && searching {
            ticker.finish();
        }
    }
}
