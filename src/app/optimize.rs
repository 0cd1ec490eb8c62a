//! An optimizer run: search for a better pack, write it with its provenance,
//! a run report and the trial log, and return what happened as a typed
//! [`OptimizeRun`] (the `optimize` command prints it; `ci` decides on it).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::app::{Context, UsageError};
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

/// One optimizer run with a given LM client, whose budget a caller may share
/// with later stages (`ci` runs the A/B on the same one). Writes the new pack
/// and `report.json` (this value) to the output folder.
pub async fn run(ctx: &Context, args: &OptimizeArgs, lm: &LmClient) -> anyhow::Result<OptimizeRun> {
    let started = std::time::Instant::now();
    let (base, base_prompt) = base_pack(ctx)?;
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
    let log = Mutex::new(TrialLog::open(
        &out_dir.join("trials.jsonl"),
        header,
        args.resume,
    )?);
    let replayed = log.lock().map(|l| l.replayed()).unwrap_or(0);

    let metric = ctx.metric()?;
    let prompts = own_prompts(ctx)?;
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
    let optimizer = optimize::by_name(name);
    let outcome = optimizer.run(&opt_ctx).await?;

    // Per persona: the same search on each persona's traces, from the winner.
    let (persona_instructions, persona_report) = if args.per_persona {
        let header = |p: &str| {
            optimize::log::header(
                &settings,
                &data.fingerprint,
                &format!("{}:{p}", base.sha256),
            )
        };
        per_persona(
            ctx,
            &opt_ctx,
            optimizer,
            &data,
            &outcome,
            &out_dir,
            &header,
            args.resume,
        )
        .await?
    } else {
        (IndexMap::new(), Vec::new())
    };

    let provenance = provenance(
        ctx,
        lm,
        &settings,
        (&base.sha256, &base.pack.id().0),
        &data,
        outcome.best_val,
    )?;
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
    let (new_pack, pack_path) = write_pack(prompt, &out_dir)?;

    let run = OptimizeRun {
        signature: ctx.name.clone(),
        pack: pack_path,
        report: out_dir.join("report.json"),
        format: new_pack.format().as_str().to_string(),
        optimizer: name,
        seed: settings.seed,
        settings,
        smoke: args.smoke,
        baseline_val: outcome.baseline_val,
        best_val: outcome.best_val,
        improved: outcome.best_val > outcome.baseline_val,
        trials: outcome.trials,
        resumed_entries: replayed,
        winner: Winner {
            instruction: outcome.winner.0,
            demo_set: outcome.winner.1,
        },
        candidates: outcome.candidates,
        full_scores: outcome.full_scores,
        per_persona: persona_report,
        stopped: outcome.stopped,
        lost_examples: outcome.lost_examples,
        split: SplitSizes {
            train: data.train.len(),
            val: data.val.len(),
            heldout: data.heldout,
        },
        usage: lm.usage(),
        wall_secs: started.elapsed().as_secs_f64(),
        simulated: !lm.simulated_roles().is_empty(),
    };
    crate::files::write_text(&run.report, &(serde_json::to_string_pretty(&run)? + "\n"))?;
    Ok(run)
}

/// The pack in production and its prompt (a v1 pack has none to optimize).
fn base_pack(ctx: &Context) -> anyhow::Result<(crate::pack::LoadedPack, PromptPack)> {
    let base = ctx.current_pack()?;
    for w in &base.warnings {
        tracing::warn!("{w}");
    }
    let Some(prompt) = base.pack.prompt().cloned() else {
        return Err(UsageError(format!(
            "{}: a promptc.pack/v1 pack has no instructions to optimize",
            ctx.resolve(&ctx.sig_cfg.pack).display()
        ))
        .into());
    };
    Ok((base, prompt))
}

/// promptc's own prompts, with the config's replacements.
pub fn own_prompts(ctx: &Context) -> anyhow::Result<OwnPrompts> {
    let replacements = ctx
        .config
        .optimizer
        .prompts
        .iter()
        .map(|(name, path)| (name.clone(), ctx.resolve(path)))
        .collect();
    Ok(OwnPrompts::load_with(&replacements).map_err(UsageError)?)
}

