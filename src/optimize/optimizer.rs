//! The seam every optimizer sits behind: run, plan the calls, describe the
//! settings. Adding one is a type here and an arm in [`by_name`], the one
//! place a name becomes an optimizer.

use super::{Context, OptimizeError, Outcome, Settings};
use crate::config::OptimizerName;

/// The sizes an optimizer's call plan depends on.
#[derive(Debug, Clone, Copy)]
pub struct PlanSizes {
    /// Train examples.
    pub train: usize,
    /// Val examples.
    pub val: usize,
    /// Today's pack has demos.
    pub base_has_demos: bool,
}

/// The most LM calls a run makes on a cold cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPlan {
    /// Examples scored (each one task call plus the metric's judge calls).
    pub examples: usize,
    /// Calls of promptc's own prompts on the proposer.
    pub proposer: usize,
}

/// A search for a better pack. Its future is not `Send`: a run is awaited
/// where it starts (evaluations borrow examples across awaits), never spawned.
#[async_trait::async_trait(?Send)]
pub trait Optimizer: Send + Sync {
    /// Its name in the config.
    fn name(&self) -> OptimizerName;
    /// One run.
    async fn run(&self, ctx: &Context<'_>) -> Result<Outcome, OptimizeError>;
    /// An upper bound of its calls for a cold cache (minibatch examples scored
    /// again in a full evaluation are not called twice, so a run usually makes fewer).
    fn plan_calls(&self, s: &Settings, sizes: PlanSizes) -> CallPlan;
    /// Its settings in a phrase, for reports.
    fn describe(&self, s: &Settings) -> String;
}

/// MIPRO: instruction candidates × demo sets, searched with TPE.
pub struct Mipro;

/// GEPA: reflective evolution of the instruction.
pub struct Gepa;

/// The optimizer of a name.
pub fn by_name(name: OptimizerName) -> &'static dyn Optimizer {
    match name {
        OptimizerName::Mipro => &Mipro,
        OptimizerName::Gepa => &Gepa,
    }
}

#[async_trait::async_trait(?Send)]
impl Optimizer for Mipro {
    fn name(&self) -> OptimizerName {
        OptimizerName::Mipro
    }

    async fn run(&self, ctx: &Context<'_>) -> Result<Outcome, OptimizeError> {
        super::mipro::run(ctx).await
    }

    fn plan_calls(&self, s: &Settings, z: PlanSizes) -> CallPlan {
        let base_sets = if z.base_has_demos { 2 } else { 1 };
        let boot_sets = s.num_demo_sets.saturating_sub(base_sets + 1);
        let bootstrap = if boot_sets > 0 {
            z.train
                .min((boot_sets * s.max_bootstrapped_demos * 3).max(16))
        } else {
            0
        };
        let trials = if z.val > s.minibatch_size {
            s.num_trials * s.minibatch_size + s.num_trials.div_ceil(s.full_eval_every) * z.val
        } else {
            s.num_trials * z.val
        };
        let summaries = z.train.div_ceil(8).min(3);
        CallPlan {
            examples: bootstrap + z.val + trials,
            proposer: summaries + s.num_candidates.saturating_sub(1),
        }
    }

    fn describe(&self, s: &Settings) -> String {
        format!(
            "mipro (seed {}): {} candidates × {} trials, {} demo sets, minibatch {}, full evaluation every {}",
            s.seed,
            s.num_candidates,
            s.num_trials,
            s.num_demo_sets,
            s.minibatch_size,
            s.full_eval_every
        )
    }
}

#[async_trait::async_trait(?Send)]
impl Optimizer for Gepa {
    fn name(&self) -> OptimizerName {
        OptimizerName::Gepa
    }

    async fn run(&self, ctx: &Context<'_>) -> Result<Outcome, OptimizeError> {
        super::gepa::run(ctx).await
    }

    fn plan_calls(&self, s: &Settings, z: PlanSizes) -> CallPlan {
        // Parent and child on a minibatch each time; a kept child on all of
        // val (counted as if every child were kept).
        CallPlan {
            examples: z.val + s.num_trials * (2 * s.reflection_minibatch + z.val),
            proposer: s.num_trials,
        }
    }

    fn describe(&self, s: &Settings) -> String {
        format!(
            "gepa (seed {}): {} reflection iterations on {} train examples each",
            s.seed, s.num_trials, s.reflection_minibatch
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_its_own_optimizer() {
        for n in [OptimizerName::Mipro, OptimizerName::Gepa] {
            assert_eq!(by_name(n).name(), n);
        }
    }

    #[test]
    fn a_minibatched_mipro_plan_counts_bootstrap_baseline_trials_and_full_evaluations() {
        let s = Settings {
            optimizer: OptimizerName::Mipro,
            seed: 0,
            num_candidates: 4,
            num_trials: 10,
            num_demo_sets: 4,
            minibatch_size: 25,
            full_eval_every: 5,
            parallel_trials: 5,
            max_bootstrapped_demos: 2,
            max_labeled_demos: 2,
            reflection_minibatch: 3,
        };
        let z = PlanSizes {
            train: 100,
            val: 200,
            base_has_demos: false,
        };
        // 16 bootstrapped (2 sets, at least 16 tries), 200 for the baseline,
        // 10 minibatches of 25 and 2 full evaluations of 200.
        let p = by_name(OptimizerName::Mipro).plan_calls(&s, z);
        assert_eq!(
            p,
            CallPlan {
                examples: 16 + 200 + 250 + 400,
                proposer: 3 + 3
            }
        );
        // GEPA: the baseline, then per iteration parent and child on 3 and a
        // kept child on all of val.
        let g = by_name(OptimizerName::Gepa).plan_calls(&s, z);
        assert_eq!(
            g,
            CallPlan {
                examples: 200 + 10 * (6 + 200),
                proposer: 10
            }
        );
    }
}
