//! `traces stats`: counts over a signature's trace files in one streaming pass,
//! and the gate verdict.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::signature::Signature;
use crate::traces::parse::{LineKind, LineParser};
use crate::traces::reader::{Batch, InBatch, Line, RawLine, run_batches};
use crate::traces::settings::{FieldMap, GateConfig, SplitConfig};
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
    /// Bad lines per file (every file with one), so a summary names the right file.
    #[serde(rename = "bad_lines_by_file")]
    pub bad_by_file: indexmap::IndexMap<std::path::PathBuf, u64>,
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
        *self.bad_by_file.entry(file.to_path_buf()).or_insert(0) += 1;
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

static EMPTY: String = String::new();

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
    /// Another tool's export format, read as promptc lines.
    pub expand: Option<&'a dyn crate::traces::Expand>,
}

fn fingerprint(id: &str) -> u64 {
    // 64 bits is enough to count duplicates among billions of ids; exact
    // deduplication of the examples themselves (Dataset) compares full ids.
    // A fixed seed: the same ids give the same count on every run.
    foldhash::quality::FixedState::with_seed(0x5eed).hash_one(id)
}

/// The string tables' hasher: foldhash, several times SipHash's speed on the
/// short strings of a trace line (SipHash was a few percent of the whole
/// statistics pass), seeded per process.
type Strings<K> = HashMap<K, u32, foldhash::fast::RandomState>;

/// Fingerprints are already hashes: the set uses them as they are.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

const NONE: u32 = u32::MAX;

/// One turn, with its strings replaced by indexes into its batch's tables.
struct TurnRec {
    fp: u64,
    thread: u32,
    workspace: u32,
    persona: u32,
    ts: Option<DateTime<Utc>>,
    clean: bool,
}

/// What a worker hands back for one batch: the strings of the batch once each.
#[derive(Default)]
struct BatchAgg {
    file: usize,
    lines: u64,
    other_signature: u64,
    bad: Vec<(InBatch, String)>,
    threads: Vec<String>,
    workspaces: Vec<String>,
    personas: Vec<String>,
    turns: Vec<TurnRec>,
}

/// Interns borrowed strings of one batch.
struct Table<'l> {
    index: Strings<Cow<'l, str>>,
}

impl<'l> Table<'l> {
    fn new() -> Self {
        Table {
            index: Strings::default(),
        }
    }
    fn id(&mut self, s: Option<Cow<'l, str>>) -> u32 {
        match s {
            None => NONE,
            Some(s) => {
                let n = self.index.len() as u32;
                *self.index.entry(s).or_insert(n)
            }
        }
    }
    fn into_vec(self) -> Vec<String> {
        let mut v = vec![String::new(); self.index.len()];
        for (s, i) in self.index {
            v[i as usize] = s.into_owned();
        }
        v
    }
}

/// Global index of each of a batch's strings (one lookup per distinct string per batch).
fn resolve(local: &[String], global: &mut Strings<String>, on_new: &mut impl FnMut()) -> Vec<u32> {
    local
        .iter()
        .map(|s| match global.get(s) {
            Some(&i) => i,
            None => {
                let i = global.len() as u32;
                global.insert(s.clone(), i);
                on_new();
                i
            }
        })
        .collect()
}

/// The heads of one batch of lines, with local ids for threads, workspaces
/// and personas (merged into the global tables in file order).
fn head_batch(
    parser: &LineParser<'_>,
    batch: &Batch,
    max: usize,
    expand: Option<&dyn crate::traces::Expand>,
) -> BatchAgg {
    let mut agg = BatchAgg {
        file: batch.file,
        ..Default::default()
    };
    let (mut th, mut ws, mut pe) = (Table::new(), Table::new(), Table::new());
    for (no, line) in batch.lines() {
        agg.lines += 1;
        let kind = match (line, expand) {
            (RawLine::Line(line), None) => parser.head_ref_line(line),
            (RawLine::Line(Line { bytes, .. }), Some(x)) => {
                // Another tool's record: its lines are built here, so their heads are owned.
                for kind in crate::traces::expanded(x, bytes, |l| parser.head(l)) {
                    match kind {
                        LineKind::Bad(reason) => agg.bad.push((no, reason)),
                        LineKind::OtherSignature => agg.other_signature += 1,
                        LineKind::Turn(h) => agg.turns.push(TurnRec {
                            fp: fingerprint(&h.id.0),
                            thread: th.id(Some(Cow::Owned(h.thread))),
                            workspace: ws.id(h.workspace.map(Cow::Owned)),
                            persona: pe.id(h.persona.map(Cow::Owned)),
                            ts: h.ts,
                            clean: h.clean,
                        }),
                    }
                }
                continue;
            }
            (RawLine::TooLong(n), _) => LineKind::Bad(bad_line_reason(n, max)),
        };
        match kind {
            LineKind::Bad(reason) => agg.bad.push((no, reason)),
            LineKind::OtherSignature => agg.other_signature += 1,
            LineKind::Turn(h) => agg.turns.push(TurnRec {
                fp: fingerprint(&h.id),
                thread: th.id(Some(h.thread)),
                workspace: ws.id(h.workspace),
                persona: pe.id(h.persona),
                ts: h.ts,
                clean: h.clean,
            }),
        }
    }
    agg.threads = th.into_vec();
    agg.workspaces = ws.into_vec();
    agg.personas = pe.into_vec();
    agg
}

