//! Optimizer benchmark: the full default MIPRO search (10 candidates × 25
//! trials, 80 train / 40 val) on the example, with every role served by a
//! local OpenAI-compatible server with a fixed 50 ms latency, concurrency 16.
//! Prints wall time, LM calls by role and the bound calls × latency /
//! concurrency. Asserts nothing.
//!
//!     cargo bench --bench optimize

use std::path::PathBuf;
use std::time::{Duration, Instant};

use promptc::commands::optimize::{OptimizeArgs, optimize};
use promptc::commands::{Context, Global};
use promptc::lm::sim_server::{ServerOptions, SimServer};

const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: u32 = 16;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let srv = SimServer::start(ServerOptions { latency: LATENCY, ..Default::default() }).await.expect("server");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().expect("temp dir");
        let mut ctx = Context::load(&Global { config: root.join("examples/gossip/promptc.yaml"), ..Default::default() }).expect("example config");
        let overrides: Vec<_> = [("task", "sim-task"), ("judge", "sim-judge"), ("proposer", "sim-proposer")]
            .iter()
            .map(|(role, model)| format!("{role}=openai:{model}@{}/v1", srv.url()).parse().expect("spec"))
            .collect();
        ctx.config.apply_lm_overrides(&overrides);
        for role in promptc::lm::Role::ALL {
            let lm = match role {
                promptc::lm::Role::Task => &mut ctx.config.lms.task,
                promptc::lm::Role::Judge => &mut ctx.config.lms.judge,
                promptc::lm::Role::Proposer => &mut ctx.config.lms.proposer,
            };
            lm.concurrency = CONCURRENCY;
        }
        ctx.config.eval.concurrency = CONCURRENCY as usize;
        ctx.config.split.max_train = Some(80);
        ctx.config.split.max_val = Some(40);
        ctx.config.cache.path = dir.path().join("cache.sqlite");
        ctx.config.budget.max_calls = None;
        let args = OptimizeArgs { out: Some(dir.path().join("run")), ..Default::default() };
        let start = Instant::now();
        let out = optimize(&ctx, &args).await.expect("optimize");
        let wall = start.elapsed().as_secs_f64();
        let lm = &out.json["lm"];
        let calls = lm["calls"].as_u64().unwrap_or(0);
        let bound = calls as f64 * LATENCY.as_secs_f64() / f64::from(CONCURRENCY);
        println!(
            "mipro 10 candidates × 25 trials, 80 train / 40 val, {}ms latency, concurrency {CONCURRENCY}:",
            LATENCY.as_millis()
        );
        println!(
            "  wall {wall:.2}s; LM calls task {}, judge {}, proposer {} (total {calls}); bound {bound:.2}s; ratio {:.2} (target <= 1.2)",
            lm["roles"]["task"]["calls"], lm["roles"]["judge"]["calls"], lm["roles"]["proposer"]["calls"],
            wall / bound
        );
        println!("  val {:.1} -> {:.1}; server saw {} requests", out.json["baseline_val"].as_f64().unwrap_or(0.0), out.json["best_val"].as_f64().unwrap_or(0.0), srv.requests());
    });
}
