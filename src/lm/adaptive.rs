//! How many requests one endpoint gets at once, adapted to how it answers.
//!
//! A cloud API takes sixteen requests at once; a llama.cpp server on a laptop
//! takes one and queues the rest while promptc's timeout runs. A fixed number
//! is wrong for one of them, so every endpoint (a provider and its base URL,
//! shared by the roles that use it) has a [`Gate`] whose limit moves:
//!
//! - it starts at its ceiling: `limits.max_in_flight`, else the roles'
//!   summed `concurrency`, lowered to the number of slots the server reports
//!   (llama.cpp's `/props`), since a request beyond those only waits in the
//!   server's queue while its timeout runs;
//! - signs of overload (a timeout, 408, 429, 502, 503, 504) cut it in half
//!   once they are most of the recent answers (a smoothed share of a half:
//!   four in a row, or more than one in two for a while), at most once
//!   per round of requests: the requests already in flight when it was cut
//!   saw the old limit, and their failures are not news. A provider that
//!   refuses a request now and then at random is retried, not throttled;
//! - latency that keeps rising above the best seen for requests of about the
//!   same size (requests waiting in the server's queue) takes a quarter
//!   off, once per round as well;
//! - a request that succeeds while the limit is fully used adds `1/limit`,
//!   so a round of successes raises it by one, up to the ceiling.
//!
//! Time spent waiting here is before a request's clock starts: it never
//! counts against the timeout.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use std::collections::BTreeMap;

use tokio::sync::{OnceCell, oneshot};

/// The smoothed latency ratio above which requests are taken to be queueing
/// in the server. Model latency varies with the answer's length, so a single
/// slow answer must not count: only a sustained rise of this many times the
/// best latency does, which a queue of four or more requests produces and
/// ordinary variation does not.
const QUEUE_RATIO: f64 = 4.0;

/// How much of each new latency ratio enters the smoothed one.
const SMOOTHING: f64 = 0.2;

/// Size classes of requests, by powers of two of their work.
const SIZE_CLASSES: usize = 48;

/// How much of each outcome enters the smoothed share of overload signals.
const OVERLOAD_SMOOTHING: f64 = 0.1;

/// The smoothed share of overload signals at which the limit is halved. A
/// server past its capacity or a provider past its rate limit refuses most
/// of what it gets, so the share climbs past a half within a few answers;
/// a flaky provider refusing one request in seven at random stays well
/// under it (the smoothed share's spread is then about 0.11).
const OVERLOAD_SHARE: f64 = 0.5;

/// How a request ended, as far as the gate is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// Answered; `cost` is the request's size in rough work units (tokens),
    /// so that latencies of long and short requests compare.
    Answered {
        /// How long the request took.
        latency: Duration,
        /// Its size, in the same unit for every request of the endpoint.
        cost: u64,
    },
    /// The server was overloaded: a timeout, 408, 429, 502, 503 or 504.
    Overloaded,
    /// Anything else (a malformed body, a 400): says nothing about load.
    Other,
}

struct State {
    limit: f64,
    ceiling: u32,
    in_flight: u32,
    /// Requests waiting for a place: demand beyond the limit, served in
    /// the order of their [`Place`]s. A place is handed over by sending on
    /// the waiter's channel.
    waiting: BTreeMap<Place, oneshot::Sender<()>>,
    /// The id of the next waiter (to find it again when it is promoted).
    next_waiter: u64,
    /// Incremented at each cut; a permit from an older round cannot cut again.
    round: u64,
    /// The best latency seen so far (seconds) for requests of each size
    /// class: class k holds work of 2^k to 2^(k+1) units. Latency is a
    /// fixed part (the round trip, the time to the first token) plus a part
    /// that grows with the work; comparing only requests of about the same
    /// size reads both a fixed-latency server and a per-token one right,
    /// where one best per unit of work takes every short request after a
    /// long one for a queue.
    best: [Option<f64>; SIZE_CLASSES],
    /// The smoothed ratio of latency to the best of its size class.
    ratio: f64,
    /// The smoothed share of recent outcomes that were overload signals.
    overloads: f64,
}