/// Computes statistics over `files` in one streaming pass.
pub fn compute(files: &[PathBuf], input: &StatsInput<'_>) -> Result<TraceStats, TraceError> {
    let parser = LineParser::new(input.signature, input.fields, input.persona_field);
    let max = input.max_line_bytes;
    let mut report = IngestReport {
        files: files.len(),
        ..Default::default()
    };
    let mut seen: HashSet<u64, BuildHasherDefault<PassThrough>> = HashSet::default();
    let mut thread_ix: Strings<String> = Strings::default();
    let mut threads: Vec<ThreadAgg> = Vec::new();
    let mut ws_ix: Strings<String> = Strings::default();
    let mut ws_clean: Vec<bool> = Vec::new();
    let mut persona_ix: Strings<String> = Strings::default();
    let mut persona_counts: Vec<u64> = Vec::new();
    let mut clean_turns = 0u64;
    let mut first_ts: Option<DateTime<Utc>> = None;
    let mut last_ts: Option<DateTime<Utc>> = None;

    run_batches(
        files,
        max,
        |batch| head_batch(&parser, batch, max, input.expand),
        |agg, first| {
            report.lines += agg.lines;
            report.other_signature += agg.other_signature;
            for (at, reason) in agg.bad {
                report.push_bad(&files[agg.file], first.number(at), reason);
            }
            let t_map = resolve(&agg.threads, &mut thread_ix, &mut || {
                threads.push(ThreadAgg::default())
            });
            let w_map = resolve(&agg.workspaces, &mut ws_ix, &mut || ws_clean.push(false));
            let p_map = resolve(&agg.personas, &mut persona_ix, &mut || {
                persona_counts.push(0)
            });
            for t in agg.turns {
                if !seen.insert(t.fp) {
                    report.duplicates += 1;
                    continue;
                }
                let thread = &mut threads[t_map[t.thread as usize] as usize];
                if let Some(ts) = t.ts {
                    first_ts = Some(first_ts.map_or(ts, |f| f.min(ts)));
                    last_ts = Some(last_ts.map_or(ts, |l| l.max(ts)));
                    thread.start = Some(thread.start.map_or(ts, |s| s.min(ts)));
                }
                if !t.clean {
                    report.not_clean_turns += 1;
                    continue;
                }
                thread.clean += 1;
                clean_turns += 1;
                if t.workspace != NONE {
                    ws_clean[w_map[t.workspace as usize] as usize] = true;
                }
                if t.persona != NONE {
                    persona_counts[p_map[t.persona as usize] as usize] += 1;
                }
            }
        },
    )?;

    let mut names: Vec<&String> = vec![&EMPTY; threads.len()];
    for (name, &i) in &thread_ix {
        names[i as usize] = name;
    }
    let with_clean: Vec<(&String, &ThreadAgg)> = names
        .into_iter()
        .zip(&threads)
        .filter(|(_, a)| a.clean > 0)
        .collect();
    let workspaces = ws_clean.iter().filter(|c| **c).count();
    let personas: BTreeMap<String, u64> = persona_ix
        .into_iter()
        .map(|(p, i)| (p, persona_counts[i as usize]))
        .filter(|(_, n)| *n > 0)
        .collect();
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
    let gate = Gate::check(input.gate, with_clean.len(), clean_turns, workspaces);
    Ok(TraceStats {
        ingest: report,
        clean_turns,
        threads: with_clean.len(),
        workspaces,
        personas,
        first_ts,
        last_ts,
        train_cutoff: input.train_cutoff,
        fresh_turns,
        fresh_threads: fresh.len(),
        gate,
    })
}
