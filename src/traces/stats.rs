//! `traces stats`: counts over a signature's trace files in one streaming pass,
//! and the gate verdict.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{FieldMap, GateConfig, SplitConfig};
use crate::signature::Signature;
use crate::traces::parse::{LineKind, LineParser, TurnHead};
use crate::traces::reader::{RawLine, run_batches};
use crate::traces::split::fresh_thread_set;
use crate::traces::{BadLine, MAX_REPORTED_BAD_LINES, TraceError, bad_line_reason};

/// What reading a set of trace files found, line by line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    /// Files read.
    pub files: usize,
    /// Physical lines read.
    pub lines: u64,
    /// Lines that are not usable traces.
    pub bad_lines: u64,
    /// The first bad lines, with file, line and reason.
    pub bad: Vec<BadLine>,
    /// Valid traces of other signatures (skipped).
    pub other_signature: u64,
    /// Lines whose id was already seen (counted once).
    pub duplicates: u64,
    /// Valid turns that are not clean (an error status, or missing outputs on one).
    pub not_clean_turns: u64,
}

impl IngestReport {
    pub(crate) fn push_bad(&mut self, file: &std::path::Path, line: u64, reason: String) {
        self.bad_lines += 1;
        if self.bad.len() < MAX_REPORTED_BAD_LINES {
            self.bad.push(BadLine {
                file: file.to_path_buf(),
                line,
                reason,
            });
        }
    }