/// The new pack (v3 when a persona has its own instructions), rendered and
/// written to `pack.json` in `out_dir`.
fn write_pack(prompt: PromptPack, out_dir: &std::path::Path) -> anyhow::Result<(Pack, PathBuf)> {
    let mut pack = if prompt.persona_instructions.is_some() {
        Pack::V3(prompt)
    } else {
        Pack::V2(prompt)
    };
    pack.refresh_rendered();
    let path = out_dir.join("pack.json");
    crate::files::write_text(&path, &pack.to_json())?;
    Ok((pack, path))
}

/// What a new pack records about how it was made.
fn provenance(
    ctx: &Context,
    lm: &LmClient,
    settings: &Settings,
    (base_sha256, base_id): (&str, &str),
    data: &RunData,
    val_score: f64,
) -> anyhow::Result<Provenance> {
    let lms: IndexMap<String, String> = Role::ALL
        .iter()
        .map(|r| (r.to_string(), lm.label(*r)))
        .collect();
    let sampling: IndexMap<String, serde_json::Value> = Role::ALL
        .iter()
        .map(|r| (r.to_string(), json!(lm.sampling(*r))))
        .collect();
    Ok(Provenance {
        sampling,
        tool: format!("promptc {}", crate::VERSION),
        created_at: Some(chrono::Utc::now()),
        optimizer: Some(OptimizerRun {
            name: format!("{:?}", settings.optimizer).to_lowercase(),
            settings: serde_json::to_value(settings)?,
            seed: settings.seed,
        }),
        base_pack: Some(BasePack {
            path: ctx.sig_cfg.pack.display().to_string(),
            sha256: base_sha256.to_string(),
            id: Some(base_id.to_string()),
        }),
        trace_fingerprint: Some(data.fingerprint.clone()),
        train_cutoff: data.train_cutoff,
        split: Some(SplitSizes {
            train: data.train.len(),
            val: data.val.len(),
            heldout: data.heldout,
        }),
        val_score: Some(val_score),
        ab: None,
        lms,
    })
}

/// The same search on each persona's traces, from the winner: the instructions
/// that beat the winner for a persona, and a line per persona for the report.
#[allow(clippy::too_many_arguments)]
async fn per_persona(
    ctx: &Context,
    opt_ctx: &optimize::Context<'_>,
    optimizer: &dyn optimize::Optimizer,
    data: &RunData,
    outcome: &optimize::Outcome,
    out_dir: &std::path::Path,
    header: &dyn Fn(&str) -> optimize::log::Entry,
    resume: bool,
) -> anyhow::Result<(IndexMap<String, String>, Vec<serde_json::Value>)> {
    let mut persona_instructions = IndexMap::new();
    let mut persona_report = Vec::new();
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
        let of = |turns: &[Turn]| -> Vec<Turn> {
            turns
                .iter()
                .filter(|t| t.persona.as_deref() == Some(&p))
                .cloned()
                .collect()
        };
        let (train, val) = (of(&data.train), of(&data.val));
        if train.len() < 3 || val.len() < 3 {
            persona_report.push(json!({"persona": p, "skipped": format!("{} train / {} val examples", train.len(), val.len())}));
            continue;
        }
        let plog = Mutex::new(TrialLog::open(
            &out_dir.join(format!("trials-{p}.jsonl")),
            header(&p),
            resume,
        )?);
        let pctx = optimize::Context {
            train: &train,
            val: &val,
            base_instructions: &outcome.instructions,
            base_demos: &outcome.demos,
            log: &plog,
            ..*opt_ctx
        };
        let po = optimizer.run(&pctx).await?;
        let kept = po.best_val > po.baseline_val;
        persona_report.push(json!({"persona": p, "baseline_val": po.baseline_val, "best_val": po.best_val, "override": kept}));
        if kept {
            persona_instructions.insert(p, po.instructions);
        }
    }
    Ok((persona_instructions, persona_report))
}

/// Which candidate won: an instruction and a demo set, by index.
#[derive(Debug, Clone, Serialize)]
pub struct Winner {
    /// Index into [`OptimizeRun::candidates`].
    pub instruction: usize,
    /// Index of the demo set.
    pub demo_set: usize,
}

