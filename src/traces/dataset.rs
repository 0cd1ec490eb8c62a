//! The clean turns of a signature, loaded in full for splitting and scoring.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::signature::Signature;
use crate::traces::parse::{LineKind, LineParser};
use crate::traces::reader::{RawLine, run_batches};
use crate::traces::settings::FieldMap;
use crate::traces::stats::IngestReport;
use crate::traces::{Expand, TraceError, Turn, bad_line_reason};

/// Every clean, deduplicated turn of one signature, in file and line order.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// The turns.
    pub turns: Vec<Turn>,
    /// What reading found along the way.
    pub report: IngestReport,
}

impl Dataset {
    /// Reads `files` and keeps the clean turns of `signature`; with
    /// `expand`, each line is another tool's record holding promptc lines.
    pub fn load(
        files: &[PathBuf],
        signature: &Signature,
        fields: &FieldMap,
        persona_field: Option<&str>,
        max_line_bytes: usize,
        expand: Option<&dyn Expand>,
    ) -> Result<Dataset, TraceError> {
        let parser = LineParser::new(signature, fields, persona_field);
        let mut report = IngestReport {
            files: files.len(),
            ..Default::default()
        };
        let mut turns = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        run_batches(
            files,
            max_line_bytes,
            |batch| {
                batch
                    .lines()
                    .flat_map(|(no, line)| {
                        let kinds = match (line, expand) {
                            (RawLine::Line(line), None) => vec![parser.turn(line.bytes)],
                            (RawLine::Line(line), Some(x)) => {
                                crate::traces::expanded(x, line.bytes, |l| parser.turn(l))
                            }
                            (RawLine::TooLong(n), _) => {
                                vec![LineKind::Bad(bad_line_reason(n, max_line_bytes))]
                            }
                        };
                        kinds.into_iter().map(move |k| (batch.file, no, k))
                    })
                    .collect::<Vec<_>>()
            },
            |results, first| {
                for (file, at, kind) in results {
                    report.lines += 1;
                    match kind {
                        LineKind::Bad(reason) => {
                            report.push_bad(&files[file], first.number(at), reason)
                        }
                        LineKind::OtherSignature => report.other_signature += 1,
                        LineKind::Turn(turn) => {
                            if !seen.insert(turn.id.0.clone()) {
                                report.duplicates += 1;
                            } else if turn.clean {
                                turns.push(turn);
                            } else {
                                report.not_clean_turns += 1;
                            }
                        }
                    }
                }
            },
        )?;
        Ok(Dataset { turns, report })
    }
}
