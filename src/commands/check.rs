//! `promptc check`: config, signature, metric, pack and traces, together.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::commands::{Context, Global, Output};
use crate::config::ConfigError;
use crate::metric::spec::{MetricError, MetricSpec};
use crate::pack::{self, PackError};
use crate::signature::SignatureError;
use crate::traces::TraceError;
use crate::traces::stats::compute;
use crate::yamlerr::YamlError;

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `error` fails the check; `warning` does not.
    pub severity: Severity,
    /// The file concerned.
    pub file: PathBuf,
    /// The line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The key path, when it is about a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails the check.
    Error,
    /// Reported only.
    Warning,
}

impl Problem {
    fn error(file: &Path, line: Option<u64>, key: Option<String>, message: String) -> Problem {
        Problem {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line,
            key,
            message,
        }
    }
}

fn from_yaml(e: &YamlError) -> Problem {
    Problem::error(
        &e.path,
        e.line.map(|l| l as u64),
        (!e.key.is_empty()).then(|| e.key.clone()),
        e.message.clone(),
    )
}

/// Splits "key: message" as the pack validator phrases its problems.
fn keyed(file: &Path, text: &str) -> Problem {
    match text.split_once(": ") {
        Some((k, m)) if !k.contains(' ') => {
            Problem::error(file, None, Some(k.to_string()), m.to_string())
        }
        _ => Problem::error(file, None, None, text.to_string()),
    }
}

#[derive(Serialize)]
struct CheckOut<'a> {
    ok: bool,
    problems: &'a [Problem],
    /// Where things stand that are not problems (a new repository has no traces yet).
    notes: &'a [String],
    signatures: Vec<String>,
}

/// Runs every check; never stops at the first problem of a kind.
pub fn check(g: &Global, trace_globs: &[String]) -> anyhow::Result<Output> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut checked = Vec::new();
    match crate::config::Config::load(&g.config) {
        Err(e) => problems.push(config_problem(&g.config, &e)),
        Ok(cfg) => {
            let names: Vec<String> = match &g.signature {
                Some(n) => vec![n.clone()],
                None => cfg.signatures.keys().cloned().collect(),
            };
            for name in names {
                let g1 = Global {
                    signature: Some(name.clone()),
                    ..g.clone()
                };
                match Context::load(&g1) {
                    Err(e) => problems.push(context_problem(&g.config, &e)),
                    Ok(ctx) => {
                        check_signature(&ctx, trace_globs, &mut problems, &mut notes);
                        checked.push(name);
                    }
                }
            }
        }
    }
    let ok = !problems.iter().any(|p| p.severity == Severity::Error);
    let mut h = String::new();
    for p in &problems {
        let loc = match (p.line, &p.key) {
            (Some(l), Some(k)) => format!("{}:{l}: {k}: ", p.file.display()),
            (Some(l), None) => format!("{}:{l}: ", p.file.display()),
            (None, Some(k)) => format!("{}: {k}: ", p.file.display()),
            (None, None) => format!("{}: ", p.file.display()),
        };
        let sev = if p.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        let _ = writeln!(h, "{sev}: {loc}{}", p.message);
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let _ = writeln!(
        h,
        "{} ({} checked; {errors} errors, {} warnings)",
        if ok { "check: ok" } else { "check: failed" },
        if checked.is_empty() {
            "nothing".to_string()
        } else {
            checked.join(", ")
        },
        problems.len() - errors
    );
    for n in &notes {
        let _ = writeln!(h, "note: {n}");
    }
    let json = CheckOut {
        ok,
        problems: &problems,
        notes: &notes,
        signatures: checked,
    };
    let mut out = Output::ok(json, h);
    out.exit = if ok { 0 } else { 2 };
    Ok(out)
}

fn config_problem(path: &Path, e: &ConfigError) -> Problem {
    match e {
        ConfigError::Yaml(y) => from_yaml(y),
        ConfigError::Invalid {
            path,
            key,
            line,
            message,
        } => Problem::error(
            path,
            line.map(|l| l as u64),
            Some(key.clone()),
            message.clone(),
        ),
        other => Problem::error(path, None, None, other.to_string()),
    }
}

fn context_problem(config: &Path, e: &anyhow::Error) -> Problem {
    if let Some(c) = e.downcast_ref::<ConfigError>() {
        return config_problem(config, c);
    }
    if let Some(s) = e.downcast_ref::<SignatureError>() {
        return match s {
            SignatureError::Yaml(y) => from_yaml(y),
            SignatureError::Invalid { path, key, message } => {
                let line = std::fs::read_to_string(path)
                    .ok()
                    .and_then(|src| crate::yamlerr::locate_key(&src, key));
                Problem::error(
                    path,
                    line.map(|l| l as u64),
                    Some(key.clone()),
                    message.clone(),
                )
            }
            SignatureError::Io { path, .. } => Problem::error(path, None, None, s.to_string()),
        };
    }
    Problem::error(config, None, None, e.to_string())
}

