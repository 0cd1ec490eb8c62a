//! promptc: a prompt compiler that runs in CI.
//!
//! The core (traces, signature, pack, lm, program, metric, eval, optimize,
//! ab) knows nothing of git or GitHub; the CI shell (report, actions, git,
//! github, ci) builds on it, and the commands module wires both into the CLI
//! contract of DESIGN.md. Data flows one way: traces and signature → program →
//! metric → A/B → report → publish.

#![deny(missing_docs)]

pub mod ab;
mod actions;
pub mod adapter;
mod app;
mod chat;
pub mod ci;
pub mod commands;
pub mod config;
pub mod console;
pub mod eval;
mod files;
pub mod formats;
pub mod git;
pub mod github;
pub mod lm;
mod markdown;
pub mod metric;
pub mod optimize;
pub mod pack;
pub mod program;
pub mod prompts;
pub mod realized;
pub mod report;
pub mod review;
pub mod schema;
pub mod secret;
pub mod signature;
mod text;
pub mod traces;
pub mod yamlerr;

/// The version recorded in pack provenance.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

// The curated surface: the types an embedding program starts from. Modules
// that are only the crate's plumbing (actions, adapter, app, chat, files,
// markdown, text) are private; what they offer callers is re-exported where
// it belongs (program, pack, lm, commands).
pub use ab::{Decision, Verdict};
pub use app::{Context, Global, Output};
pub use config::Config;
pub use eval::{EvalReport, Evaluator, Program};
pub use lm::{LmClient, LmRequest, Role};
pub use metric::Metric;
pub use pack::Pack;
pub use report::Report;
pub use signature::Signature;
pub use traces::{TraceId, TraceLine, Turn};
