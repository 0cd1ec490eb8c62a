//! A local HTTP server that answers the OpenAI, Anthropic and bridge APIs with
//! the simulator, with scripted faults. Tests and benchmarks start it on
//! 127.0.0.1; it is also handy for trying a real client against promptc's
//! formats offline.
//!
//! Routes: `POST …/chat/completions` (OpenAI), `POST …/v1/messages`
//! (Anthropic), `POST …/bridge` (bridge), `GET /health`. The model name picks
//! the simulated role: `sim-judge`, `sim-proposer`, anything else is the task.

mod batch;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::chat::{ChatRole, Message};
use crate::lm::sim::Sim;
use crate::lm::{LmRequest, Role};

/// A misbehaviour for the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, an optional Retry-After value and a JSON error body.
    Status {
        /// HTTP status.
        code: u16,
        /// Retry-After header value.
        retry_after: Option<String>,
        /// The error message in the body.
        message: String,
    },
    /// Wait this long before answering.
    Hang(Duration),
    /// Promise more bytes than are sent, then close.
    Truncate,
    /// A 200 with an HTML body.
    WrongContentType,
}

/// Server settings.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Added to every answer.
    pub latency: Duration,
    /// Fraction of requests (deterministic by request number) answered with a 503.
    pub fail_rate: f64,
    /// A hostile server: every answer's text starts with the request's
    /// `Authorization` (or `x-api-key`) header, as a model repeating its
    /// context might.
    pub echo_auth: bool,
    /// A header line (`Name: value`) added to every answer, even a 200.
    pub extra_header: Option<String>,
    /// Reported as `total_slots` at `GET /props`, as llama.cpp does (404 when unset).
    pub slots: Option<u32>,
    /// A full server: a request that arrives while this many are being
    /// answered gets a 429 (no Retry-After) instead of an answer.
    pub capacity: Option<u32>,
    /// Faults at random (deterministic by request number), as a flaky
    /// provider gives them.
    pub fault_mix: Option<FaultMix>,
}