fn check_signature(
    ctx: &Context,
    trace_globs: &[String],
    problems: &mut Vec<Problem>,
    notes: &mut Vec<String>,
) {
    check_metric(ctx, problems);
    let cutoff = check_pack(ctx, problems);
    check_traces(ctx, trace_globs, cutoff, problems, notes);
}

/// The metric file and its judge templates.
fn check_metric(ctx: &Context, problems: &mut Vec<Problem>) {
    let metric_path = ctx.resolve(&ctx.sig_cfg.metric);
    match MetricSpec::load(&metric_path) {
        Ok(spec) => {
            for t in
                crate::metric::template_check::check_judges(&metric_path, &spec, &ctx.signature)
            {
                problems.push(Problem::error(
                    &t.file,
                    t.line.map(|l| l as u64),
                    None,
                    format!("{} (from {}: {})", t.message, metric_path.display(), t.key),
                ));
            }
        }
        Err(MetricError::Yaml(y)) => problems.push(from_yaml(&y)),
        Err(MetricError::Invalid {
            path,
            key,
            line,
            message,
        }) => problems.push(Problem::error(
            &path,
            line.map(|l| l as u64),
            Some(key),
            message,
        )),
        Err(e @ MetricError::Io { .. }) => {
            problems.push(Problem::error(&metric_path, None, None, e.to_string()))
        }
    }
}

/// The pack, when there is one; returns its training cutoff.
fn check_pack(ctx: &Context, problems: &mut Vec<Problem>) -> Option<chrono::DateTime<chrono::Utc>> {
    let pack_path = ctx.resolve(&ctx.sig_cfg.pack);
    let mut cutoff = None;
    if pack_path.exists() {
        match pack::load(&pack_path, Some(&ctx.signature)) {
            Ok(loaded) => {
                cutoff = loaded.pack.train_cutoff();
                if loaded.stale_rendered {
                    problems.push(Problem {
                        severity: Severity::Warning,
                        file: pack_path.clone(),
                        line: None,
                        key: Some("rendered".into()),
                        message: format!(
                            "out of date with instructions and demos; run `promptc pack render {} --write`",
                            pack_path.display()
                        ),
                    });
                }
            }
            Err(PackError::Invalid { path, problems: ps }) => {
                problems.extend(ps.iter().map(|p| keyed(&path, p)))
            }
            Err(e @ PackError::Io { .. }) => {
                problems.push(Problem::error(&pack_path, None, None, e.to_string()))
            }
        }
    } else {
        problems.push(Problem {
            severity: Severity::Warning,
            file: pack_path.clone(),
            line: None,
            key: None,
            message: "no pack yet; `promptc optimize` writes the first one".into(),
        });
    }
    cutoff
}

/// The trace files: bad lines, files that match nothing, the gate.
fn check_traces(
    ctx: &Context,
    trace_globs: &[String],
    cutoff: Option<chrono::DateTime<chrono::Utc>>,
    problems: &mut Vec<Problem>,
    notes: &mut Vec<String>,
) {
    let files = match ctx.trace_files_noted(trace_globs) {
        Ok((f, trace_notes)) => {
            for n in trace_notes {
                problems.push(Problem {
                    severity: Severity::Warning,
                    file: ctx.config.path.clone(),
                    line: None,
                    key: Some(format!("signatures.{}.traces", ctx.name)),
                    message: n,
                });
            }
            f
        }
        // A new repository has no traces yet: say where they go, do not fail.
        Err(e)
            if trace_globs.is_empty()
                && matches!(
                    e.downcast_ref::<TraceError>(),
                    Some(TraceError::NoFiles { .. })
                ) =>
        {
            notes.push(format!(
                "{}: no traces yet: {e}; log calls there and promptc starts once the gate is met",
                ctx.name
            ));
            return;
        }
        Err(e) => {
            problems.push(Problem::error(
                &ctx.config.path,
                None,
                Some(format!("signatures.{}.traces", ctx.name)),
                e.to_string(),
            ));
            return;
        }
    };
    let input = ctx.stats_input(cutoff);
    match compute(&files, &input) {
        Ok(stats) => {
            for b in &stats.ingest.bad {
                problems.push(Problem::error(
                    &b.file,
                    Some(b.line),
                    None,
                    b.reason.clone(),
                ));
            }
            for (file, count) in &stats.ingest.bad_by_file {
                let listed = stats.ingest.bad.iter().filter(|b| &b.file == file).count();
                let unlisted = *count as usize - listed;
                if unlisted > 0 {
                    problems.push(Problem::error(
                        file,
                        None,
                        None,
                        format!("… and {unlisted} more bad lines in this file ({count} in all)"),
                    ));
                }
            }
            if !stats.gate.met {
                for r in &stats.gate.reasons {
                    problems.push(Problem {
                        severity: Severity::Warning,
                        file: ctx.config.path.clone(),
                        line: None,
                        key: Some("gate".into()),
                        message: r.clone(),
                    });
                }
            }
        }
        Err(e) => problems.push(Problem::error(&ctx.config.path, None, None, e.to_string())),
    }
}
