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
/// Kept at its old path; the ticker now lives in the application layer.
pub use crate::app::progress;
pub mod traces;

use serde::Serialize;
use serde_json::Value;

pub use crate::app::{Context, Global, UsageError, exit_code, lm_json};

/// What a command produced.
#[derive(Debug)]
pub struct Output {
    /// The JSON object printed with `--json`.
    pub json: Value,
    /// The text printed for a person.
    pub human: String,
    /// Exit code: 0 done, 1 runtime failure, 2 bad usage, config or input.
    pub exit: i32,
}

impl Output {
    /// A successful output.
    pub fn ok(json: impl Serialize, human: String) -> Output {
        Output {
            json: serde_json::to_value(json).unwrap_or(Value::Null),
            human,
            exit: 0,
        }
    }
}
