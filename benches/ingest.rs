//! Ingestion benchmark: `traces stats`' streaming pass over a generated trace
//! file of at least 1 GB, beside a plain Python `json.loads` line loop over the
//! same file, in the same run; then the same pass over the example exported as
//! OpenTelemetry GenAI spans (OTLP/JSON, an eighth of the size), read in place
//! with `traces.format: otel`, beside the Python loop over that file. Prints
//! MB/s and peak RSS; asserts nothing.
//!
//! The two run alternately, three passes each (`PROMPTC_BENCH_PASSES`), and
//! the ratio is of their best passes: on a shared machine the best pass is
//! the one least slowed by other work. Medians are printed beside it.
//!
//!     cargo bench --bench ingest                  # 1 GiB
//!     PROMPTC_BENCH_GB=2 cargo bench --bench ingest
//!
//! Beside the walls it prints each side's CPU time per pass (all of
//! promptc's threads; Python's `process_time`): on a shared machine another
//! process slows promptc's two-core pass more than the one-core loop, and the
//! CPU times say how much work each did whatever the machine was doing. The
//! load average before and after says how busy it was.
//!
//! RSS is checked for growth by measuring the same pass on a quarter-size file
//! first, in this process: peak RSS is a high-water mark, so if the full-size
//! pass does not raise it much, memory does not grow with file size.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use promptc::commands::{Context, Global};
use promptc::traces::stats::compute;

/// This process's CPU time so far (user + system, every thread), from
/// `/proc/self/stat` in clock ticks of 10 ms (Linux's `CLK_TCK` of 100).
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// The load average over the last minute.
fn load_1min() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Writes copies of the example's traces, each copy with its own thread and
/// trace ids, until the file holds `bytes` bytes.
fn generate(example_traces: &[PathBuf], out: &Path, bytes: u64) -> std::io::Result<u64> {
    if let Ok(m) = std::fs::metadata(out)
        && m.len() >= bytes
    {
        return Ok(m.len());
    }
    let mut lines = Vec::new();
    for p in example_traces {
        let f = std::io::BufReader::new(std::fs::File::open(p)?);
        for l in f.lines() {
            lines.push(l?);
        }
    }
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    let mut written = 0u64;
    let mut copy = 0u64;
    while written < bytes {
        let prefix = format!("\"c{copy}_th_");
        for l in &lines {
            let line = l.replace("\"th_", &prefix);
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
            written += line.len() as u64 + 1;
        }
        copy += 1;
    }
    w.flush()?;
    Ok(written)
}

const PY_LOOP: &str = r#"
import json, sys, time
t = time.perf_counter(); c = time.process_time(); n = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        json.loads(line); n += 1
dt = time.perf_counter() - t; dc = time.process_time() - c
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"lines": n, "secs": dt, "cpu_secs": dc, "maxrss_kb": hwm}))
"#;

/// The example's lines as OTLP/JSON export requests of GenAI spans (four
/// spans per request, template variables as attributes, the answer as an
/// output message), until the file holds `bytes` bytes.
fn generate_otlp(example_traces: &[PathBuf], out: &Path, bytes: u64) -> std::io::Result<u64> {
    use serde_json::{Value, json};
    if let Ok(m) = std::fs::metadata(out)
        && m.len() >= bytes
    {
        return Ok(m.len());
    }
    let attr = |k: &str, v: &Value| {
        let value = match v {
            Value::String(s) => json!({"stringValue": s}),
            Value::Number(n) if n.is_i64() => json!({"intValue": n.to_string()}),
            other => json!({"stringValue": other.to_string()}),
        };
        json!({"key": k, "value": value})
    };
    let mut lines: Vec<Value> = Vec::new();
    for p in example_traces {
        for l in std::io::BufReader::new(std::fs::File::open(p)?).lines() {
            lines.push(serde_json::from_str(&l?).map_err(std::io::Error::other)?);
        }
    }
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    let (mut written, mut copy) = (0u64, 0u64);
    while written < bytes {
        for chunk in lines.chunks(4) {
            let spans: Vec<Value> = chunk
                .iter()
                .map(|l| {
                    let answer = format!(
                        "=== utterance ===\n{}\n\n=== rhetorical_move ===\n{}\n\n=== end ===",
                        l["outputs"]["utterance"].as_str().unwrap_or(""),
                        l["outputs"]["rhetorical_move"].as_str().unwrap_or("")
                    );
                    let msgs = json!([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]);
                    let mut attrs = vec![
                        attr("gen_ai.prompt.name", &json!("speak")),
                        attr("gen_ai.conversation.id", &json!(format!("c{copy}_{}", l["thread"].as_str().unwrap_or("")))),
                        attr("workspace", &l["workspace"]),
                        attr("gen_ai.output.messages", &json!(msgs.to_string())),
                    ];
                    for (k, v) in l["inputs"].as_object().into_iter().flatten() {
                        attrs.push(attr(&format!("gen_ai.prompt.variable.{k}"), v));
                    }
                    let ts: chrono::DateTime<chrono::Utc> =
                        l["ts"].as_str().unwrap_or("").parse().unwrap_or_default();
                    json!({"traceId": format!("{copy:016x}"), "spanId": format!("c{copy}_{}", l["id"].as_str().unwrap_or("")),
                        "name": "chat", "startTimeUnixNano": ts.timestamp_nanos_opt().unwrap_or(0).to_string(),
                        "attributes": attrs})
                })
                .collect();
            let line = json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).to_string();
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
            written += line.len() as u64 + 1;
        }
        copy += 1;
    }
    w.flush()?;
    Ok(written)
}

