//! Optimizer benchmark: the full default MIPRO search (10 candidates × 25
//! trials, 80 train / 40 val, minibatch 35) on the example, with every role
//! served by a local OpenAI-compatible server with a fixed 50 ms latency, in
//! the three settings of issue 18's table, each with a fresh server and an
//! empty cache: separate judges with 16 in flight per role, separate judges
//! with 16 in flight in total (one API key's limit), and the combined judge
//! with 16 in total. Prints wall time, LM calls by role and the ratio to the
//! bound (calls × latency / 16). Asserts nothing.
//!
//!     cargo bench --bench optimize
//!     PROMPTC_BENCH_ROUNDS=3 cargo bench --bench optimize   # median of 3
//!     PROMPTC_BENCH_PARALLEL_TRIALS=1 cargo bench --bench optimize   # one trial at a time
//!     PROMPTC_BENCH_ONLY=2,4 cargo bench --bench optimize   # these settings only
//!     PROMPTC_BENCH_SEED=3 cargo bench --bench optimize   # another search seed
//!     PROMPTC_BENCH_TRACE=occ.txt cargo bench --bench optimize   # every in-flight sample
//!
//! Beside each setting it prints how full the pipe was: the server's mean
//! requests in flight over each tenth of the run.
//!
//! Side by side with DSPy: when a Python with DSPy is found
//! (`PROMPTC_DSPY_PYTHON`, else `target/dspy-venv/bin/python`, which
//! `scripts/side-by-side.sh` installs), DSPy's MIPROv2 first runs the same
//! search (same train and val examples, 10 candidates × 25 trials, minibatch
//! 35, 16 threads) through `scripts/dspy_side_by_side.py` against a fresh
//! server of its own, and the bench prints both tools' requests, walls,
//! ratios to their own bounds and the ratio between them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promptc::commands::optimize::{OptimizeArgs, optimize};
use promptc::commands::{Context, Global};
use promptc::lm::sim_server::{FaultMix, ServerOptions, SimServer};

const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: u32 = 16;

/// One of the measured settings.
#[derive(Clone, Copy)]
struct Setting {
    name: &'static str,
    shared: bool,
    combined: bool,
    faults: bool,
}

/// Issue 18's fault mix: 20% answered 429/500/503, 5% hanging 5 s then
/// dropped, 5% garbage bodies.
const FAULTS: FaultMix = FaultMix {
    errors: 0.20,
    hangs: 0.05,
    hang: Duration::from_secs(5),
    garbage: 0.05,
};

const SETTINGS: [Setting; 4] = [
    Setting {
        name: "separate judges, 16 per role",
        shared: false,
        combined: false,
        faults: false,
    },
    Setting {
        name: "separate judges, 16 in flight in total",
        shared: true,
        combined: false,
        faults: false,
    },
    Setting {
        name: "combined judge, 16 in flight in total",
        shared: true,
        combined: true,
        faults: false,
    },
    Setting {
        name: "separate judges, 16 in flight in total, under faults",
        shared: true,
        combined: false,
        faults: true,
    },
];

/// A copy of the example whose metric asks the judges in one combined call.
fn example_copy(combined: bool, into: &Path) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/gossip");
    let copy = into.join("gossip");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(&root)
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success(), "copy the example");
    let _ = std::fs::remove_dir_all(copy.join(".promptc"));
    if combined {
        let m = std::fs::read_to_string(copy.join("metric.yaml")).expect("metric");
        std::fs::write(
            copy.join("metric.yaml"),
            m.replace("mode: separate", "mode: combined"),
        )
        .expect("metric");
    }
    copy.join("promptc.yaml")
}

/// One run's figures.
#[derive(Clone)]
struct Run {
    wall: f64,
    roles: [u64; 3],
    calls: u64,
    retries: u64,
    base: f64,
    best: f64,
    /// The chosen pack's instructions and demo ids.
    winner: String,
    /// How long the server held each request on average (the bound
    /// assumes `LATENCY`).
    held: Duration,
}

/// The fault mix, or `PROMPTC_BENCH_FAULTS=errors,hangs,garbage` (shares).
fn faults() -> FaultMix {
    let Ok(spec) = std::env::var("PROMPTC_BENCH_FAULTS") else {
        return FAULTS;
    };
    let v: Vec<f64> = spec
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    FaultMix {
        errors: v.first().copied().unwrap_or(FAULTS.errors),
        hangs: v.get(1).copied().unwrap_or(FAULTS.hangs),
        garbage: v.get(2).copied().unwrap_or(FAULTS.garbage),
        ..FAULTS
    }
}