    /// Fails when strict mode is on and any line was bad.
    pub fn check_strict(&self, strict: bool) -> Result<(), TraceError> {
        match self.bad.first() {
            Some(first) if strict => Err(TraceError::Strict {
                count: self.bad_lines,
                first: first.clone(),
            }),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct ThreadAgg {
    start: Option<DateTime<Utc>>,
    clean: usize,
}

/// The statistics `traces stats` prints.
#[derive(Debug, Clone, Serialize)]
pub struct TraceStats {
    /// Line-level outcome counts.
    #[serde(flatten)]
    pub ingest: IngestReport,
    /// Clean turns (deduplicated).
    pub clean_turns: u64,
    /// Threads with at least one clean turn.
    pub threads: usize,
    /// Workspaces with at least one clean turn.
    pub workspaces: usize,
    /// Clean turns per persona (when the config names a persona field).
    pub personas: BTreeMap<String, u64>,
    /// Earliest timestamp of a turn.
    pub first_ts: Option<DateTime<Utc>>,
    /// Latest timestamp of a turn.
    pub last_ts: Option<DateTime<Utc>>,
    /// The current pack's train cutoff, if it has one.
    pub train_cutoff: Option<DateTime<Utc>>,
    /// Clean turns in fresh threads (the held-out candidates).
    pub fresh_turns: u64,
    /// Fresh threads.
    pub fresh_threads: usize,
    /// The gate verdict.
    pub gate: Gate,
}

/// Whether there is enough data to optimize, and if not, why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// Every minimum met.
    pub met: bool,
    /// One line per minimum not met.
    pub reasons: Vec<String>,
}

impl Gate {
    /// Checks counts against the configured minimums.
    pub fn check(cfg: &GateConfig, threads: usize, clean_turns: u64, workspaces: usize) -> Gate {
        let mut reasons = Vec::new();
        if threads < cfg.min_threads {
            reasons.push(format!(
                "{threads} threads with clean turns; the gate needs {} (gate.min_threads)",
                cfg.min_threads
            ));
        }
        if clean_turns < cfg.min_clean_turns as u64 {
            reasons.push(format!(
                "{clean_turns} clean turns; the gate needs {} (gate.min_clean_turns)",
                cfg.min_clean_turns
            ));
        }
        if workspaces < cfg.min_workspaces {
            reasons.push(format!(
                "{workspaces} workspaces; the gate needs {} (gate.min_workspaces)",
                cfg.min_workspaces
            ));
        }
        Gate {
            met: reasons.is_empty(),
            reasons,
        }
    }
}

/// What the statistics pass needs besides the files.
pub struct StatsInput<'a> {
    /// The signature whose turns are counted.
    pub signature: &'a Signature,
    /// Field pointers.
    pub fields: &'a FieldMap,
    /// The persona input field, if any.
    pub persona_field: Option<&'a str>,
    /// Line length cap.
    pub max_line_bytes: usize,
    /// Gate minimums.
    pub gate: &'a GateConfig,
    /// Split settings (which threads are fresh).
    pub split: &'a SplitConfig,
    /// The current pack's train cutoff.
    pub train_cutoff: Option<DateTime<Utc>>,
}

fn fingerprint(id: &str) -> u64 {
    // 64 bits is enough to count duplicates among billions of ids; exact
    // deduplication of the examples themselves (Dataset) compares full ids.
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// Computes statistics over `files` in one streaming pass.
pub fn compute(files: &[PathBuf], input: &StatsInput<'_>) -> Result<TraceStats, TraceError> {
    let parser = LineParser::new(input.signature, input.fields, input.persona_field);
    let max = input.max_line_bytes;
    let mut report = IngestReport {
        files: files.len(),
        ..Default::default()
    };
    let mut seen: HashSet<u64> = HashSet::new();
    let mut threads: HashMap<String, ThreadAgg> = HashMap::new();
    let mut workspaces: HashSet<String> = HashSet::new();
    let mut personas: BTreeMap<String, u64> = BTreeMap::new();
    let mut clean_turns = 0u64;
    let mut first_ts: Option<DateTime<Utc>> = None;
    let mut last_ts: Option<DateTime<Utc>> = None;

    run_batches(
        files,
        max,
        |batch| {
            batch
                .lines()
                .map(|(no, line)| {
                    let kind = match line {
                        RawLine::Line(bytes) => parser.head(bytes),
                        RawLine::TooLong(n) => LineKind::Bad(bad_line_reason(n, max)),
                    };
                    let fp = match &kind {
                        LineKind::Turn(h) => fingerprint(&h.id.0),
                        _ => 0,
                    };
                    (batch.file, no, fp, kind)
                })
                .collect::<Vec<(usize, u64, u64, LineKind<TurnHead>)>>()
        },
        |results| {
            for (file, no, fp, kind) in results {
                report.lines += 1;
                match kind {
                    LineKind::Bad(reason) => report.push_bad(&files[file], no, reason),
                    LineKind::OtherSignature => report.other_signature += 1,
                    LineKind::Turn(head) => {
                        if !seen.insert(fp) {
                            report.duplicates += 1;
                            continue;
                        }
                        if let Some(ts) = head.ts {
                            first_ts = Some(first_ts.map_or(ts, |f| f.min(ts)));
                            last_ts = Some(last_ts.map_or(ts, |l| l.max(ts)));
                        }
                        let agg = threads.entry(head.thread).or_default();
                        if let Some(ts) = head.ts {
                            agg.start = Some(agg.start.map_or(ts, |s| s.min(ts)));
                        }
                        if !head.clean {
                            report.not_clean_turns += 1;
                            continue;
                        }
                        agg.clean += 1;
                        clean_turns += 1;
                        if let Some(w) = head.workspace
                            && !workspaces.contains(&w)
                        {
                            workspaces.insert(w);
                        }
                        if let Some(p) = head.persona {
                            *personas.entry(p).or_default() += 1;
                        }
                    }
                }
            }
        },
    )?;

    let with_clean: Vec<(&String, &ThreadAgg)> =
        threads.iter().filter(|(_, a)| a.clean > 0).collect();
    let starts: Vec<(String, Option<DateTime<Utc>>)> = with_clean
        .iter()
        .map(|(t, a)| ((*t).clone(), a.start))
        .collect();
    let fresh = fresh_thread_set(&starts, input.train_cutoff, input.split);
    let fresh_turns = with_clean
        .iter()
        .filter(|(t, _)| fresh.contains(t.as_str()))
        .map(|(_, a)| a.clean as u64)
        .sum();
    let gate = Gate::check(input.gate, with_clean.len(), clean_turns, workspaces.len());
    Ok(TraceStats {
        ingest: report,
        clean_turns,
        threads: with_clean.len(),
        workspaces: workspaces.len(),
        personas,
        first_ts,
        last_ts,
        train_cutoff: input.train_cutoff,
        fresh_turns,
        fresh_threads: fresh.len(),
        gate,
    })
}