/// What an optimizer run did, as `report.json` records it.
#[derive(Debug, Clone, Serialize)]
pub struct OptimizeRun {
    /// The signature.
    #[serde(skip)]
    pub signature: String,
    /// The new pack's file.
    pub pack: PathBuf,
    /// This report's file.
    #[serde(skip)]
    pub report: PathBuf,
    /// The new pack's format.
    pub format: String,
    /// The optimizer.
    pub optimizer: OptimizerName,
    /// Its seed.
    pub seed: u64,
    /// Its settings.
    pub settings: Settings,
    /// The smoke preset.
    pub smoke: bool,
    /// Full val score of the pack running today.
    pub baseline_val: f64,
    /// Full val score of the winner.
    pub best_val: f64,
    /// The winner beat today's pack on val.
    pub improved: bool,
    /// Trials (MIPRO) or reflection iterations (GEPA) run.
    pub trials: usize,
    /// Trial-log entries replayed from an earlier run.
    pub resumed_entries: usize,
    /// The winner.
    pub winner: Winner,
    /// Every instruction candidate, candidate 0 first.
    pub candidates: Vec<String>,
    /// Full val scores by (instruction, demo set).
    pub full_scores: Vec<(usize, usize, f64)>,
    /// Per persona: the search's result, or why it was skipped.
    pub per_persona: Vec<serde_json::Value>,
    /// Why the run stopped early (budget), if it did.
    pub stopped: Option<String>,
    /// Examples lost to LM errors, left out of every score.
    pub lost_examples: Vec<String>,
    /// Train, val and held-out sizes.
    pub split: SplitSizes,
    /// LM usage.
    #[serde(rename = "lm", serialize_with = "usage_json")]
    pub usage: crate::lm::budget::Usage,
    /// Wall time.
    pub wall_secs: f64,
    /// A simulated LM answered.
    pub simulated: bool,
}

fn usage_json<S: serde::Serializer>(u: &crate::lm::budget::Usage, s: S) -> Result<S::Ok, S::Error> {
    crate::app::lm_json(u).serialize(s)
}

impl OptimizeRun {
    /// What a person reads.
    pub fn human(&self) -> String {
        let mut h = String::new();
        let _ = writeln!(
            h,
            "{}: {} ({}{}), {} trials on {} train / {} val examples{}",
            self.signature,
            format!("{:?}", self.optimizer).to_lowercase(),
            if self.smoke { "smoke" } else { "full" },
            if self.resumed_entries > 0 {
                format!(", resumed {} logged steps", self.resumed_entries)
            } else {
                String::new()
            },
            self.trials,
            self.split.train,
            self.split.val,
            if self.simulated {
                " — sim LMs: simulated scores"
            } else {
                ""
            }
        );
        let _ = writeln!(
            h,
            "  val score: {:.1} today, {:.1} best {}",
            self.baseline_val,
            self.best_val,
            if self.improved {
                "(a new pack)"
            } else {
                "(no candidate beat today's pack; it is kept)"
            }
        );
        if let Some(why) = &self.stopped {
            let _ = writeln!(
                h,
                "  stopped early: budget exhausted ({why}); the best so far was kept"
            );
        }
        let cost = self
            .usage
            .cost_usd
            .map(|c| format!("${c:.4}"))
            .unwrap_or_else(|| "unknown".into());
        let _ = writeln!(
            h,
            "  LM: {} calls, {} cache hits, cost {cost}, {:.1}s",
            self.usage.calls, self.usage.cache_hits, self.wall_secs
        );
        let _ = writeln!(
            h,
            "  wrote {} and {}",
            self.pack.display(),
            self.report.display()
        );
        h
    }

    /// The `--json` summary of the `optimize` command.
    pub fn summary_json(&self) -> serde_json::Value {
        json!({
            "pack": self.pack,
            "baseline_val": self.baseline_val,
            "best_val": self.best_val,
            "trials": self.trials,
            "improved": self.improved,
            "stopped": self.stopped,
            "lm": crate::app::lm_json(&self.usage),
            "simulated": self.simulated,
        })
    }
}

/// One updating line on a terminal; in CI a line on each new phase, trial or
/// best score, and otherwise at most every few seconds.
fn progress_line<'a>(lm: &'a LmClient, max_calls: Option<u64>) -> impl Fn(&Progress) + Sync + 'a {
    let ticker = crate::app::progress::Ticker::new(lm);
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
