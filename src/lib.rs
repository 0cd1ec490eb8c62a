//! promptc: a prompt compiler that runs in CI.
//!
//! The core (traces, signature, pack, lm, program, metric, eval, optimize,
//! ab) knows nothing of git or GitHub; the CI shell (report, actions, git,
//! github, ci) builds on it, and the commands module wires both into the CLI
//! contract of DESIGN.md. Data flows one way: traces and signature → program →
//! metric → A/B → report → publish.

pub mod ab;
pub mod actions;
pub mod adapter;
pub mod app;
pub mod chat;
pub mod ci;
pub mod commands;
pub mod config;
pub mod console;
pub mod eval;
pub mod files;
pub mod git;
pub mod github;
pub mod lm;
pub mod markdown;
pub mod metric;
pub mod optimize;
pub mod pack;
pub mod program;
pub mod prompts;
pub mod report;
pub mod review;
pub mod schema;
pub mod secret;
pub mod signature;
pub mod text;
pub mod traces;
pub mod yamlerr;

/// The version recorded in pack provenance.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
