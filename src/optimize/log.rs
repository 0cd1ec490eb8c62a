//! The trial log: one JSON line per step, written and flushed as the run goes.
//!
//! `--resume` reads it back: a log from another run (other settings, other
//! traces) is refused rather than silently mixed in.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One line of the trial log. Writer, resume and reports share this type, so
/// a new optimizer's entries cannot be silently dropped by a reader that
/// filters on a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Entry {
    /// The first line: what identifies the run.
    Start {
        /// promptc's version.
        promptc: String,
        /// The optimizer's settings.
        settings: Value,
        /// The trace fingerprint.
        traces: String,
        /// The base pack's sha256.
        base_pack: String,
    },
    /// MIPRO: the instruction candidates and demo sets (trace ids).
    Candidates {
        /// Candidate 0 is today's instruction.
        instructions: Vec<String>,
        /// Each demo set's trace ids.
        demo_sets: Vec<Vec<String>>,
    },
    /// MIPRO: a combination scored on all of val.
    Full {
        /// `instruction:demos`.
        combo: String,
        /// The instruction candidate.
        instruction: usize,
        /// The demo set.
        demos: usize,
        /// Its mean val score.
        score: f64,
    },
    /// MIPRO: one search trial.
    Trial {
        /// Its index.
        trial: usize,
        /// The instruction candidate.
        instruction: usize,
        /// The demo set.
        demos: usize,
        /// Its score on the examples.
        score: f64,
        /// Examples scored.
        examples: usize,
        /// All of val, not a minibatch.
        full: bool,
    },
    /// Examples lost to LM errors, and the finalists' scores without them.
    Lost {
        /// The lost examples' ids.
        examples: Vec<String>,
        /// Today's pack, rescored.
        baseline: f64,
        /// The best, rescored.
        best: f64,
    },
    /// GEPA: one reflection iteration.
    Gepa {
        /// Its index.
        iteration: usize,
        /// The parent candidate.
        parent: usize,
        /// The child joined the pool.
        accepted: bool,
        /// The parent's minibatch score.
        minibatch_parent: f64,
        /// The child's minibatch score.
        minibatch_child: f64,
        /// The child's mean val score, when it was scored on val.
        val: Option<f64>,
        /// The child's instruction.
        child: Option<String>,
    },
}

impl Entry {
    /// The score a report plots for this step: a trial's, or a GEPA child's
    /// val score; nothing for bookkeeping entries.
    pub fn trial_score(&self) -> Option<f64> {
        match self {
            Entry::Trial { score, .. } => Some(*score),
            Entry::Gepa { val, .. } => *val,
            Entry::Start { .. }
            | Entry::Candidates { .. }
            | Entry::Full { .. }
            | Entry::Lost { .. } => None,
        }
    }
}

/// The trial scores in a log file, in order (for a report's Run section).
pub fn trial_scores(path: &Path) -> Vec<f64> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
                .filter_map(|e| e.trial_score())
                .collect()
        })
        .unwrap_or_default()
}

/// Why a trial log cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// Reading or writing the file failed.
    #[error("{path}: {message}")]
    Io {
        /// The log.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// `--resume` on the log of another run.
    #[error("{} is the trial log of another run (settings, traces or base pack differ); remove it, or run without --resume", .0.display())]
    OtherRun(PathBuf),
}

/// An open trial log.
pub struct TrialLog {
    path: PathBuf,
    file: Option<File>,
    /// Entries read back on resume.
    previous: Vec<Entry>,
}

impl TrialLog {
    /// A log that writes nowhere (library use without an output folder).
    pub fn none() -> TrialLog {
        TrialLog {
            path: PathBuf::new(),
            file: None,
            previous: Vec::new(),
        }
    }

    /// Starts a log at `path`. With `resume`, an existing log must start with the
    /// same `header`; its entries are kept and replayed.
    pub fn open(path: &Path, header: Entry, resume: bool) -> Result<TrialLog, LogError> {
        let io = |e: &dyn std::fmt::Display| LogError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut previous = Vec::new();
        if resume && path.exists() {
            let f = File::open(path).map_err(|e| io(&e))?;
            for (i, line) in BufReader::new(f).lines().enumerate() {
                let line = line.map_err(|e| io(&e))?;
                // A line cut short by the kill is where the log ends.
                let Ok(v) = serde_json::from_str::<Entry>(&line) else {
                    break;
                };
                if i == 0 && v != header {
                    return Err(LogError::OtherRun(path.to_path_buf()));
                }
                if i > 0 {
                    previous.push(v);
                }
            }
        }
        // Rewrite the log with what was kept (atomically: a kill here keeps the
        // old log), so a torn last line does not stay; then append to it.
        let mut kept = String::new();
        for v in std::iter::once(&header).chain(previous.iter()) {
            kept.push_str(&serde_json::to_string(v).map_err(|e| io(&e))?);
            kept.push('\n');
        }
        crate::files::write_text(path, &kept).map_err(|e| io(&e))?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| io(&e))?;
        Ok(TrialLog {
            path: path.to_path_buf(),
            file: Some(file),
            previous,
        })
    }

    /// Appends one entry.
    pub fn write(&mut self, entry: &Entry) {
        let line = serde_json::to_string(entry).unwrap_or_default();
        if let Some(f) = self.file.as_mut()
            && (writeln!(f, "{}", crate::secret::redact(&line)).is_err() || f.flush().is_err())
        {
            tracing::warn!("cannot write the trial log {}", self.path.display());
        }
    }

    /// The first previous entry `pick` accepts, as it maps it.
    pub fn replay<T>(&self, pick: impl Fn(&Entry) -> Option<T>) -> Option<T> {
        self.previous.iter().find_map(pick)
    }

    /// Entries replayed so far.
    pub fn replayed(&self) -> usize {
        self.previous.len()
    }
}

/// The first line of a log: what identifies the run.
pub fn header(settings: &super::Settings, fingerprint: &str, base_sha256: &str) -> Entry {
    Entry::Start {
        promptc: crate::VERSION.to_string(),
        settings: serde_json::to_value(settings).unwrap_or(Value::Null),
        traces: fingerprint.to_string(),
        base_pack: base_sha256.to_string(),
    }
}