/// Shares of requests that go wrong, each way.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultMix {
    /// Answered with a 429, 500 or 503 (in turn).
    pub errors: f64,
    /// Held for `hang`, then the connection is dropped without an answer.
    pub hangs: f64,
    /// How long a hanging request is held.
    pub hang: Duration,
    /// Answered 200 with a body that is not JSON.
    pub garbage: f64,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The path.
    pub path: String,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl State {
    /// The answer is decided: the request no longer counts as in flight.
    /// Counted before the answer is written, so that a client that sends its
    /// next request the moment it reads this one is never seen overlapping.
    fn settle(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

struct State {
    opts: ServerOptions,
    faults: Mutex<VecDeque<Fault>>,
    requests: AtomicU64,
    log: Mutex<Vec<Recorded>>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    rejected: AtomicU64,
    /// Requests held for the latency, and for how long in all.
    held: AtomicU64,
    held_nanos: AtomicU64,
    /// System prompts answered so far: the simulated provider prompt cache.
    prefixes: Mutex<std::collections::HashSet<String>>,
    /// The fake batch APIs' files and batches.
    batches: Mutex<batch::Batches>,
    /// Batches stay in progress while this is set.
    hold: std::sync::atomic::AtomicBool,
    /// `http://127.0.0.1:PORT`.
    url: String,
}

/// A running server; stops when dropped.
pub struct SimServer {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl SimServer {
    /// Starts a server on an ephemeral port of 127.0.0.1.
    pub async fn start(opts: ServerOptions) -> std::io::Result<SimServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            opts,
            faults: Mutex::new(VecDeque::new()),
            requests: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            held: AtomicU64::new(0),
            held_nanos: AtomicU64::new(0),
            prefixes: Mutex::default(),
            batches: Mutex::default(),
            hold: Default::default(),
            url: format!("http://{addr}"),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, st).await;
                });
            }
        });
        Ok(SimServer { addr, state, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a fault for the next request that has none.
    pub fn push_fault(&self, f: Fault) {
        if let Ok(mut q) = self.state.faults.lock() {
            q.push_back(f);
        }
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// The requests being answered now.
    pub fn in_flight(&self) -> u64 {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests the server was answering at once.
    pub fn max_in_flight(&self) -> u64 {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// How long a request was held for the latency on average, as
    /// measured (`None` before any was): what a bound computed from
    /// `latency` assumes.
    pub fn mean_latency(&self) -> Option<Duration> {
        let n = self.state.held.load(Ordering::SeqCst);
        (n > 0).then(|| Duration::from_nanos(self.state.held_nanos.load(Ordering::SeqCst) / n))
    }

    /// Requests refused with a 429 because the server was full (`capacity`).
    pub fn rejected(&self) -> u64 {
        self.state.rejected.load(Ordering::SeqCst)
    }

    /// Keeps batches in progress (true) or lets each end at its next poll.
    pub fn hold_batches(&self, hold: bool) {
        self.state.hold.store(hold, Ordering::SeqCst);
    }

    /// The custom ids of every batch created so far, in order.
    pub fn batches_created(&self) -> Vec<Vec<String>> {
        let b = self.state.batches.lock().unwrap_or_else(|e| e.into_inner());
        b.created()
    }

    /// Every request received so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, st: Arc<State>) -> std::io::Result<()> {
    // Small responses must not wait on Nagle + delayed ACK (40 ms a request).
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Headers.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            if buf.len() > 64 * 1024 {
                return Ok(());
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        while buf.len() < body_start + len {
            let mut chunk = vec![0u8; 64 * 1024];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buf[body_start..body_start + len]).to_string();
        buf.drain(..body_start + len);

        // A probe of the server's slots is not a request to the model: it is
        // neither counted nor logged.
        if method == "GET" && path.ends_with("/props") {
            let (code, body) = match st.opts.slots {
                Some(n) => (200, json!({"total_slots": n}).to_string()),
                None => (404, "{}".to_string()),
            };
            write(&mut stream, code, "application/json", "", &body).await?;
            continue;
        }
        if let Ok(mut log) = st.log.lock() {
            log.push(Recorded {
                path: path.clone(),
                headers,
                body: body.clone(),
            });
        }
        let n = st.requests.fetch_add(1, Ordering::SeqCst);
        let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        st.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if !answer(&mut stream, &st, n, &method, &path, &body).await? {
            return Ok(());
        }
    }
}

/// Holds a request for `d`, and says how long it was held.
///
/// tokio's timer wakes on millisecond ticks and rounds a deadline up to the
/// next one: a 50 ms sleep took 51.4 ms on average on the 2-core machine
/// (16 sleepers at once), so the simulated latency was 3% longer than the
/// one declared, and every bound computed from the declared one (the
/// benchmarks' requests × latency ÷ slots) 3% short. The timer takes all
/// but the last two milliseconds; a blocking thread's sleep, exact to tens
/// of microseconds, takes the rest (50.3 ms on average, measured the same way).
async fn hold(d: Duration) -> Duration {
    const EARLY: Duration = Duration::from_millis(2);
    let start = std::time::Instant::now();
    let deadline = start + d;
    if d > EARLY {
        tokio::time::sleep_until((deadline - EARLY).into()).await;
    }
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    if !left.is_zero() {
        // A blocking pool that is gone (the runtime shutting down) only ends
        // the hold early.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(left)).await;
    }
    start.elapsed()
}

/// Answers one request; `Ok(false)` when the connection is to be closed.
async fn answer(
    stream: &mut TcpStream,
    st: &State,
    n: u64,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<bool> {
    if st
        .opts
        .capacity
        .is_some_and(|c| st.in_flight.load(Ordering::SeqCst) > u64::from(c))
    {
        st.rejected.fetch_add(1, Ordering::SeqCst);
        let body = json!({"error": {"message": "the server is full (simulated)"}}).to_string();
        st.settle();
        write(stream, 429, "application/json", "", &body).await?;
        return Ok(true);
    }
    if !st.opts.latency.is_zero() {
        let held = hold(st.opts.latency).await;
        st.held_nanos
            .fetch_add(held.as_nanos() as u64, Ordering::SeqCst);
        st.held.fetch_add(1, Ordering::SeqCst);
    }
    if let Some((code, body)) = batch::route(st, method, path, body) {
        st.settle();
        write(stream, code, "application/json", "", &body).await?;
        return Ok(true);
    }
    let fault = st.faults.lock().ok().and_then(|mut q| q.pop_front());
    match fault {
        Some(Fault::Hang(d)) => {
            tokio::time::sleep(d).await;
        }
        Some(Fault::Status {
            code,
            retry_after,
            message,
        }) => {
            let extra = retry_after
                .map(|r| format!("Retry-After: {r}\r\n"))
                .unwrap_or_default();
            let body = json!({"error": {"message": message, "type": "sim_fault"}}).to_string();
            st.settle();
            write(stream, code, "application/json", &extra, &body).await?;
            return Ok(true);
        }
        Some(Fault::Truncate) => {
            st.settle();
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(b"{\"choices\": [{\"mess").await?;
            stream.shutdown().await?;
            return Ok(false);
        }
        Some(Fault::WrongContentType) => {
            st.settle();
            write(
                stream,
                200,
                "text/html",
                "",
                "<html><body>Bad gateway</body></html>",
            )
            .await?;
            return Ok(true);
        }
        None => {}
    }
    if let Some(mix) = st.opts.fault_mix {
        // A second hash of the request number, apart from `fail_rate`'s.
        let u = unit(n ^ 0x9e37_79b9_7f4a_7c15);
        if u < mix.errors {
            let code = [429, 500, 503][(n % 3) as usize];
            let body = json!({"error": {"message": "flaky (simulated)"}}).to_string();
            st.settle();
            write(stream, code, "application/json", "", &body).await?;
            return Ok(true);
        }
        if u < mix.errors + mix.hangs {
            tokio::time::sleep(mix.hang).await;
            st.settle();
            stream.shutdown().await?;
            return Ok(false);
        }
        if u < mix.errors + mix.hangs + mix.garbage {
            st.settle();
            write(
                stream,
                200,
                "application/json",
                "",
                "{\"choices\": [garbage",
            )
            .await?;
            return Ok(true);
        }
    }
    if st.opts.fail_rate > 0.0 && unit(n) < st.opts.fail_rate {
        let body = json!({"error": {"message": "overloaded (simulated)"}}).to_string();
        st.settle();
        write(stream, 503, "application/json", "", &body).await?;
        return Ok(true);
    }
    let (code, mut body) = route(st, method, path, body);
    if st.opts.echo_auth && code == 200 {
        let auth = st
            .log
            .lock()
            .ok()
            .and_then(|l| l.last().cloned())
            .and_then(|r| {
                r.headers
                    .into_iter()
                    .find(|(k, _)| k == "authorization" || k == "x-api-key")
            })
            .map(|(_, v)| v)
            .unwrap_or_default();
        body = echo(&body, &auth);
    }
    let extra = st
        .opts
        .extra_header
        .as_ref()
        .map(|h| format!("{h}\r\n"))
        .unwrap_or_default();
    st.settle();
    write(stream, code, "application/json", &extra, &body).await?;
    Ok(true)
}

/// A `=== field ===` sections answer as a JSON object of strings (read with
/// the adapter's own wire helpers), or the answer itself when it is one.
fn sections_to_json(text: &str) -> Value {
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(text) {
        return v;
    }
    let obj: serde_json::Map<String, Value> = crate::adapter::wire::sections(text)
        .into_iter()
        .take_while(|(name, _)| name != "end")
        .map(|(name, body)| (name, Value::String(body)))
        .collect();
    Value::Object(obj)
}

/// The answer's text with `Authorization: <auth>` in it.
fn echo(body: &str, auth: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(body) else {
        return body.to_string();
    };
    for ptr in [
        "/choices/0/message/content",
        "/content/0/text",
        "/completion",
    ] {
        if let Some(Value::String(s)) = v.pointer_mut(ptr) {
            // Inside the first section of a sections answer (so the echo is
            // parsed into an output field, as a model repeating it would be),
            // else in front.
            *s = match s
                .strip_prefix("===")
                .and_then(|r| r.find('\n').map(|i| i + 4))
            {
                Some(end) => format!("{}Authorization: {auth} {}", &s[..end], &s[end..]),
                None => format!("Authorization: {auth}\n{s}"),
            };
        }
    }
    v.to_string()
}

/// A deterministic number in 0..1 for request `n`.
fn unit(n: u64) -> f64 {
    let mut x = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn write(
    stream: &mut TcpStream,
    code: u16,
    ctype: &str,
    extra: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: keep-alive\r\n{extra}\r\n",
        body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    stream.write_all(&out).await?;
    stream.flush().await
}

fn messages_of(v: &Value) -> Vec<Message> {
    v.get("messages")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    let role = match m.get("role")?.as_str()? {
                        "system" => ChatRole::System,
                        "assistant" => ChatRole::Assistant,
                        _ => ChatRole::User,
                    };
                    Some(Message {
                        role,
                        content: text_of(m.get("content")?)?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A message's text: a string, or the text blocks of a content list.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(blocks) => Some(
            blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

/// Whether this system prompt was seen before (what a provider's prompt
/// cache would hold), remembering it.
fn seen_before(st: &State, model: &str, system: &str) -> bool {
    let mut seen = st.prefixes.lock().unwrap_or_else(|e| e.into_inner());
    // A provider's cache is per model.
    !seen.insert(format!("{model}\n{system}"))
}

fn route(st: &State, method: &str, path: &str, body: &str) -> (u16, String) {
    if method == "GET" && path == "/health" {
        return (200, json!({"ok": true}).to_string());
    }
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return (
            400,
            json!({"error": {"message": "body is not JSON"}}).to_string(),
        );
    };
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("sim")
        .to_string();
    let sim = Sim::new(Role::Task, &model);
    let tokens = |s: &str| (s.len() as u64).div_ceil(4);
    if path.ends_with("/chat/completions") {
        let req = LmRequest::new(messages_of(&v));
        let mut text = sim.answer(&req);
        // Structured output asked for: the same answer as one JSON object.
        if v.pointer("/response_format/type").and_then(Value::as_str) == Some("json_schema") {
            text = sections_to_json(&text).to_string();
        }
        // OpenAI caches a repeated prefix without being asked.
        let cached = match req.system() {
            Some(system) if seen_before(st, &model, system) => tokens(system),
            _ => 0,
        };
        let out = json!({
            "id": "chatcmpl-sim", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": tokens(&req.flatten()),
                "completion_tokens": tokens(&text),
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        });
        (200, out.to_string())
    } else if path.ends_with("/v1/messages") {
        let mut msgs = messages_of(&v);
        let system = v.get("system").and_then(text_of);
        // Anthropic caches only up to a `cache_control` breakpoint.
        let breakpoint = v.pointer("/system/0/cache_control").is_some();
        let (mut read, mut written) = (0, 0);
        if let Some(system) = &system {
            if breakpoint && seen_before(st, &model, system) {
                read = tokens(system);
            } else if breakpoint {
                written = tokens(system);
            }
            msgs.insert(
                0,
                Message {
                    role: ChatRole::System,
                    content: system.clone(),
                },
            );
        }
        let req = LmRequest::new(msgs);
        let text = sim.answer(&req);
        // A forced tool call: the answer comes back as the tool's input.
        let content = if v.get("tool_choice").is_some() {
            json!([{"type": "tool_use", "id": "toolu_sim", "name": "answer", "input": sections_to_json(&text)}])
        } else {
            json!([{"type": "text", "text": text}])
        };
        let out = json!({
            "id": "msg_sim", "type": "message", "role": "assistant", "model": model,
            "content": content,
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": tokens(&req.flatten()).saturating_sub(read + written),
                "output_tokens": tokens(&text),
                "cache_read_input_tokens": read,
                "cache_creation_input_tokens": written,
            },
        });
        (200, out.to_string())
    } else if path.ends_with("/bridge") {
        let req = LmRequest::new(messages_of(&v));
        (200, json!({"completion": sim.answer(&req)}).to_string())
    } else {
        (
            404,
            json!({"error": {"message": format!("no route {path}")}}).to_string(),
        )
    }
}