/// Where a request waits for a place in a [`Gate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Ahead of every waiter: the retry of a request that already waited its
    /// turn once (a trial waits on its slowest call, and a retry
    /// sent to the back of the queue is that call).
    Front,
    /// In the order requests came, foreground or background.
    Normal {
        /// Background work: behind all foreground work.
        background: bool,
    },
    /// Behind every `Normal` waiter of its ground and rank: a request that ends its
    /// example's chain of calls (a judge's). An evaluation is many chains
    /// (the task's call, then the judges'); starting chains first leaves
    /// only last steps for its end, which fill every place, where first come
    /// first served leaves a tail of whole chains running a few at a time.
    LastStep {
        /// Background work: behind all foreground work.
        background: bool,
    },
}

impl Queue {
    /// A foreground request in arrival order.
    pub const NORMAL: Queue = Queue::Normal { background: false };

    /// Whether it is one of the background queues.
    pub fn is_background(self) -> bool {
        matches!(
            self,
            Queue::Normal { background: true } | Queue::LastStep { background: true }
        )
    }

    /// Where a waiter of this queue with `rank`, arriving as the `id`th,
    /// stands among the others.
    fn place(self, rank: u64, id: u64) -> Place {
        match self {
            // The newest retry first, as before ranks existed.
            Queue::Front => Place(0, 0, 0, u64::MAX - id),
            Queue::Normal { background } => Place(1 + u8::from(background), rank, 0, id),
            Queue::LastStep { background } => Place(1 + u8::from(background), rank, 1, id),
        }
    }
}

/// A waiter's place in line, compared field by field: retries, then
/// foreground, then background work; within each, lower ranks first (a
/// caller's earlier piece of work, see [`Gate::acquire_ranked`]); within a
/// rank, first steps before last steps (see [`Queue::LastStep`]); then first
/// come first served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Place(u8, u64, u8, u64);

/// The in-flight limit of one endpoint.
pub struct Gate {
    name: String,
    state: Mutex<State>,
    started: OnceCell<()>,
}

/// One request's place in the gate; give it back with [`GatePermit::finish`].
/// Dropped without finishing (a cancelled call), it only frees its place.
pub struct GatePermit {
    gate: Arc<Gate>,
    round: u64,
    started: tokio::time::Instant,
    open: bool,
}

