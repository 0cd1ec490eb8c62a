//! LM layer benchmark: 2,000 calls through the full client (limits, retries,
//! cache writes) to a local OpenAI-compatible server with a fixed 50 ms
//! latency, at concurrency 16, beside the bound calls × latency / concurrency;
//! then the same 2,000 requests again, all cache hits. Prints; asserts nothing.
//!
//!     cargo bench --bench lm

use std::sync::Arc;
use std::time::{Duration, Instant};

use promptc::config::Config;
use promptc::lm::client::LmClient;
use promptc::lm::sim_server::{ServerOptions, SimServer};
use promptc::lm::{LmRequest, Role};
use promptc::program::{ChatRole, Message};

const CALLS: usize = 2000;
const CONCURRENCY: usize = 16;
const LATENCY: Duration = Duration::from_millis(50);

async fn run(client: Arc<LmClient>) -> (Duration, usize) {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let req = LmRequest::new(vec![
                Message {
                    role: ChatRole::System,
                    content: "You are a benchmark.".into(),
                },
                Message {
                    role: ChatRole::User,
                    content: format!("request {i}"),
                },
            ]);
            c.complete(Role::Task, req).await.map(|r| r.cached)
        }));
    }
    let mut cached = 0;
    for t in tasks {
        if let Ok(Ok(true)) = t.await {
            cached += 1;
        }
    }
    (start.elapsed(), cached)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let srv = SimServer::start(ServerOptions { latency: LATENCY, ..Default::default() }).await.expect("server");
        let dir = tempfile::tempdir().expect("temp dir");
        let yaml = format!(
            "signatures:\n  s:\n    signature: s.yaml\n    pack: p.json\n    traces: ['t/*.jsonl']\n    metric: m.yaml\nlms:\n  task: {{provider: openai, model: sim-task, base_url: '{}/v1', concurrency: {CONCURRENCY}}}\ncache:\n  path: cache.sqlite\n",
            srv.url()
        );
        let cfg = Config::from_yaml(&dir.path().join("promptc.yaml"), &yaml).expect("config");
        let client = Arc::new(LmClient::from_config(&cfg).expect("client"));
        let (wall, _) = run(client.clone()).await;
        let bound = LATENCY.as_secs_f64() * CALLS as f64 / CONCURRENCY as f64;
        let u = client.usage();
        println!(
            "{CALLS} calls, {}ms latency, concurrency {CONCURRENCY}: wall {:.2}s, bound {bound:.2}s, ratio {:.3} (target <= 1.1); server saw {} requests, client made {} calls",
            LATENCY.as_millis(),
            wall.as_secs_f64(),
            wall.as_secs_f64() / bound,
            srv.requests(),
            u.calls
        );
        let (wall, cached) = run(client.clone()).await;
        println!(
            "warm re-run: {cached}/{CALLS} cache hits in {:.3}s = {:.0} hits/s; server requests still {}",
            wall.as_secs_f64(),
            CALLS as f64 / wall.as_secs_f64(),
            srv.requests()
        );
    });
}