async fn one(setting: Setting) -> Run {
    let srv = Arc::new(
        SimServer::start(ServerOptions {
            latency: LATENCY,
            fault_mix: setting.faults.then(faults),
            ..Default::default()
        })
        .await
        .expect("server"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let config = example_copy(setting.combined, dir.path());
    let mut ctx = Context::load(&Global {
        config,
        ..Default::default()
    })
    .expect("example config");
    let overrides: Vec<_> = [
        ("task", "sim-task"),
        ("judge", "sim-judge"),
        ("proposer", "sim-proposer"),
    ]
    .iter()
    .map(|(role, model)| {
        format!("{role}=openai:{model}@{}/v1", srv.url())
            .parse()
            .expect("spec")
    })
    .collect();
    ctx.config.apply_lm_overrides(&overrides);
    for lm in [
        &mut ctx.config.lms.task,
        &mut ctx.config.lms.judge,
        &mut ctx.config.lms.proposer,
    ] {
        lm.concurrency = CONCURRENCY;
    }
    ctx.config.limits.max_in_flight = setting.shared.then_some(CONCURRENCY);
    ctx.config.eval.concurrency = CONCURRENCY as usize;
    ctx.config.split.max_train = Some(80);
    ctx.config.split.max_val = Some(40);
    ctx.config.cache.path = dir.path().join("cache.sqlite");
    ctx.config.budget.max_calls = None;
    if let Some(n) = std::env::var("PROMPTC_BENCH_PARALLEL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        ctx.config.optimizer.parallel_trials = n;
    }
    if let Some(n) = std::env::var("PROMPTC_BENCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        ctx.config.optimizer.seed = n;
    }
    let args = OptimizeArgs {
        out: Some(dir.path().join("run")),
        ..Default::default()
    };
    let start = Instant::now();
    // How full the pipe is: the server's requests in flight, sampled every
    // millisecond, averaged per tenth of the wall time.
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (stop, samples, srv) = (stop.clone(), samples.clone(), srv.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                samples.lock().unwrap().push(srv.in_flight());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let out = optimize(&ctx, &args).await.expect("optimize");
    let wall = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let samples = samples.lock().unwrap().clone();
    if let Ok(path) = std::env::var("PROMPTC_BENCH_TRACE") {
        let text: Vec<String> = samples.iter().map(|x| x.to_string()).collect();
        let _ = std::fs::write(path, text.join("\n"));
    }
    let tenths: Vec<String> = samples
        .chunks(samples.len().div_ceil(10).max(1))
        .map(|c| format!("{:.1}", c.iter().sum::<u64>() as f64 / c.len() as f64))
        .collect();
    println!(
        "    {}: mean requests in flight per tenth of the run: {}",
        setting.name,
        tenths.join(" ")
    );
    let lm = &out.json["lm"];
    let role = |r: &str, k: &str| lm["roles"][r][k].as_u64().unwrap_or(0);
    let pack: serde_json::Value = out.json["pack"]
        .as_str()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let demos: Vec<&str> = pack["demos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["trace_id"].as_str())
        .collect();
    Run {
        wall,
        roles: [
            role("task", "calls"),
            role("judge", "calls"),
            role("proposer", "calls"),
        ],
        calls: lm["calls"].as_u64().unwrap_or(0),
        retries: ["task", "judge", "proposer"]
            .iter()
            .map(|r| role(r, "retries"))
            .sum(),
        base: out.json["baseline_val"].as_f64().unwrap_or(0.0),
        best: out.json["best_val"].as_f64().unwrap_or(0.0),
        winner: format!("{} | {}", pack["instructions"], demos.join(",")),
        held: srv.mean_latency().unwrap_or_default(),
    }
}

/// DSPy's run: wall time and requests by model, or why there is none.
struct DspyRun {
    wall: f64,
    roles: [u64; 3],
    best: Option<f64>,
    held: Duration,
}

/// The Python with DSPy installed, if there is one.
fn dspy_python() -> Option<PathBuf> {
    let p = std::env::var_os("PROMPTC_DSPY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dspy-venv/bin/python")
        });
    p.exists().then_some(p)
}

/// DSPy's MIPROv2 on the examples promptc optimizes on, against a fresh server.
async fn dspy(python: &Path) -> Result<DspyRun, String> {
    let srv = SimServer::start(ServerOptions {
        latency: LATENCY,
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = example_copy(false, dir.path());
    let mut ctx = Context::load(&Global {
        config: config.clone(),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    ctx.config.split.max_train = Some(80);
    ctx.config.split.max_val = Some(40);
    let base = ctx.current_pack().map_err(|e| e.to_string())?;
    let data = promptc::commands::optimize::run_data(&ctx, &base.pack, false)
        .map_err(|e| e.to_string())?;
    let write = |name: &str, turns: &[promptc::traces::Turn]| -> Result<PathBuf, String> {
        let path = dir.path().join(name);
        let lines: Vec<String> = turns
            .iter()
            .map(|t| {
                serde_json::json!({"id": t.id.0, "inputs": t.inputs, "outputs": t.outputs})
                    .to_string()
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").map_err(|e| e.to_string())?;
        Ok(path)
    };
    let (train, val) = (
        write("train.jsonl", &data.train)?,
        write("val.jsonl", &data.val)?,
    );
    let instructions = dir.path().join("instructions.txt");
    let text = base
        .pack
        .prompt()
        .map(|p| p.instructions.clone())
        .unwrap_or_default();
    std::fs::write(&instructions, text).map_err(|e| e.to_string())?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new(python)
        .arg(root.join("scripts/dspy_side_by_side.py"))
        .args(["--url", &srv.url()])
        .arg("--repo")
        .arg(config.parent().unwrap_or(dir.path()))
        .arg("--templates")
        .arg(root.join("prompts/adapter"))
        .arg("--train")
        .arg(&train)
        .arg("--val")
        .arg(&val)
        .arg("--instructions")
        .arg(&instructions)
        .args(["--threads", &CONCURRENCY.to_string()])
        .env("DSPY_CACHEDIR", dir.path().join("dspy-cache"))
        .output()
        .await
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        return Err(format!(
            "DSPy failed: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    let j: serde_json::Value =
        serde_json::from_str(last).map_err(|e| format!("DSPy printed no result ({e}): {last}"))?;
    let mut roles = [0u64; 3];
    for r in srv.recorded() {
        let model = serde_json::from_str::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v["model"].as_str().map(str::to_string))
            .unwrap_or_default();
        match model.as_str() {
            "sim-task" => roles[0] += 1,
            "sim-judge" => roles[1] += 1,
            "sim-proposer" => roles[2] += 1,
            _ => {}
        }
    }
    Ok(DspyRun {
        wall: j["wall_secs"].as_f64().unwrap_or(0.0),
        roles,
        best: j["best_val"].as_f64(),
        held: srv.mean_latency().unwrap_or_default(),
    })
}

fn main() {
    let rounds: usize = std::env::var("PROMPTC_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "mipro 10 candidates × 25 trials, 80 train / 40 val, {}ms latency, {rounds} round(s), median wall:",
        LATENCY.as_millis()
    );
    let dspy_run = match dspy_python() {
        Some(python) => {
            let runs: Vec<Result<DspyRun, String>> =
                (0..rounds).map(|_| rt.block_on(dspy(&python))).collect();
            let mut ok: Vec<DspyRun> = runs
                .into_iter()
                .filter_map(|r| r.map_err(|e| println!("  {e}")).ok())
                .collect();
            ok.sort_by(|a, b| a.wall.total_cmp(&b.wall));
            let n = ok.len();
            ok.into_iter().nth(n / 2)
        }
        None => {
            println!(
                "  DSPy: not installed (scripts/side-by-side.sh installs it into target/dspy-venv and runs this bench)"
            );
            None
        }
    };
    if let Some(d) = &dspy_run {
        let calls: u64 = d.roles.iter().sum();
        let bound = calls as f64 * LATENCY.as_secs_f64() / f64::from(CONCURRENCY);
        println!(
            "  DSPy MIPROv2, 16 threads: wall {:.2}s; requests task {}, judge {}, proposer {} (total {calls}); bound {bound:.2}s; ratio {:.2}; best val {}; the server held each request {:.2} ms on average",
            d.wall,
            d.roles[0],
            d.roles[1],
            d.roles[2],
            d.wall / bound,
            d.best
                .map(|b| format!("{b:.1} (judges only)"))
                .unwrap_or_else(|| "?".into()),
            d.held.as_secs_f64() * 1e3,
        );
    }
    // `PROMPTC_BENCH_ONLY=2,4`: only these settings (1-based).
    let only: Vec<usize> = std::env::var("PROMPTC_BENCH_ONLY")
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_default();
    let mut clean: Option<Run> = None;
    for (i, setting) in SETTINGS.into_iter().enumerate() {
        if !only.is_empty() && !only.contains(&(i + 1)) {
            continue;
        }
        let mut runs: Vec<Run> = (0..rounds).map(|_| rt.block_on(one(setting))).collect();
        runs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
        let r = runs[runs.len() / 2].clone();
        let bound = r.calls as f64 * LATENCY.as_secs_f64() / f64::from(CONCURRENCY);
        println!(
            "  {}: wall {:.2}s; LM calls task {}, judge {}, proposer {} (total {}, {} retries); bound {bound:.2}s; ratio {:.2} (target <= 1.15); val {:.1} -> {:.1}; the server held each request {:.2} ms on average",
            setting.name,
            r.wall,
            r.roles[0],
            r.roles[1],
            r.roles[2],
            r.calls,
            r.retries,
            r.wall / bound,
            r.base,
            r.best,
            r.held.as_secs_f64() * 1e3,
        );
        if let Some(d) = &dspy_run {
            let dspy_calls: u64 = d.roles.iter().sum();
            println!(
                "    against DSPy: {:.1}x fewer requests, {:.1}x less wall time",
                dspy_calls as f64 / r.calls.max(1) as f64,
                d.wall / r.wall
            );
        }
        match (&clean, setting.faults) {
            (Some(c), true) => println!(
                "    under faults: wall {:.2}x the clean run's (goal <= 2); the same chosen pack as the clean run: {}",
                r.wall / c.wall,
                if r.winner == c.winner { "yes" } else { "NO" }
            ),
            _ if setting.shared && !setting.combined => clean = Some(r),
            _ => {}
        }
    }
}