impl Gate {
    /// A gate for `name` (an endpoint, as logs name it) that never lets more
    /// than `ceiling` requests through at once.
    pub fn new(name: impl Into<String>, ceiling: u32) -> Arc<Gate> {
        let ceiling = ceiling.max(1);
        Arc::new(Gate {
            name: name.into(),
            state: Mutex::new(State {
                limit: f64::from(ceiling),
                ceiling,
                in_flight: 0,
                waiting: Default::default(),
                next_waiter: 0,
                round: 0,
                best: [None; SIZE_CLASSES],
                ratio: 1.0,
                overloads: 0.0,
            }),
            started: OnceCell::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few numbers, consistent after every statement:
        // a panic elsewhere cannot leave it half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lowers the ceiling once to the slots the server reports
    /// (`probe` runs only for the first request of the endpoint).
    pub async fn start_with<F>(&self, probe: F)
    where
        F: std::future::Future<Output = Option<u32>>,
    {
        self.started
            .get_or_init(|| async {
                if let Some(slots) = probe.await.filter(|n| *n > 0) {
                    let mut s = self.lock();
                    let start = slots.min(s.ceiling);
                    s.limit = f64::from(start);
                    s.ceiling = start;
                    tracing::info!(
                        "{}: the server reports {slots} slot(s); at most {start} request(s) in flight",
                        self.name
                    );
                }
            })
            .await;
    }

    /// The smoothed share of recent answers that were overload signals (0..1).
    pub fn overload_share(&self) -> f64 {
        self.lock().overloads
    }

    /// The most requests it ever lets through at once.
    pub fn ceiling(&self) -> u32 {
        self.lock().ceiling
    }

    /// The current limit (whole requests).
    pub fn limit(&self) -> u32 {
        whole(self.lock().limit)
    }

    /// Waits for a place in `queue`. Waiters of a queue are served in the
    /// order they came, so a run against a one-slot server sends its
    /// requests in a repeatable order (a server's prompt cache then holds the
    /// same thing in every run).
    pub async fn acquire(self: &Arc<Self>, queue: Queue) -> GatePermit {
        self.acquire_ranked(queue, 0, None).await
    }

    /// [`Gate::acquire`] for a caller's piece of work of `rank`: among
    /// waiters of the same ground, lower ranks are served first, whatever
    /// their step. Pieces of work that run at once but are needed in turn
    /// (an optimizer's trials in flight, each proposed when an earlier one
    /// is scored) then finish in turn, instead of all at the end. A
    /// background waiter moves to the back of the foreground when `promote`
    /// is notified (a foreground caller now waits for its answer: it must not
    /// wait behind background work).
    pub async fn acquire_ranked(
        self: &Arc<Self>,
        queue: Queue,
        rank: u64,
        promote: Option<&tokio::sync::Notify>,
    ) -> GatePermit {
        let (rx, place) = {
            let mut s = self.lock();
            if s.waiting.is_empty() && s.in_flight < whole(s.limit) {
                s.in_flight += 1;
                return self.permit(s.round);
            }
            let (tx, rx) = oneshot::channel();
            let place = queue.place(rank, s.next_waiter);
            s.next_waiter += 1;
            s.waiting.insert(place, tx);
            (rx, place)
        };
        let mut waiter = Waiter {
            gate: self.clone(),
            rx: Some(rx),
        };
        let mut promote = promote.filter(|_| queue.is_background());
        let handed = loop {
            let Some(rx) = waiter.rx.as_mut() else {
                break false;
            };
            match promote {
                Some(p) => tokio::select! {
                    r = rx => break r.is_ok(),
                    _ = p.notified() => {
                        self.promote(place);
                        promote = None;
                    }
                },
                None => break rx.await.is_ok(),
            }
        };
        waiter.rx = None;
        // The sender lives in the gate, which outlives this call.
        debug_assert!(handed);
        let round = self.lock().round;
        self.permit(round)
    }

    /// Moves the background waiter at `place` to the back of its rank and
    /// step in the foreground; nothing if it already has its place.
    fn promote(&self, place: Place) {
        let mut s = self.lock();
        if let Some(tx) = s.waiting.remove(&place) {
            let Place(_, rank, step, _) = place;
            let id = s.next_waiter;
            s.next_waiter += 1;
            s.waiting.insert(Place(1, rank, step, id), tx);
        }
    }

    fn permit(self: &Arc<Self>, round: u64) -> GatePermit {
        GatePermit {
            gate: self.clone(),
            round,
            started: tokio::time::Instant::now(),
            open: true,
        }
    }

    /// Frees one place and hands free places to the longest waiters.
    fn release(&self, s: &mut State) {
        s.in_flight = s.in_flight.saturating_sub(1);
        while s.in_flight < whole(s.limit) {
            let Some((_, tx)) = s.waiting.pop_first() else {
                break;
            };
            // A waiter that gave up is skipped; its place goes to the next.
            if tx.send(()).is_ok() {
                s.in_flight += 1;
            }
        }
    }
}

/// A request waiting for a place. Cancelled after a place was handed to it,
/// it gives the place back.
struct Waiter {
    gate: Arc<Gate>,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take()
            && rx.try_recv().is_ok()
        {
            let gate = self.gate.clone();
            let mut s = gate.lock();
            gate.release(&mut s);
        }
    }
}

fn whole(limit: f64) -> u32 {
    (limit.floor() as u32).max(1)
}

impl State {
    fn cut(&mut self, round: u64, factor: f64) -> bool {
        if round != self.round || self.limit <= 1.0 {
            return false;
        }
        self.limit = (self.limit * factor).max(1.0);
        self.round += 1;
        self.ratio = 1.0;
        true
    }

    fn overloaded(&mut self, round: u64) -> Option<&'static str> {
        self.overloads += OVERLOAD_SMOOTHING * (1.0 - self.overloads);
        (self.overloads >= OVERLOAD_SHARE && self.cut(round, 0.5))
            .then_some("the server is overloaded")
    }

    fn answered(&mut self, round: u64, latency: Duration, cost: u64) -> Option<&'static str> {
        self.overloads *= 1.0 - OVERLOAD_SMOOTHING;
        let secs = latency.as_secs_f64();
        let class = (cost.max(1).ilog2() as usize).min(SIZE_CLASSES - 1);
        let best = self.best[class].map_or(secs, |b| b.min(secs));
        self.best[class] = Some(best);
        if best > 0.0 {
            self.ratio = (1.0 - SMOOTHING) * self.ratio + SMOOTHING * (secs / best);
        }
        if self.ratio > QUEUE_RATIO {
            return self.cut(round, 0.75).then_some("latency keeps rising");
        }
        // Only demand beyond the limit is evidence that more would help: the
        // limit fully used, or requests waiting for a place.
        let busy = self.in_flight >= whole(self.limit) || !self.waiting.is_empty();
        if busy && self.limit < f64::from(self.ceiling) {
            self.limit = (self.limit + 1.0 / self.limit).min(f64::from(self.ceiling));
        }
        None
    }
}