/// The Python loop over `path`: (lines, seconds, CPU seconds, peak RSS in
/// KB), or why not.
#[allow(clippy::type_complexity)]
fn python_loop(path: &Path) -> Result<(serde_json::Value, f64, f64, f64), String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY_LOOP)
        .arg(path)
        .output()
        .map_err(|e| format!("python3 not available: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python loop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    Ok((
        v["lines"].clone(),
        v["secs"].as_f64().unwrap_or(f64::NAN),
        v["cpu_secs"].as_f64().unwrap_or(f64::NAN),
        v["maxrss_kb"].as_f64().unwrap_or(0.0),
    ))
}

/// The shortest and the median of some timings.
fn best_and_median(secs: &[f64]) -> (f64, f64) {
    let mut sorted = secs.to_vec();
    sorted.sort_by(f64::total_cmp);
    (sorted[0], sorted[sorted.len() / 2])
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let gb: f64 = std::env::var("PROMPTC_BENCH_GB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let size = (gb * (1u64 << 30) as f64) as u64;
    let ctx = Context::load(&Global {
        config: root.join("examples/gossip/promptc.yaml"),
        signature: None,
        ..Default::default()
    })
    .expect("the example config loads");
    let example_traces = ctx.trace_files(&[]).expect("example traces");
    let dir = root.join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench data dir");
    let small = dir.join("traces-quarter.jsonl");
    let big = dir.join(format!("traces-{gb}g.jsonl"));
    let t = Instant::now();
    let small_bytes = generate(&example_traces, &small, size / 4).expect("generate");
    let big_bytes = generate(&example_traces, &big, size).expect("generate");
    println!(
        "data: {} ({:.0} MB) and {} ({:.0} MB), ready in {:.1}s",
        small.display(),
        small_bytes as f64 / 1e6,
        big.display(),
        big_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let run = |path: &Path| {
        let input = ctx.stats_input(None);
        let (t, c) = (Instant::now(), cpu_secs());
        let stats = compute(&[path.to_path_buf()], &input).expect("stats");
        (t.elapsed().as_secs_f64(), cpu_secs() - c, stats)
    };
    // Both contenders read from the page cache: read each file once first, so
    // neither pays for the disk (the generator may have been skipped).
    for p in [&small, &big] {
        let mut f = std::fs::File::open(p).expect("bench data");
        std::io::copy(&mut f, &mut std::io::sink()).expect("warm-up read");
    }
    let rss0 = peak_rss_kb();
    let (secs_small, _, _) = run(&small);
    let rss_small = peak_rss_kb();
    // Both contenders several times, interleaved, on a machine that may be
    // shared: the best pass of each is the figure least disturbed by other
    // work (the ratio is of the bests), and the medians are printed beside it.
    let passes: usize = std::env::var("PROMPTC_BENCH_PASSES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut our_cpu, mut their_cpu) = (Vec::new(), Vec::new());
    let load_before = load_1min();
    let mut stats = None;
    let mut py_lines = serde_json::Value::Null;
    let mut py_rss = 0.0;
    for _ in 0..passes {
        let (secs, cpu, s) = run(&big);
        ours.push(secs);
        our_cpu.push(cpu);
        stats = Some(s);
        match python_loop(&big) {
            Ok((lines, py_secs, py_cpu, rss)) => {
                theirs.push(py_secs);
                their_cpu.push(py_cpu);
                (py_lines, py_rss) = (lines, rss);
            }
            Err(e) => println!("{e}"),
        }
    }
    let rss_big = peak_rss_kb();
    let Some(stats) = stats else { return };
    let mbps = |secs: f64| big_bytes as f64 / 1e6 / secs;
    let (best, median) = best_and_median(&ours);
    println!(
        "promptc traces stats: {} lines, {} clean turns, {} threads; best of {passes} passes {best:.2}s = {:.0} MB/s, median {:.0} MB/s (quarter file: {:.0} MB/s)",
        stats.ingest.lines,
        stats.clean_turns,
        stats.threads,
        mbps(best),
        mbps(median),
        small_bytes as f64 / 1e6 / secs_small
    );
    println!(
        "promptc peak RSS: {:.1} MB before, {:.1} MB after the quarter-size file, {:.1} MB after the full file",
        rss0 as f64 / 1024.0,
        rss_small as f64 / 1024.0,
        rss_big as f64 / 1024.0
    );
    if !theirs.is_empty() {
        let (py_best, py_median) = best_and_median(&theirs);
        println!(
            "python json.loads loop: {py_lines} lines; best of {} passes {py_best:.2}s = {:.0} MB/s, median {:.0} MB/s, peak RSS {:.1} MB",
            theirs.len(),
            mbps(py_best),
            mbps(py_median),
            py_rss / 1024.0
        );
        println!(
            "ratio: promptc is {:.1}x the Python loop, best to best (target >= 10x); {:.1}x median to median",
            py_best / best,
            py_median / median
        );
        let (cpu_best, _) = best_and_median(&our_cpu);
        let (py_cpu_best, _) = best_and_median(&their_cpu);
        println!(
            "CPU time per pass, least of {passes}: promptc {cpu_best:.2} s (all threads), Python {py_cpu_best:.2} s: promptc does the work in {:.1}x less CPU; load average {load_before} before, {} after",
            py_cpu_best / cpu_best,
            load_1min()
        );
    }

    // OpenTelemetry GenAI spans, read in place (`traces.format: otel`).
    let otlp = dir.join(format!("otlp-{gb}g.jsonl"));
    let otlp_bytes = generate_otlp(&example_traces, &otlp, size / 8).expect("generate OTLP");
    let mut otel_ctx = Context::load(&Global {
        config: root.join("examples/gossip/promptc.yaml"),
        signature: None,
        ..Default::default()
    })
    .expect("the example config loads");
    otel_ctx.set_format(promptc::traces::settings::TraceFormat::Otel);
    let mut f = std::fs::File::open(&otlp).expect("OTLP data");
    std::io::copy(&mut f, &mut std::io::sink()).expect("warm-up read");
    let t = Instant::now();
    let stats =
        compute(std::slice::from_ref(&otlp), &otel_ctx.stats_input(None)).expect("OTLP stats");
    let secs = t.elapsed().as_secs_f64();
    let otlp_mbps = otlp_bytes as f64 / 1e6 / secs;
    println!(
        "promptc traces stats, OTLP/JSON in place: {:.0} MB, {} export requests, {} clean turns in {secs:.2}s = {otlp_mbps:.0} MB/s ({:.0} spans/s)",
        otlp_bytes as f64 / 1e6,
        stats.ingest.lines,
        stats.clean_turns,
        (stats.clean_turns + stats.ingest.not_clean_turns) as f64 / secs,
    );
    match python_loop(&otlp) {
        Ok((_, py_secs, _, _)) => {
            let py_mbps = otlp_bytes as f64 / 1e6 / py_secs;
            println!(
                "python json.loads loop over the OTLP file: {py_mbps:.0} MB/s; promptc's OTLP reader is {:.1}x it",
                otlp_mbps / py_mbps
            );
        }
        Err(e) => println!("{e}"),
    }
}
