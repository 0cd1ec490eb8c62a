//! Optimizers: MIPROv2-style search over (instruction, demo set) and
//! GEPA-style reflective evolution of the instruction.
//!
//! Both start from the pack running today and choose their winner on full
//! validation scores only, so the worst outcome is the pack you already have.
//! Every step is seeded and every LM call cached, and the trial log is written
//! as the run goes, so a killed run resumes to the identical result.

pub mod background;
pub mod gepa;
pub mod log;
pub mod mipro;
pub mod optimizer;
pub mod scorer;
pub mod tpe;
pub mod window;

use std::path::PathBuf;
use std::sync::Mutex;

use indexmap::IndexMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::config::{OptimizerConfig, OptimizerName};
use crate::eval::{EvalError, Program};
use crate::lm::{LmClient, LmError, Role};
use crate::metric::Metric;
use crate::pack::{Demo, Pack};
use crate::program::{Adapter, Prediction, predict_as, render_value};
use crate::signature::Signature;
use crate::traces::Turn;

pub use log::TrialLog;
pub use optimizer::{CallPlan, Gepa, Mipro, Optimizer, PlanSizes, by_name};
pub use scorer::Scorer;

/// The knobs of one run.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Settings {
    /// `mipro` or `gepa`.
    pub optimizer: OptimizerName,
    /// The seed of every random choice.
    pub seed: u64,
    /// Instruction candidates (candidate 0 is the current instruction).
    pub num_candidates: usize,
    /// Search trials (MIPRO) or reflection iterations (GEPA).
    pub num_trials: usize,
    /// Demo sets.
    pub num_demo_sets: usize,
    /// Val examples per trial.
    pub minibatch_size: usize,
    /// A full val evaluation every this many trials.
    pub full_eval_every: usize,
    /// MIPRO trials proposed together and scored at once.
    pub parallel_trials: usize,
    /// Bootstrapped demos per set.
    pub max_bootstrapped_demos: usize,
    /// Labelled demos per set.
    pub max_labeled_demos: usize,
    /// GEPA: train examples per reflection.
    pub reflection_minibatch: usize,
}

impl Settings {
    /// From the config, or the smoke preset: tiny sizes, full evaluation, every step exercised.
    pub fn from_config(c: &OptimizerConfig, optimizer: OptimizerName, smoke: bool) -> Settings {
        if smoke {
            return Settings {
                optimizer,
                seed: c.seed,
                num_candidates: 2,
                num_trials: 3,
                num_demo_sets: 3,
                minibatch_size: 8,
                full_eval_every: 1,
                parallel_trials: 1,
                max_bootstrapped_demos: 2,
                max_labeled_demos: 2,
                reflection_minibatch: 3,
            };
        }
        Settings {
            optimizer,
            seed: c.seed,
            num_candidates: c.num_candidates as usize,
            num_trials: c.num_trials as usize,
            num_demo_sets: c.num_demo_sets as usize,
            minibatch_size: c.minibatch_size as usize,
            full_eval_every: c.full_eval_every.max(1) as usize,
            parallel_trials: c.parallel_trials.clamp(1, 64) as usize,
            max_bootstrapped_demos: c.max_bootstrapped_demos as usize,
            max_labeled_demos: c.max_labeled_demos as usize,
            reflection_minibatch: 3,
        }
    }
}

/// Why a run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum OptimizeError {
    /// An evaluation failed beyond its tolerance.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// An LM call failed for good.
    #[error(transparent)]
    Lm(#[from] LmError),
    /// The trial log could not be used.
    #[error("{0}")]
    Log(String),
}

/// What a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The winning instruction.
    pub instructions: String,
    /// The winning demos.
    pub demos: Vec<Demo>,
    /// Full val score of the pack running today.
    pub baseline_val: f64,
    /// Full val score of the winner (≥ baseline).
    pub best_val: f64,
    /// Trials (MIPRO) or reflection iterations (GEPA) run.
    pub trials: usize,
    /// Every instruction candidate, candidate 0 first.
    pub candidates: Vec<String>,
    /// Full val scores by (instruction, demo set).
    pub full_scores: Vec<(usize, usize, f64)>,
    /// Val (and train) examples lost to LM errors, left out of every score.
    pub lost_examples: Vec<String>,
    /// The winner's (instruction, demo set).
    pub winner: (usize, usize),
    /// Why the run stopped early, if it did (budget).
    pub stopped: Option<String>,
}