impl GatePermit {
    /// When the request started (after its wait for a place).
    pub fn started(&self) -> tokio::time::Instant {
        self.started
    }

    /// Frees the place and tells the gate how the request went.
    pub fn finish(mut self, signal: Signal) {
        let gate = self.gate.clone();
        let mut s = gate.lock();
        let before = whole(s.limit);
        let why = match signal {
            Signal::Answered { latency, cost } => s.answered(self.round, latency, cost),
            Signal::Overloaded => s.overloaded(self.round),
            Signal::Other => None,
        };
        gate.release(&mut s);
        self.open = false;
        let after = whole(s.limit);
        drop(s);
        if let Some(why) = why {
            tracing::info!(
                "{}: {why}; at most {after} request(s) in flight (was {before})",
                gate.name
            );
        }
    }
}

impl Drop for GatePermit {
    fn drop(&mut self) {
        if self.open {
            let gate = self.gate.clone();
            let mut s = gate.lock();
            gate.release(&mut s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(ms: u64) -> Signal {
        Signal::Answered {
            latency: Duration::from_millis(ms),
            cost: 100,
        }
    }

    #[tokio::test]
    async fn overload_halves_the_limit_once_per_round() {
        let g = Gate::new("t", 8);
        let permits: Vec<_> = futures_permits(&g, 8).await;
        // Eight requests in flight all time out: one cut, not eight.
        for p in permits {
            p.finish(Signal::Overloaded);
        }
        assert_eq!(g.limit(), 4);
        // A request of the new round that fails cuts again.
        g.acquire(Queue::NORMAL).await.finish(Signal::Overloaded);
        assert_eq!(g.limit(), 2);
        g.acquire(Queue::NORMAL).await.finish(Signal::Overloaded);
        g.acquire(Queue::NORMAL).await.finish(Signal::Overloaded);
        assert_eq!(g.limit(), 1, "never below one");
    }

    async fn futures_permits(g: &Arc<Gate>, n: usize) -> Vec<GatePermit> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(g.acquire(Queue::NORMAL).await);
        }
        v
    }

    #[tokio::test]
    async fn refusals_now_and_then_at_random_do_not_throttle() {
        // One request in eight refused, spread out, as a flaky provider does.
        let g = Gate::new("t", 16);
        for k in 0..400u64 {
            let p = g.acquire(Queue::NORMAL).await;
            p.finish(if k % 8 == 3 {
                Signal::Overloaded
            } else {
                answered(100)
            });
        }
        assert_eq!(g.limit(), 16);
    }

    #[tokio::test]
    async fn a_full_round_of_successes_raises_the_limit_by_one_up_to_the_ceiling() {
        let g = Gate::new("t", 4);
        // Seven refusals in a row are most of the recent answers: one cut.
        for _ in 0..7 {
            g.acquire(Queue::NORMAL).await.finish(Signal::Overloaded);
        }
        assert_eq!(g.limit(), 2);
        // Successes while the limit is not reached are no evidence.
        for _ in 0..10 {
            g.acquire(Queue::NORMAL).await.finish(answered(100));
        }
        assert_eq!(g.limit(), 2);
        // Rounds that use the whole limit raise it: 2 → 2.5 → 2.9 → 3.2.
        for _ in 0..3 {
            let ps = futures_permits(&g, 2).await;
            for p in ps {
                p.finish(answered(100));
            }
        }
        assert_eq!(g.limit(), 3);
        for _ in 0..10 {
            let n = g.limit() as usize;
            for p in futures_permits(&g, n).await {
                p.finish(answered(100));
            }
        }
        assert_eq!(g.limit(), 4, "the ceiling holds");
    }

    #[tokio::test]
    async fn a_queue_in_the_server_shows_as_rising_latency_and_lowers_the_limit() {
        // A one-slot server with eight requests sent at once: the k-th answer
        // takes k service times.
        let g = Gate::new("t", 8);
        let ps = futures_permits(&g, 8).await;
        for (k, p) in ps.into_iter().enumerate() {
            p.finish(answered(1000 * (k as u64 + 1)));
        }
        assert!(g.limit() < 8, "limit {}", g.limit());
    }

    #[tokio::test]
    async fn ordinary_variation_in_latency_does_not_lower_the_limit() {
        let g = Gate::new("t", 8);
        for round in 0..20u64 {
            let ps = futures_permits(&g, 8).await;
            for (k, p) in ps.into_iter().enumerate() {
                // Between one and three times the best, as answer lengths vary.
                p.finish(answered(1000 + 250 * ((k as u64 + round) % 9)));
            }
        }
        assert_eq!(g.limit(), 8);
    }

    #[tokio::test]
    async fn latency_is_compared_per_unit_of_work() {
        let g = Gate::new("t", 8);
        for k in 0..40u64 {
            let p = g.acquire(Queue::NORMAL).await;
            // A long request takes proportionally longer: not a queue.
            let cost = 100 * (1 + k % 8);
            p.finish(Signal::Answered {
                latency: Duration::from_millis(10 * cost),
                cost,
            });
        }
        assert_eq!(g.limit(), 8);
    }

    #[tokio::test]
    async fn a_fixed_latency_server_is_not_a_queue_whatever_the_request_sizes() {
        // A hosted API's round trip dominates short requests: a long proposer
        // answer and a short judge answer take about as long. Compared per
        // unit of work, every short request after a long one looked queued.
        let g = Gate::new("t", 16);
        for k in 0..200u64 {
            let p = g.acquire(Queue::NORMAL).await;
            let cost = if k % 5 == 0 { 4000 } else { 40 + k % 7 };
            p.finish(Signal::Answered {
                latency: Duration::from_millis(50 + k % 3),
                cost,
            });
        }
        assert_eq!(g.limit(), 16);
    }

    #[tokio::test]
    async fn the_reported_slots_lower_the_ceiling_but_never_raise_it() {
        let g = Gate::new("t", 8);
        g.start_with(async { Some(2) }).await;
        assert_eq!(g.limit(), 2);
        for _ in 0..10 {
            for p in futures_permits(&g, 2).await {
                p.finish(answered(100));
            }
        }
        assert_eq!(g.limit(), 2, "successes do not probe past the slots");
        let g = Gate::new("t", 8);
        g.start_with(async { Some(1) }).await;
        assert_eq!(g.limit(), 1);
        // Only the first probe counts.
        g.start_with(async { Some(6) }).await;
        assert_eq!(g.limit(), 1);
        let g = Gate::new("t", 2);
        g.start_with(async { Some(6) }).await;
        assert_eq!(g.limit(), 2);
    }

    #[tokio::test]
    async fn a_waiter_gets_the_place_a_dropped_permit_frees() {
        let g = Gate::new("t", 1);
        let p = g.acquire(Queue::NORMAL).await;
        let g2 = g.clone();
        let waiter =
            tokio::spawn(async move { g2.acquire(Queue::NORMAL).await.finish(Signal::Other) });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished());
        drop(p);
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("the waiter was woken")
            .unwrap();
    }

