//! Usage accounting and hard budget caps.
//!
//! A cap stops *new* calls: calls already in flight finish and are counted, so
//! a run that hits its cap ends cleanly with everything it paid for recorded.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::lm::settings::{BudgetConfig, Price};
use crate::lm::{Completion, Role};

/// Usage of one role.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoleUsage {
    /// `provider:model`.
    pub lm: String,
    /// Calls that reached the model and succeeded.
    pub calls: u64,
    /// Requests answered from the cache.
    pub cache_hits: u64,
    /// Attempts that failed and were retried.
    pub retries: u64,
    /// Attempts that had not answered long after the role's usual latency
    /// and got a second, identical request (the first answer was used, the
    /// other cancelled; a provider may bill both).
    pub hedges: u64,
    /// Calls that failed for good.
    pub failures: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Of the prompt tokens, those read from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Of the prompt tokens, those written to the provider's prompt cache.
    pub cache_write_tokens: u64,
    /// Of the calls, those answered through the provider's batch API.
    pub batched_calls: u64,
    /// Dollars; `None` when the model's price is unknown (never reported as 0).
    pub cost_usd: Option<f64>,
    /// Answers read on the first try (task and proposer: the adapter's
    /// fields; judge: a verdict).
    pub parsed_first_try: u64,
    /// Answers that needed a re-ask (a reminder, or another judge sample).
    pub reasked: u64,
    /// Answers still unreadable after the re-asks.
    pub unparsed: u64,
}

/// Usage of a whole run, per role and in total.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Successful model calls.
    pub calls: u64,
    /// Cache hits.
    pub cache_hits: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Of the prompt tokens, those read from a provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Of the calls, those answered through a provider's batch API.
    pub batched_calls: u64,
    /// Dollars, `None` when any role's price is unknown and it made calls.
    pub cost_usd: Option<f64>,
    /// Per role.
    pub roles: BTreeMap<String, RoleUsage>,
}

/// The shared ledger of a run.
pub struct Budget {
    caps: BudgetConfig,
    start: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    roles: BTreeMap<Role, RoleUsage>,
    prices: BTreeMap<Role, Option<Price>>,
    /// Calls started (in flight or done), for the calls cap.
    started: u64,
    exhausted: Option<String>,
}

impl Budget {
    /// A ledger with these caps.
    pub fn new(caps: BudgetConfig) -> Budget {
        Budget {
            caps,
            start: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    /// Declares a role's LM and price.
    pub fn register(&self, role: Role, label: String, price: Option<Price>) {
        if let Ok(mut s) = self.state.lock() {
            let cost = price.as_ref().map(|_| 0.0);
            s.roles.insert(
                role,
                RoleUsage {
                    lm: label,
                    cost_usd: cost,
                    ..Default::default()
                },
            );
            s.prices.insert(role, price);
        }
    }

    /// Reserves one call, or says which cap is reached.
    pub fn try_start(&self) -> Result<(), String> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| "budget lock poisoned".to_string())?;
        if let Some(why) = &s.exhausted {
            return Err(why.clone());
        }
        let why = self.over_cap(&s);
        if let Some(why) = why {
            s.exhausted = Some(why.clone());
            return Err(why);
        }
        s.started += 1;
        Ok(())
    }

    fn over_cap(&self, s: &State) -> Option<String> {
        if let Some(max) = self.caps.max_calls
            && s.started >= max
        {
            return Some(format!(
                "{} LM calls made, budget.max_calls is {max}",
                s.started
            ));
        }
        let tokens: u64 = s.roles.values().fold(0u64, |a, r| {
            a.saturating_add(r.input_tokens.saturating_add(r.output_tokens))
        });
        if let Some(max) = self.caps.max_tokens
            && tokens >= max
        {
            return Some(format!("{tokens} tokens used, budget.max_tokens is {max}"));
        }
        if let Some(max) = self.caps.max_cost_usd {
            let cost: f64 = s.roles.values().filter_map(|r| r.cost_usd).sum();
            if cost >= max {
                return Some(format!("${cost:.4} spent, budget.max_cost_usd is ${max}"));
            }
        }
        if let Some(max) = self.caps.max_wall_minutes {
            let minutes = self.start.elapsed().as_secs_f64() / 60.0;
            if minutes >= max {
                return Some(format!(
                    "{minutes:.1} minutes elapsed, budget.max_wall_minutes is {max}"
                ));
            }
        }
        None
    }

    /// Records a finished call: its tokens, and its cost at the role's
    /// price (cached and written prompt tokens at their rates, a batched
    /// call at the batch discount).
    pub fn record_call(&self, role: Role, c: &Completion, batched: bool) {
        if let Ok(mut s) = self.state.lock() {
            let price = s.prices.get(&role).cloned().flatten();
            let r = s.roles.entry(role).or_default();
            // Token counts come from the provider's answer: saturate, never wrap.
            r.calls += 1;
            r.batched_calls += u64::from(batched);
            r.input_tokens = r.input_tokens.saturating_add(c.input_tokens);
            r.output_tokens = r.output_tokens.saturating_add(c.output_tokens);
            r.cached_input_tokens = r.cached_input_tokens.saturating_add(c.cached_input_tokens);
            r.cache_write_tokens = r.cache_write_tokens.saturating_add(c.cache_write_tokens);
            if let (Some(p), Some(cost)) = (price, r.cost_usd.as_mut()) {
                *cost += p.cost(c.tokens(), batched);
            }
        }
    }