/// Progress of a run, for the one updating line.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Current trial.
    pub trial: usize,
    /// Trials planned.
    pub total: usize,
    /// Best full val score so far.
    pub best: f64,
    /// What the run is doing.
    pub phase: &'static str,
}

/// What an optimizer works with.
pub struct Context<'a> {
    /// The LMs.
    pub lm: &'a LmClient,
    /// The metric.
    pub metric: &'a Metric,
    /// The contract.
    pub signature: &'a Signature,
    /// The adapter candidates are rendered and scored with.
    pub adapter: Adapter,
    /// Training examples.
    pub train: &'a [Turn],
    /// Validation examples.
    pub val: &'a [Turn],
    /// The pack running today (instructions and demos).
    pub base_instructions: &'a str,
    /// The pack's demos.
    pub base_demos: &'a [Demo],
    /// Settings.
    pub settings: &'a Settings,
    /// Examples scored at once.
    pub concurrency: usize,
    /// LM-level failures tolerated per evaluation, at least.
    pub max_errors: usize,
    /// LM-level failures tolerated as a share of an evaluation's examples.
    pub max_error_share: f64,
    /// promptc's own prompts (summarize_dataset, propose_instruction, reflect).
    pub prompts: &'a OwnPrompts,
    /// Where trials are written as they happen.
    pub log: &'a Mutex<TrialLog>,
    /// Called after each step.
    pub progress: &'a (dyn Fn(&Progress) + Sync),
}

/// promptc's own prompt packs, ready to run.
pub struct OwnPrompts {
    /// The dataset summarizer.
    pub summarize: Program,
    /// The instruction proposer.
    pub propose: Program,
    /// The GEPA reflector.
    pub reflect: Program,
}

impl OwnPrompts {
    /// The built-in prompts.
    pub fn load() -> Result<OwnPrompts, String> {
        Self::load_with(&IndexMap::new())
    }

    /// The built-in prompts, each replaced by the pack at `replacements[name]`
    /// when given (`optimizer.prompts` in the config, paths resolved). A
    /// replacement must keep the built-in's input and output fields: the
    /// optimizer fills and reads them by name.
    pub fn load_with(replacements: &IndexMap<String, PathBuf>) -> Result<OwnPrompts, String> {
        let get = |name: &str| -> Result<Program, String> {
            let built_in: Pack = crate::prompts::load(name, None)?;
            let built_in = Program::from_pack(&built_in)
                .ok_or_else(|| format!("built-in prompt {name} is not a v2 pack"))?;
            let Some(path) = replacements.get(name) else {
                return Ok(built_in);
            };
            let key = format!("optimizer.prompts.{name}");
            let pack: Pack =
                crate::prompts::load(name, Some(path)).map_err(|e| format!("{key}: {e}"))?;
            let program = Program::from_pack(&pack).ok_or_else(|| {
                format!(
                    "{key}: {} is a v1 pack; a prompt needs instructions",
                    path.display()
                )
            })?;
            let fields = |p: &Program| {
                let s = &p.signature;
                (
                    s.inputs.keys().cloned().collect::<Vec<_>>(),
                    s.outputs.keys().cloned().collect::<Vec<_>>(),
                )
            };
            if fields(&program) != fields(&built_in) {
                let (i, o) = fields(&built_in);
                return Err(format!(
                    "{key}: {} must keep the built-in's fields (inputs {}; outputs {})",
                    path.display(),
                    i.join(", "),
                    o.join(", ")
                ));
            }
            Ok(program)
        };
        Ok(OwnPrompts {
            summarize: get("summarize_dataset")?,
            propose: get("propose_instruction")?,
            reflect: get("reflect")?,
        })
    }
}