    #[tokio::test]
    async fn waiters_get_places_in_the_order_they_came_and_a_cancelled_one_is_skipped() {
        let g = Gate::new("t", 1);
        let first = g.acquire(Queue::NORMAL).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for k in 0..5 {
            let (g, order) = (g.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let p = g.acquire(Queue::NORMAL).await;
                order.lock().unwrap().push(k);
                p.finish(Signal::Other);
            }));
            settle().await;
        }
        tasks.remove(2).abort();
        settle().await;
        serve_all(first, tasks).await;
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 3, 4]);
        let s = g.lock();
        assert!(s.in_flight == 0 && s.waiting.is_empty());
    }

    type Order = Arc<Mutex<Vec<&'static str>>>;

    /// A waiter for a place in `queue` that records its name when served.
    fn waiter(
        g: &Arc<Gate>,
        order: &Order,
        name: &'static str,
        queue: Queue,
        promote: Option<Arc<tokio::sync::Notify>>,
    ) -> tokio::task::JoinHandle<()> {
        ranked_waiter(g, order, name, queue, 0, promote)
    }

    /// [`waiter`] for a piece of work of `rank`.
    fn ranked_waiter(
        g: &Arc<Gate>,
        order: &Order,
        name: &'static str,
        queue: Queue,
        rank: u64,
        promote: Option<Arc<tokio::sync::Notify>>,
    ) -> tokio::task::JoinHandle<()> {
        let (g, order) = (g.clone(), order.clone());
        tokio::spawn(async move {
            let p = g.acquire_ranked(queue, rank, promote.as_deref()).await;
            order.lock().unwrap().push(name);
            p.finish(Signal::Other);
        })
    }

    /// Frees the place `first` holds and waits until every waiter is served.
    async fn serve_all(first: GatePermit, tasks: Vec<tokio::task::JoinHandle<()>>) {
        first.finish(Signal::Other);
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(2), t)
                .await
                .expect("every waiter got a place")
                .unwrap();
        }
    }

    /// Lets a spawned waiter take its place in the queue before the next comes.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    #[tokio::test]
    async fn last_steps_wait_behind_first_steps_background_behind_all_and_a_retry_goes_first() {
        let g = Gate::new("t", 1);
        let first = g.acquire(Queue::NORMAL).await;
        let order = Order::default();
        let (fore, back) = (false, true);
        let queues = [
            ("background judge", Queue::LastStep { background: back }),
            ("background task", Queue::Normal { background: back }),
            ("judge 1", Queue::LastStep { background: fore }),
            ("task 1", Queue::Normal { background: fore }),
            ("judge 2", Queue::LastStep { background: fore }),
            ("task 2", Queue::Normal { background: fore }),
            ("retry", Queue::Front),
        ];
        let mut tasks = Vec::new();
        for (name, queue) in queues {
            tasks.push(waiter(&g, &order, name, queue, None));
            settle().await;
        }
        serve_all(first, tasks).await;
        assert_eq!(
            *order.lock().unwrap(),
            vec![
                "retry",
                "task 1",
                "task 2",
                "judge 1",
                "judge 2",
                "background task",
                "background judge"
            ]
        );
    }

    #[tokio::test]
    async fn an_earlier_ranks_calls_go_first_whatever_their_step_and_background_stays_behind() {
        // Trials in flight together: trial 1's judges must not wait behind
        // trial 2's tasks, or every trial finishes at the same late time.
        let g = Gate::new("t", 1);
        let first = g.acquire(Queue::NORMAL).await;
        let order = Order::default();
        let (fore, back) = (false, true);
        let queues = [
            ("background, rank 1", Queue::Normal { background: back }, 1),
            ("trial 2 task", Queue::Normal { background: fore }, 2),
            ("trial 1 judge", Queue::LastStep { background: fore }, 1),
            ("trial 2 judge", Queue::LastStep { background: fore }, 2),
            ("trial 1 task", Queue::Normal { background: fore }, 1),
            ("unranked judge", Queue::LastStep { background: fore }, 0),
        ];
        let mut tasks = Vec::new();
        for (name, queue, rank) in queues {
            tasks.push(ranked_waiter(&g, &order, name, queue, rank, None));
            settle().await;
        }
        serve_all(first, tasks).await;
        assert_eq!(
            *order.lock().unwrap(),
            vec![
                "unranked judge",
                "trial 1 task",
                "trial 1 judge",
                "trial 2 task",
                "trial 2 judge",
                "background, rank 1"
            ]
        );
    }

    #[tokio::test]
    async fn a_promoted_background_waiter_waits_with_the_foreground_from_then_on() {
        let g = Gate::new("t", 1);
        let first = g.acquire(Queue::NORMAL).await;
        let order = Order::default();
        let promote = Arc::new(tokio::sync::Notify::new());
        let back = Queue::Normal { background: true };
        let mut tasks = vec![
            waiter(&g, &order, "background", back, Some(promote.clone())),
            waiter(&g, &order, "other background", back, None),
        ];
        settle().await;
        tasks.push(waiter(&g, &order, "task 1", Queue::NORMAL, None));
        settle().await;
        promote.notify_one();
        settle().await;
        tasks.push(waiter(&g, &order, "task 2", Queue::NORMAL, None));
        settle().await;
        serve_all(first, tasks).await;
        assert_eq!(
            *order.lock().unwrap(),
            vec!["task 1", "background", "task 2", "other background"]
        );
    }
}
