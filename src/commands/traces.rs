//! `promptc traces stats` and `promptc traces split`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::commands::{Context, Output, UsageError};
use crate::pack;
use crate::traces::BadLine;
use crate::traces::split::{FreshRule, split};
use crate::traces::stats::compute;

/// How many bad lines the human text lists before "and N more".
const SHOWN_BAD_LINES: usize = 20;

/// The current pack's train cutoff; a missing pack file means "no cutoff yet".
fn pack_cutoff(ctx: &Context) -> anyhow::Result<Option<DateTime<Utc>>> {
    let path = ctx.resolve(&ctx.sig_cfg.pack);
    if !path.exists() {
        return Ok(None);
    }
    Ok(pack::load(&path, Some(&ctx.signature))?.pack.train_cutoff())
}

fn list_bad(out: &mut String, bad: &[BadLine], total: u64) {
    for b in bad.iter().take(SHOWN_BAD_LINES) {
        let _ = writeln!(out, "  {b}");
    }
    if total as usize > SHOWN_BAD_LINES {
        let _ = writeln!(out, "  … and {} more", total as usize - SHOWN_BAD_LINES);
    }
}

/// `traces stats`.
pub fn stats(ctx: &Context, globs: &[String], strict: bool) -> anyhow::Result<Output> {
    let files = ctx.trace_files(globs)?;
    let cutoff = pack_cutoff(ctx)?;
    let stats = compute(&files, &ctx.stats_input(cutoff))?;
    stats
        .ingest
        .check_strict(strict || ctx.config.traces.strict)?;

    let mut h = String::new();
    let s = &stats;
    let _ = writeln!(
        h,
        "{}: {} files, {} lines",
        ctx.name, s.ingest.files, s.ingest.lines
    );
    let _ = writeln!(
        h,
        "  clean turns {}  threads {}  workspaces {}  (not clean {}, duplicates {}, other signatures {}, bad {})",
        s.clean_turns,
        s.threads,
        s.workspaces,
        s.ingest.not_clean_turns,
        s.ingest.duplicates,
        s.ingest.other_signature,
        s.ingest.bad_lines
    );
    if !s.personas.is_empty() {
        let p: Vec<String> = s.personas.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(h, "  personas: {}", p.join(", "));
    }
    if let (Some(a), Some(b)) = (s.first_ts, s.last_ts) {
        let _ = writeln!(h, "  from {} to {}", a.to_rfc3339(), b.to_rfc3339());
    }
    let _ = writeln!(
        h,
        "  fresh: {} turns in {} threads ({})",
        s.fresh_turns,
        s.fresh_threads,
        match s.train_cutoff {
            Some(c) => format!(
                "started at or after the pack's train_cutoff {}",
                c.to_rfc3339()
            ),
            None => "the pack has no train_cutoff: newest threads".into(),
        }
    );
    if s.gate.met {
        let _ = writeln!(h, "  gate: met");
    } else {
        let _ = writeln!(h, "  gate: not met");
        for r in &s.gate.reasons {
            let _ = writeln!(h, "    - {r}");
        }
    }
    if s.ingest.bad_lines > 0 {
        let _ = writeln!(h, "bad lines:");
        list_bad(&mut h, &s.ingest.bad, s.ingest.bad_lines);
        if s.ingest.bad_by_file.len() > 1 || s.ingest.bad_lines as usize > SHOWN_BAD_LINES {
            for (file, n) in &s.ingest.bad_by_file {
                let _ = writeln!(h, "  {}: {n} bad lines", file.display());
            }
        }
    }
    Ok(Output::ok(&stats, h))
}

#[derive(Serialize)]
struct SplitOut<'a> {
    train: usize,
    val: usize,
    heldout: usize,
    train_cutoff: Option<DateTime<Utc>>,
    heldout_threads: &'a [String],
    heldout_rule: FreshRule,
    pack_train_cutoff: Option<DateTime<Utc>>,
    excluded_turns: usize,
    train_threads: usize,
    val_threads: usize,
    bad_lines: u64,
}

