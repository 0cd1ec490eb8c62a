//! Progress that helps on a slow model: elapsed time, LM calls done and in
//! flight, retries, an ETA; one updating line on a terminal, and in CI a
//! plain line on each real change (a new phase, trial or best score) or at
//! most every [`CI_EVERY`] otherwise, never the same line twice.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::lm::LmClient;

/// The longest a CI log goes without a progress line while work goes on.
pub const CI_EVERY: Duration = Duration::from_secs(15);

/// One progress line's sink.
pub struct Ticker<'a> {
    lm: &'a LmClient,
    bar: Option<indicatif::ProgressBar>,
    start: Instant,
    /// (when printed, the real-change key, the line) of the last CI line.
    last: Mutex<(Instant, String, String)>,
}

impl<'a> Ticker<'a> {
    /// A bar when stderr is a terminal outside CI, plain lines otherwise.
    pub fn new(lm: &'a LmClient) -> Ticker<'a> {
        let bar =
            (std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()).then(|| {
                let b = indicatif::ProgressBar::new_spinner();
                b.enable_steady_tick(Duration::from_millis(200));
                b
            });
        let now = Instant::now();
        Ticker {
            lm,
            bar,
            start: now,
            last: Mutex::new((now, String::new(), String::new())),
        }
    }

    /// Reports `what` (`eval: 3/40 examples`); `key` is what counts as a
    /// real change; `fraction` (done/total) gives the ETA.
    pub fn update(&self, key: &str, what: &str, fraction: Option<f64>) {
        let elapsed = self.start.elapsed();
        let usage = self.lm.usage();
        let retries: u64 = usage.roles.values().map(|r| r.retries).sum();
        let eta = fraction
            .filter(|f| *f > 0.0 && *f < 1.0)
            .map(|f| {
                let left = elapsed.as_secs_f64() * (1.0 - f) / f;
                format!(", eta {}", clock(Duration::from_secs_f64(left)))
            })
            .unwrap_or_default();
        // The adapted limit shows why a run is slow: a server that can take one.
        let limit: u32 = self.lm.in_flight_limits().iter().map(|(_, n)| n).sum();
        let of = if limit > 0 {
            format!(" of {limit}")
        } else {
            String::new()
        };
        let line = format!(
            "{what} · {} · {} LM calls, {}{of} in flight, {retries} retries{eta}",
            clock(elapsed),
            usage.calls,
            self.lm.in_flight(),
        );
        match &self.bar {
            Some(b) => b.set_message(line),
            None => {
                let Ok(mut last) = self.last.lock() else {
                    return;
                };
                let changed = last.1 != key;
                let due = last.0.elapsed() >= CI_EVERY && last.2 != line;
                if changed || due {
                    crate::console::eprintln(&line);
                    *last = (Instant::now(), key.to_string(), line);
                }
            }
        }
    }

    /// Clears the bar (a no-op in CI).
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// `1m05s`, `42s`, `2h03m`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Progress of an evaluation: examples done of the total, with the
/// [`Ticker`](Ticker)'s elapsed time, calls and ETA.
pub fn eval<'a>(
    label: &'static str,
    lm: &'a crate::lm::LmClient,
) -> impl Fn(usize, usize) + Sync + 'a {
    let ticker = Ticker::new(lm);
    move |done: usize, total: usize| {
        // A real change is a tenth of the examples (or the last one), not each one.
        let tenth = if done == total {
            11
        } else {
            done * 10 / total.max(1)
        };
        ticker.update(
            &format!("{label} {tenth}"),
            &format!("{label}: {done}/{total} examples"),
            Some(done as f64 / total.max(1) as f64),
        );
        if done == total {
            ticker.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_like_a_person_writes_it() {
        assert_eq!(clock(Duration::from_secs(42)), "42s");
        assert_eq!(clock(Duration::from_secs(65)), "1m05s");
        assert_eq!(clock(Duration::from_secs(7380)), "2h03m");
    }
}
