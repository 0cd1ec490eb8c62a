//! The commands of the CLI contract, as library functions: each takes a
//! request, does the work, and returns an [`Output`] (one JSON object for
//! scripts, text for people). The binary only parses arguments and prints.

pub mod ab;
pub mod check;
pub mod eval;
pub mod init;
pub mod lm;
pub mod optimize;
pub mod pack;
pub mod realized;
/// Kept at its old path; the ticker now lives in the application layer.
pub use crate::app::progress;
pub mod traces;

pub use crate::app::{Context, Global, Output, UsageError, exit_code, lm_json};
