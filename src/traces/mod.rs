//! Traces: reading JSONL logs of a signature's calls, their statistics, the
//! gate, and the thread-level split into train, val and fresh held-out sets.

pub mod dataset;
pub mod parse;
pub mod reader;
pub mod record;
mod scan;
pub mod settings;
pub mod split;
pub mod stats;

use std::fmt;
use std::path::PathBuf;

pub use dataset::Dataset;
pub use record::{TraceId, TraceLine, Turn};
pub use stats::{Gate, TraceStats};

/// Another tool's export read as promptc trace lines: each record of the
/// export (a line) expands into the promptc lines it holds, each with its
/// index in the record, or why it is not a usable trace. Implemented above
/// this layer (`crate::otel`); statistics and datasets read through it.
pub trait Expand: Sync {
    /// The promptc lines in one record; the outer error: the record is unreadable.
    fn expand(&self, record: &[u8]) -> Result<Vec<Expanded>, String>;
}

/// One promptc line of a record: its index in the record, and the line or
/// why that part of the record is not a usable trace.
pub type Expanded = (usize, Result<Vec<u8>, String>);

/// The kinds of the promptc lines one record expands into (a record that
/// holds none of the signature's calls yields nothing; a bad one, one `Bad`).
pub fn expanded<T>(
    x: &dyn Expand,
    record: &[u8],
    parse: impl Fn(&[u8]) -> parse::LineKind<T>,
) -> Vec<parse::LineKind<T>> {
    match x.expand(record) {
        Err(reason) => vec![parse::LineKind::Bad(reason)],
        Ok(lines) => lines
            .into_iter()
            .map(|(i, r)| match r {
                Ok(line) => match parse(&line) {
                    parse::LineKind::Bad(reason) => parse::LineKind::Bad(format!("#{i}: {reason}")),
                    k => k,
                },
                Err(reason) => parse::LineKind::Bad(format!("#{i}: {reason}")),
            })
            .collect(),
    }
}

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