/// `traces split`.
pub fn split_cmd(ctx: &Context, globs: &[String], strict: bool) -> anyhow::Result<Output> {
    let files = ctx.trace_files(globs)?;
    let cutoff = pack_cutoff(ctx)?;
    let data = ctx.dataset(&files)?;
    data.report
        .check_strict(strict || ctx.config.traces.strict)?;
    let s = split(&data.turns, cutoff, &ctx.config.split)?;
    let threads = |v: &[crate::traces::Turn]| {
        v.iter()
            .map(|t| t.thread.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    let out = SplitOut {
        train: s.train.len(),
        val: s.val.len(),
        heldout: s.heldout.len(),
        train_cutoff: s.train_cutoff,
        heldout_threads: &s.heldout_threads,
        heldout_rule: s.rule,
        pack_train_cutoff: cutoff,
        excluded_turns: s.excluded_turns,
        train_threads: threads(&s.train),
        val_threads: threads(&s.val),
        bad_lines: data.report.bad_lines,
    };
    let mut h = String::new();
    let _ = writeln!(
        h,
        "{}: train {} turns ({} threads), val {} turns ({} threads), held-out {} turns ({} threads)",
        ctx.name,
        out.train,
        out.train_threads,
        out.val,
        out.val_threads,
        out.heldout,
        s.heldout_threads.len()
    );
    let _ = writeln!(
        h,
        "  held-out: {}",
        match cutoff {
            Some(c) => format!(
                "fresh threads started at or after the pack's train_cutoff {}",
                c.to_rfc3339()
            ),
            None => "the pack has no train_cutoff; the newest threads".into(),
        }
    );
    if let Some(c) = s.train_cutoff {
        let _ = writeln!(
            h,
            "  new train_cutoff: {} (no train or val turn at or after it)",
            c.to_rfc3339()
        );
    }
    if s.excluded_turns > 0 {
        let _ = writeln!(
            h,
            "  {} late turns of older threads left out of train/val",
            s.excluded_turns
        );
    }
    if data.report.bad_lines > 0 {
        let _ = writeln!(
            h,
            "  {} bad lines skipped (see `promptc check`)",
            data.report.bad_lines
        );
    }
    Ok(Output::ok(out, h))
}

/// `traces import --format F FILES... --out PATH`: the signature's calls in
/// promptc's line format, each line checked by the same parser every command
/// reads traces with; a span that is not a usable trace is reported as
/// `file:line#span: reason` and left out. The output is written whole or not at all.
pub fn import(
    ctx: &Context,
    format: crate::traces::settings::TraceFormat,
    files: &[std::path::PathBuf],
    out: &std::path::Path,
) -> anyhow::Result<Output> {
    let Some(reader) =
        crate::formats::Reader::new(format, &ctx.signature, &ctx.config.traces.source)
    else {
        return Err(UsageError(
            "--format promptc: the files are promptc's lines already; `traces stats` checks them"
                .into(),
        )
        .into());
    };
    let parser = crate::traces::parse::LineParser::new(
        &ctx.signature,
        &crate::traces::settings::FieldMap::default(),
        ctx.sig_cfg.persona_field.as_deref(),
    );
    let max = ctx.config.traces.max_line_bytes;
    let mut text = String::new();
    let (mut written, mut bad): (usize, Vec<String>) = (0, Vec::new());
    crate::traces::reader::run_batches(
        files,
        max,
        |batch| {
            // Errors say where as `file:line`, then `#span` and the reason;
            // only the merge knows the line's number in its file.
            let lines = batch
                .lines()
                .map(|(at, raw)| {
                    let crate::traces::reader::RawLine::Line(line) = raw else {
                        return (
                            at,
                            vec![Err(format!(": longer than traces.max_line_bytes ({max})"))],
                        );
                    };
                    let records = match reader.convert(line.bytes) {
                        Err(reason) => vec![Err(format!(": {reason}"))],
                        Ok(spans) => spans
                            .into_iter()
                            .map(|(i, r)| checked(&parser, r).map_err(|e| format!("#{i}: {e}")))
                            .collect(),
                    };
                    (at, records)
                })
                .collect::<Vec<_>>();
            (batch.file, lines)
        },
        |(file, lines), first| {
            for (at, records) in lines {
                for r in records {
                    match r {
                        Ok(line) => {
                            text.push_str(&line);
                            text.push('\n');
                            written += 1;
                        }
                        Err(e) => {
                            bad.push(format!("{}:{}{e}", files[file].display(), first.number(at)))
                        }
                    }
                }
            }
        },
    )?;
    crate::files::write_text(out, &text)?;
    let mut human = format!(
        "{}: {written} calls written to {}; {} records left out\n",
        ctx.name,
        out.display(),
        bad.len()
    );
    for b in bad.iter().take(SHOWN_BAD_LINES) {
        let _ = writeln!(human, "  {b}");
    }
    if bad.len() > SHOWN_BAD_LINES {
        let _ = writeln!(human, "  … and {} more", bad.len() - SHOWN_BAD_LINES);
    }
    let json =
        serde_json::json!({"written": written, "out": out, "format": format.as_str(), "bad": bad});
    Ok(Output::ok(json, human))
}

/// A converted span as a promptc line, if the line parser reads it as a turn.
fn checked(
    parser: &crate::traces::parse::LineParser<'_>,
    converted: Result<serde_json::Value, String>,
) -> Result<String, String> {
    let line = converted?.to_string();
    match parser.turn(line.as_bytes()) {
        crate::traces::parse::LineKind::Turn(_) => Ok(line),
        crate::traces::parse::LineKind::Bad(reason) => Err(reason),
        crate::traces::parse::LineKind::OtherSignature => Err("another signature".into()),
    }
}
