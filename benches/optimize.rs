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
//!
//! Beside each setting it prints how full the pipe was: the server's mean
//! requests in flight over each tenth of the run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promptc::commands::optimize::{OptimizeArgs, optimize};
use promptc::commands::{Context, Global};
use promptc::lm::sim_server::{ServerOptions, SimServer};

const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: u32 = 16;

/// One of the measured settings.
#[derive(Clone, Copy)]
struct Setting {
    name: &'static str,
    shared: bool,
    combined: bool,
}

const SETTINGS: [Setting; 3] = [
    Setting {
        name: "separate judges, 16 per role",
        shared: false,
        combined: false,
    },
    Setting {
        name: "separate judges, 16 in flight in total",
        shared: true,
        combined: false,
    },
    Setting {
        name: "combined judge, 16 in flight in total",
        shared: true,
        combined: true,
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

/// (wall seconds, calls by role, total calls, baseline val, best val)
async fn one(setting: Setting) -> (f64, [u64; 3], u64, f64, f64) {
    let srv = Arc::new(
        SimServer::start(ServerOptions {
            latency: LATENCY,
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
    let role = |r: &str| lm["roles"][r]["calls"].as_u64().unwrap_or(0);
    (
        wall,
        [role("task"), role("judge"), role("proposer")],
        lm["calls"].as_u64().unwrap_or(0),
        out.json["baseline_val"].as_f64().unwrap_or(0.0),
        out.json["best_val"].as_f64().unwrap_or(0.0),
    )
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
    for setting in SETTINGS {
        let mut runs: Vec<_> = (0..rounds).map(|_| rt.block_on(one(setting))).collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (wall, roles, calls, base, best) = runs[runs.len() / 2];
        let bound = calls as f64 * LATENCY.as_secs_f64() / f64::from(CONCURRENCY);
        println!(
            "  {}: wall {wall:.2}s; LM calls task {}, judge {}, proposer {} (total {calls}); bound {bound:.2}s; ratio {:.2} (target <= 1.15); val {base:.1} -> {best:.1}",
            setting.name,
            roles[0],
            roles[1],
            roles[2],
            wall / bound
        );
    }
}
