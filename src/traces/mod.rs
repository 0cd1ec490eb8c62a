//! Traces: reading JSONL logs of a signature's calls, their statistics, the
//! gate, and the thread-level split into train, val and fresh held-out sets.

pub mod dataset;
pub mod parse;
pub mod reader;
pub mod record;
pub mod settings;
pub mod split;
pub mod stats;

use std::fmt;
use std::path::PathBuf;

pub use dataset::Dataset;
pub use record::{TraceId, TraceLine, Turn};
pub use stats::{Gate, TraceStats};

/// A line that is not a usable trace, with where it is and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadLine {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

/// Errors while reading traces.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A file could not be read.
    #[error(transparent)]
    Read(#[from] reader::ReadError),
    /// `--strict` (or `traces.strict`) and at least one bad line.
    #[error("{count} bad trace line(s) and strict mode is on; first: {first}")]
    Strict {
        /// How many bad lines.
        count: u64,
        /// The first one.
        first: BadLine,
    },
    /// No trace files matched.
    #[error("no trace files match {patterns}")]
    NoFiles {
        /// The globs, joined.
        patterns: String,
    },
}

/// How many bad lines are kept with their messages; the rest are only counted,
/// so a file of garbage cannot grow memory without bound.
pub const MAX_REPORTED_BAD_LINES: usize = 1000;

pub(crate) fn bad_line_reason(kind_len: u64, max: usize) -> String {
    format!("line is {kind_len} bytes, over the limit of {max} (traces.max_line_bytes); skipped")
}
