//! promptc: a prompt compiler that runs in CI.
//!
//! The core (traces, signature, pack, lm, program, metric) knows nothing of
//! git or GitHub; the commands module wires it into the CLI contract of
//! DESIGN.md. Data flows one way: traces and signature → program → metric.

pub mod ab;
pub mod commands;
pub mod config;
pub mod eval;
pub mod lm;
pub mod metric;
pub mod optimize;
pub mod pack;
pub mod program;
pub mod prompts;
pub mod report;
pub mod schema;
pub mod signature;
pub mod traces;
pub mod yamlerr;

/// The version recorded in pack provenance.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
