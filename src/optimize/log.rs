//! The trial log: one JSON line per step, written and flushed as the run goes.
//!
//! `--resume` reads it back: a log from another run (other settings, other
//! traces) is refused rather than silently mixed in.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// An open trial log.
pub struct TrialLog {
    path: PathBuf,
    file: Option<File>,
    /// Entries read back on resume, by kind.
    previous: Vec<Value>,
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
    pub fn open(path: &Path, header: Value, resume: bool) -> Result<TrialLog, String> {
        let mut previous = Vec::new();
        if resume && path.exists() {
            let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            for (i, line) in BufReader::new(f).lines().enumerate() {
                let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
                // A line cut short by the kill is where the log ends.
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    break;
                };
                if i == 0 && v != header {
                    return Err(format!(
                        "{} is the trial log of another run (settings, traces or base pack differ); remove it, or run without --resume",
                        path.display()
                    ));
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
            kept.push_str(&v.to_string());
            kept.push('\n');
        }
        crate::files::write_text(path, &kept).map_err(|e| e.to_string())?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(TrialLog {
            path: path.to_path_buf(),
            file: Some(file),
            previous,
        })
    }

    /// Appends one entry.
    pub fn write(&mut self, entry: Value) {
        if let Some(f) = self.file.as_mut()
            && (writeln!(f, "{}", crate::secret::redact(&entry.to_string())).is_err()
                || f.flush().is_err())
        {
            tracing::warn!("cannot write the trial log {}", self.path.display());
        }
    }

    /// A previous entry of `kind` whose `key` field equals `value`.
    pub fn replay(&self, kind: &str, key: &str, value: &Value) -> Option<&Value> {
        self.previous
            .iter()
            .find(|v| v["type"] == kind && &v[key] == value)
    }

    /// Entries replayed so far.
    pub fn replayed(&self) -> usize {
        self.previous.len()
    }
}

/// The first line of a log: what identifies the run.
pub fn header(settings: &super::Settings, fingerprint: &str, base_sha256: &str) -> Value {
    json!({"type": "start", "promptc": crate::VERSION, "settings": settings, "traces": fingerprint, "base_pack": base_sha256})
}
