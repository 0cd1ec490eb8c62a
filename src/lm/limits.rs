//! Per-role limits: calls in flight, requests per minute, tokens per minute.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

/// The limits of one role.
pub struct Limiter {
    inflight: Arc<Semaphore>,
    rpm: Option<u32>,
    tpm: Option<u32>,
    /// Start times of requests and their token estimates in the last minute.
    window: Mutex<VecDeque<(Instant, u64)>>,
}

/// Held while a call is in flight.
pub struct Permit {
    _inflight: Option<OwnedSemaphorePermit>,
}

const MINUTE: Duration = Duration::from_secs(60);

impl Limiter {
    /// At most `concurrency` calls at once, `rpm` starts and `tpm` estimated tokens a minute.
    pub fn new(concurrency: u32, rpm: Option<u32>, tpm: Option<u32>) -> Limiter {
        Limiter {
            inflight: Arc::new(Semaphore::new(concurrency.max(1) as usize)),
            rpm,
            tpm,
            window: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until a call of about `tokens` tokens may start.
    pub async fn acquire(&self, tokens: u64) -> Permit {
        // The semaphore is never closed, so this is always a permit.
        let permit = self.inflight.clone().acquire_owned().await.ok();
        if self.rpm.is_some() || self.tpm.is_some() {
            loop {
                let wait = {
                    let mut w = self.window.lock().await;
                    let now = Instant::now();
                    while w
                        .front()
                        .is_some_and(|(t, _)| now.duration_since(*t) >= MINUTE)
                    {
                        w.pop_front();
                    }
                    let count_ok = self.rpm.is_none_or(|r| (w.len() as u32) < r);
                    let used: u64 = w.iter().map(|(_, n)| n).sum();
                    // A single request larger than the whole budget still runs, alone.
                    let tokens_ok = self
                        .tpm
                        .is_none_or(|t| used + tokens <= u64::from(t) || w.is_empty());
                    if count_ok && tokens_ok {
                        w.push_back((now, tokens));
                        None
                    } else {
                        w.front()
                            .map(|(t, _)| MINUTE.saturating_sub(now.duration_since(*t)))
                    }
                };
                match wait {
                    None => break,
                    Some(d) => tokio::time::sleep(d.max(Duration::from_millis(5))).await,
                }
            }
        }
        Permit { _inflight: permit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_per_minute_are_spread_over_the_minute() {
        let l = Limiter::new(100, Some(2), None);
        let start = Instant::now();
        for _ in 0..3 {
            drop(l.acquire(1).await);
        }
        // The third start waits for the first to leave the window.
        assert!(start.elapsed() >= MINUTE, "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let l = Arc::new(Limiter::new(2, None, None));
        let a = l.acquire(1).await;
        let _b = l.acquire(1).await;
        let l2 = l.clone();
        let third = tokio::spawn(async move { l2.acquire(1).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!third.is_finished());
        drop(a);
        tokio::time::timeout(Duration::from_secs(1), third)
            .await
            .unwrap()
            .unwrap();
    }
}