/// Runs one of promptc's own prompts on the proposer LM; `None` when its
/// answer could not be parsed.
pub async fn run_prompt(
    lm: &LmClient,
    program: &Program,
    inputs: Map<String, Value>,
    sample: u32,
) -> Result<Option<Map<String, Value>>, LmError> {
    Ok(
        match predict_as(
            lm,
            Role::Proposer,
            &program.signature,
            &program.system,
            &inputs,
            sample,
        )
        .await?
        {
            Prediction::Parsed(out) => Some(out),
            Prediction::Failed { reason } => {
                tracing::warn!("{} answer unreadable: {reason}", program.signature.name);
                None
            }
        },
    )
}

/// The signature in words, for promptc's own prompts.
pub fn describe(sig: &Signature) -> String {
    let mut s = format!("{}\n\nInputs:\n", sig.description.trim());
    for (n, f) in &sig.inputs {
        s.push_str(&format!("- {n}: {}\n", f.desc));
    }
    s.push_str("Outputs:\n");
    for (n, f) in &sig.outputs {
        match &f.enum_values {
            Some(v) => s.push_str(&format!("- {n}: {} (one of: {})\n", f.desc, v.join(", "))),
            None => s.push_str(&format!("- {n}: {}\n", f.desc)),
        }
    }
    s
}

/// Examples as compact JSON for a prompt, each value shortened, so that a
/// batch stays a bounded size whatever the traces hold.
pub fn examples_json(examples: &[&Turn], max_value_chars: usize) -> String {
    let short = |m: &Map<String, Value>| -> Map<String, Value> {
        m.iter()
            .map(|(k, v)| {
                let t = render_value(Some(v));
                let t = if t.chars().count() > max_value_chars {
                    format!("{}…", t.chars().take(max_value_chars).collect::<String>())
                } else {
                    t
                };
                (k.clone(), Value::String(t))
            })
            .collect()
    };
    let list: Vec<Value> = examples
        .iter()
        .map(|e| json!({"inputs": short(&e.inputs), "answer": short(&e.outputs)}))
        .collect();
    Value::Array(list).to_string()
}

/// A demo from a turn, with the given outputs.
pub fn demo(turn: &Turn, outputs: Map<String, Value>) -> Demo {
    Demo {
        trace_id: turn.id.clone(),
        inputs: turn.inputs.clone(),
        outputs,
    }
}

/// A seeded RNG for one named step of a run.
pub fn rng(seed: u64, step: &str, index: u64) -> fastrand::Rng {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(step.as_bytes());
    h.update(index.to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    fastrand::Rng::with_seed(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replacement(dir: &std::path::Path, edit: impl Fn(&mut Pack)) -> PathBuf {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packs/src");
        let mut pack = crate::prompts::build(&src, "propose_instruction").unwrap();
        edit(&mut pack);
        let path = dir.join("propose.json");
        std::fs::write(&path, pack.to_json()).unwrap();
        path
    }

    #[test]
    fn a_configured_prompt_replaces_the_built_in_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = replacement(dir.path(), |p| {
            let pp = p.prompt_mut().unwrap();
            pp.instructions = "Propose one instruction. HOUSE STYLE: second person.".into();
            p.refresh_rendered();
        });
        let mut r = IndexMap::new();
        r.insert("propose_instruction".to_string(), path);
        let own = OwnPrompts::load_with(&r).unwrap();
        assert!(
            own.propose.system.contains("HOUSE STYLE"),
            "{}",
            own.propose.system
        );
        let built_in = OwnPrompts::load().unwrap();
        assert!(!built_in.propose.system.contains("HOUSE STYLE"));
        assert_eq!(
            own.reflect.system, built_in.reflect.system,
            "others stay built in"
        );
    }

    #[test]
    fn a_replacement_that_drops_a_field_is_refused_by_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = replacement(dir.path(), |p| {
            let pp = p.prompt_mut().unwrap();
            let first = pp.signature.spec.outputs.keys().next().unwrap().clone();
            pp.signature.spec.outputs.shift_remove(&first);
            pp.signature.hash = pp.signature.spec.hash();
            p.refresh_rendered();
        });
        let mut r = IndexMap::new();
        r.insert("propose_instruction".to_string(), path);
        let err = OwnPrompts::load_with(&r).err().unwrap();
        assert!(
            err.starts_with("optimizer.prompts.propose_instruction: ")
                && err.contains("must keep the built-in's fields"),
            "{err}"
        );
    }
}
