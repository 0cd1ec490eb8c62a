//! What a `ci` run was asked and what it ended with, per signature.

use std::path::PathBuf;

use serde::Serialize;

use crate::ab::Decision;
use crate::actions::Level;
use crate::config::OptimizerName;

/// What `ci` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct CiArgs {
    /// Plan and write, push and post nothing.
    pub dry_run: bool,
    /// Where run folders, reports and dry-run plans go (default `.promptc/ci` beside the config).
    pub out: Option<PathBuf>,
    /// The optimizer (default: the config's).
    pub optimizer: Option<OptimizerName>,
    /// The smoke preset.
    pub smoke: bool,
    /// Caps that replace the config's `budget:` for this run.
    pub budget: BudgetCaps,
}

/// Budget caps given on the command line (the action's inputs).
#[derive(Debug, Clone, Default)]
pub struct BudgetCaps {
    /// LM calls.
    pub max_calls: Option<u64>,
    /// US dollars.
    pub max_cost_usd: Option<f64>,
    /// Wall-clock minutes.
    pub max_wall_minutes: Option<f64>,
}

impl BudgetCaps {
    /// Replaces the config's caps with the ones given.
    pub fn apply(&self, b: &mut crate::config::BudgetConfig) {
        if self.max_calls.is_some() {
            b.max_calls = self.max_calls;
        }
        if self.max_cost_usd.is_some() {
            b.max_cost_usd = self.max_cost_usd;
        }
        if self.max_wall_minutes.is_some() {
            b.max_wall_minutes = self.max_wall_minutes;
        }
    }
}

/// How one signature's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The gate was not met: too few new traces.
    Gated,
    /// Ran, and decided not to publish.
    Skipped,
    /// A new pull request.
    Opened,
    /// The open pull request was updated.
    Updated,
    /// `--dry-run`: the plan is in the out folder.
    DryRun,
    /// Something went wrong (the error is in `reason`).
    Failed,
}

impl Status {
    /// The name the action's `status` output carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Gated => "gated",
            Status::Skipped => "skipped",
            Status::Opened => "opened",
            Status::Updated => "updated",
            Status::DryRun => "dry-run",
            Status::Failed => "failed",
        }
    }

    /// Which signature's result the single-valued action outputs describe.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Status::Failed => 5,
            Status::Opened | Status::Updated => 4,
            Status::DryRun => 3,
            Status::Skipped => 2,
            Status::Gated => 1,
        }
    }
}

/// One signature's result.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureResult {
    /// The signature.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// The A/B decision, when there was an A/B.
    pub decision: Option<Decision>,
    /// Mean lift on held-out, 0..100 points.
    pub lift: Option<f64>,
    /// Its confidence interval.
    pub ci95: Option<(f64, f64)>,
    /// Held-out examples compared.
    pub n: Option<usize>,
    /// Which look at today's pack the A/B was (see `crate::ci::looks`).
    pub look: Option<u32>,
    /// What today's pack did on the traffic it served (see `crate::ci::realized`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realized: Option<serde_json::Value>,
    /// The pull request.
    pub pr_url: Option<String>,
    /// The branch pushed or planned.
    pub branch: Option<String>,
    /// Why it ended so, in a sentence or a few.
    pub reason: String,
    /// What else a reader should know (fallbacks, budget, moved branch).
    pub notes: Vec<String>,
    /// The run folder (report, pack, trial log).
    pub run_dir: Option<PathBuf>,
    /// The job summary's section for this signature (markdown).
    #[serde(skip)]
    pub summary: String,
    /// The exit code a failure calls for (2: the input is at fault).
    #[serde(skip)]
    pub exit: i32,
    /// Annotations the CI host shows for this signature.
    #[serde(skip)]
    pub annotations: Vec<Annotation>,
}

/// A message the CI host shows beside the run (a GitHub annotation).
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// How loud.
    pub level: Level,
    /// Its title.
    pub title: String,
    /// Its text.
    pub message: String,
}

impl SignatureResult {
    /// A result with no A/B figures yet.
    pub fn new(name: &str, status: Status, reason: String) -> SignatureResult {
        SignatureResult {
            name: name.into(),
            status,
            decision: None,
            lift: None,
            ci95: None,
            n: None,
            look: None,
            realized: None,
            pr_url: None,
            branch: None,
            reason,
            notes: Vec::new(),
            run_dir: None,
            summary: String::new(),
            exit: 0,
            annotations: Vec::new(),
        }
    }

    /// Adds an annotation titled `promptc: {name}{suffix}`.
    pub fn annotate(&mut self, level: Level, suffix: &str, message: &str) {
        self.annotations.push(Annotation {
            level,
            title: format!("promptc: {}{suffix}", self.name),
            message: message.to_string(),
        });
    }
}