    /// Records a cache hit, a retried attempt or a failed call.
    pub fn record(&self, role: Role, event: Event) {
        if let Ok(mut s) = self.state.lock() {
            let r = s.roles.entry(role).or_default();
            match event {
                Event::CacheHit => r.cache_hits += 1,
                Event::Retry => r.retries += 1,
                Event::Hedge => r.hedges += 1,
                Event::Failure => r.failures += 1,
                Event::Parsed { first_try: true } => r.parsed_first_try += 1,
                Event::Parsed { first_try: false } => r.reasked += 1,
                Event::Unparsed => {
                    r.reasked += 1;
                    r.unparsed += 1;
                }
            }
        }
    }

    /// Gives back a reservation for a call that was never made.
    pub fn cancel_start(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.started = s.started.saturating_sub(1);
        }
    }

    /// Whether a cap on what is spent (calls, tokens, dollars) is set: one
    /// that work started beside other work can use up before it. A wall
    /// cap is a deadline, the same for every call whatever else runs.
    pub fn spend_capped(&self) -> bool {
        self.caps.max_calls.is_some()
            || self.caps.max_tokens.is_some()
            || self.caps.max_cost_usd.is_some()
    }

    /// Why the budget is exhausted, if it is.
    pub fn exhausted(&self) -> Option<String> {
        self.state.lock().ok().and_then(|s| s.exhausted.clone())
    }

    /// The usage so far.
    pub fn usage(&self) -> Usage {
        let Ok(s) = self.state.lock() else {
            return Usage::default();
        };
        let mut u = Usage {
            cost_usd: Some(0.0),
            ..Default::default()
        };
        for (role, r) in &s.roles {
            u.calls += r.calls;
            u.cache_hits += r.cache_hits;
            u.input_tokens = u.input_tokens.saturating_add(r.input_tokens);
            u.output_tokens = u.output_tokens.saturating_add(r.output_tokens);
            u.cached_input_tokens = u.cached_input_tokens.saturating_add(r.cached_input_tokens);
            u.batched_calls += r.batched_calls;
            u.cost_usd = match (u.cost_usd, r.cost_usd) {
                (Some(a), Some(b)) => Some(a + b),
                // A role that made no call costs nothing, known price or not.
                (a, None) if r.calls == 0 => a,
                _ => None,
            };
            u.roles.insert(role.to_string(), r.clone());
        }
        u
    }
}

/// Things the ledger counts besides calls.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// Answered from the cache.
    CacheHit,
    /// An attempt failed and another follows.
    Retry,
    /// A slow attempt got a second, identical request beside it.
    Hedge,
    /// A call failed for good.
    Failure,
    /// An answer was read, on the first try or after a re-ask.
    Parsed {
        /// Without a re-ask.
        first_try: bool,
    },
    /// An answer stayed unreadable after every re-ask.
    Unparsed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_known_only_with_prices_and_caps_stop_new_calls() {
        let b = Budget::new(BudgetConfig {
            max_calls: Some(2),
            ..Default::default()
        });
        b.register(
            Role::Task,
            "openai:m".into(),
            Some(Price {
                input_per_mtok: 1.0,
                output_per_mtok: 2.0,
                ..Price::FREE
            }),
        );
        b.register(Role::Judge, "openai:j".into(), None);
        b.try_start().unwrap();
        b.record_call(
            Role::Task,
            &Completion::new(String::new(), 1_000_000, 500_000),
            false,
        );
        let u = b.usage();
        assert_eq!(u.roles["task"].cost_usd, Some(2.0));
        assert_eq!(u.cost_usd, Some(2.0), "the judge made no call");
        b.try_start().unwrap();
        b.record_call(Role::Judge, &Completion::new(String::new(), 10, 10), false);
        assert_eq!(b.usage().roles["judge"].cost_usd, None);
        assert_eq!(b.usage().cost_usd, None, "unknown, never 0");
        let err = b.try_start().unwrap_err();
        assert_eq!(err, "2 LM calls made, budget.max_calls is 2");
        assert_eq!(
            b.exhausted().as_deref(),
            Some("2 LM calls made, budget.max_calls is 2")
        );
    }

    #[test]
    fn cached_written_and_batched_tokens_are_priced_at_their_rates() {
        let b = Budget::new(BudgetConfig::default());
        // Anthropic-like rates: reads at a tenth, writes at 1.25×.
        let price = Price {
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
            cached_input_per_mtok: Some(0.3),
            cache_write_per_mtok: Some(3.75),
            batch_discount: None,
        };
        b.register(Role::Task, "anthropic:m".into(), Some(price.clone()));
        let c = Completion {
            cached_input_tokens: 600_000,
            cache_write_tokens: 100_000,
            ..Completion::new(String::new(), 1_000_000, 100_000)
        };
        b.record_call(Role::Task, &c, false);
        // 300k plain × 3 + 600k × 0.3 + 100k × 3.75 + 100k × 15, per million.
        let live = 0.9 + 0.18 + 0.375 + 1.5;
        let u = b.usage();
        assert!((u.cost_usd.unwrap() - live).abs() < 1e-9, "{u:?}");
        assert_eq!(u.cached_input_tokens, 600_000);
        assert_eq!(u.roles["task"].cache_write_tokens, 100_000);
        b.record_call(Role::Task, &c, true);
        let u = b.usage();
        assert!(
            (u.cost_usd.unwrap() - live * 1.5).abs() < 1e-9,
            "batch is half price"
        );
        assert_eq!((u.calls, u.batched_calls), (2, 1));
        // No cached rate configured: cached tokens cost what input costs.
        let plain = Price {
            cached_input_per_mtok: None,
            cache_write_per_mtok: None,
            ..price
        };
        assert!((plain.cost(c.tokens(), false) - (3.0 + 1.5)).abs() < 1e-9);
    }
}
