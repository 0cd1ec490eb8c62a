//! The thread-level split into train, val and fresh held-out sets.
//!
//! A thread never spans two sets: turns of one conversation share context,
//! and a model that trained on a thread's early turns would be graded on
//! its own homework. Held-out is *fresh*: the threads that started at or
//! after the current pack's `train_cutoff`, which no optimizer has seen.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::traces::Turn;
use crate::traces::settings::SplitConfig;

/// How the held-out threads were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FreshRule {
    /// Threads that start at or after the current pack's cutoff.
    AfterCutoff,
    /// The pack has no cutoff: the newest `split.heldout_fraction` of threads.
    NewestFraction,
}

/// The three sets.
#[derive(Debug, Clone)]
pub struct Split {
    /// Optimizer training examples (demos, bootstrapping, proposals).
    pub train: Vec<Turn>,
    /// Optimizer selection examples.
    pub val: Vec<Turn>,
    /// Fresh examples for the A/B proof; never shown to the optimizer.
    pub heldout: Vec<Turn>,
    /// No train or val turn is at or after this instant (the new pack's cutoff).
    pub train_cutoff: Option<DateTime<Utc>>,
    /// The held-out threads, sorted.
    pub heldout_threads: Vec<String>,
    /// Turns of older threads dropped because they happened after the cutoff.
    pub excluded_turns: usize,
    /// How held-out threads were chosen.
    pub rule: FreshRule,
}

/// The split could not give a usable held-out set.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// Too few fresh turns to prove anything.
    #[error(
        "the fresh held-out set has {turns} turns in {threads} threads ({rule}); split.min_heldout_turns is {min}. {hint}"
    )]
    HeldoutTooSmall {
        /// Held-out turns.
        turns: usize,
        /// Held-out threads.
        threads: usize,
        /// The configured minimum.
        min: usize,
        /// How the threads were chosen, in words.
        rule: String,
        /// What to do about it, for this rule.
        hint: String,
    },
    /// Nothing left to train on.
    #[error("no threads are older than the held-out set, so there is nothing to train on ({0})")]
    NoTrainingData(String),
}

/// The threads that are fresh (held-out candidates) given each thread's start.
///
/// Threads without any timestamp count as old.
pub fn fresh_thread_set(
    starts: &[(String, Option<DateTime<Utc>>)],
    cutoff: Option<DateTime<Utc>>,
    cfg: &SplitConfig,
) -> HashSet<String> {
    let mut ordered: Vec<&(String, Option<DateTime<Utc>>)> = starts.iter().collect();
    // Newest first; ties broken by name so the choice is deterministic.
    ordered.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let total = ordered.len();
    let take = match cutoff {
        Some(c) => {
            let after = ordered
                .iter()
                .filter(|(_, s)| s.is_some_and(|s| s >= c))
                .count();
            after.min(((total as f64) * cfg.max_heldout_fraction).ceil() as usize)
        }
        None => {
            let n = ((total as f64) * cfg.heldout_fraction).ceil() as usize;
            if total >= 2 { n.clamp(1, total - 1) } else { 0 }
        }
    };
    ordered
        .into_iter()
        .take(take)
        .filter(|(_, s)| s.is_some())
        .map(|(t, _)| t.clone())
        .collect()
}

fn rank(seed: u64, salt: &str, key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    h.finalize().into()
}

/// Splits clean turns by thread.
pub fn split(
    turns: &[Turn],
    cutoff: Option<DateTime<Utc>>,
    cfg: &SplitConfig,
) -> Result<Split, SplitError> {
    let mut by_thread: BTreeMap<&str, Vec<&Turn>> = BTreeMap::new();
    for t in turns {
        by_thread.entry(t.thread.as_str()).or_default().push(t);
    }
    let starts: Vec<(String, Option<DateTime<Utc>>)> = by_thread
        .iter()
        .map(|(t, turns)| (t.to_string(), turns.iter().filter_map(|x| x.ts).min()))
        .collect();
    let fresh = fresh_thread_set(&starts, cutoff, cfg);
    let rule = if cutoff.is_some() {
        FreshRule::AfterCutoff
    } else {
        FreshRule::NewestFraction
    };
    let rule_words = match cutoff {
        Some(c) => format!(
            "threads starting at or after the pack's train_cutoff {}",
            c.to_rfc3339()
        ),
        None => format!(
            "the pack has no train_cutoff, so the newest {:.0}% of threads",
            cfg.heldout_fraction * 100.0
        ),
    };
    let train_cutoff = starts
        .iter()
        .filter(|(t, _)| fresh.contains(t))
        .filter_map(|(_, s)| *s)
        .min();

    let mut heldout: Vec<&Turn> = Vec::new();
    let mut pool: Vec<(&str, Vec<&Turn>)> = Vec::new();
    let mut excluded = 0usize;
    for (thread, ts) in by_thread {
        if fresh.contains(thread) {
            heldout.extend(ts);
        } else {
            let kept: Vec<&Turn> = ts
                .into_iter()
                .filter(|t| match (t.ts, train_cutoff) {
                    (Some(ts), Some(c)) if ts >= c => {
                        excluded += 1;
                        false
                    }
                    _ => true,
                })
                .collect();
            if !kept.is_empty() {
                pool.push((thread, kept));
            }
        }
    }
    let heldout_threads: Vec<String> = {
        let mut v: Vec<String> = fresh.into_iter().collect();
        v.sort();
        v
    };
    let heldout = cap(heldout, cfg.max_heldout, cfg.seed, "heldout");
    if heldout.len() < cfg.min_heldout_turns {
        return Err(SplitError::HeldoutTooSmall {
            turns: heldout.len(),
            threads: heldout_threads.len(),
            min: cfg.min_heldout_turns,
            rule: rule_words,
            hint: match cutoff {
                Some(_) => "Log more traffic since the cutoff, or lower split.min_heldout_turns".into(),
                None => "With no cutoff yet, log more traffic, raise split.heldout_fraction, or lower split.min_heldout_turns".into(),
            },
        });
    }
    if pool.len() < 2 {
        return Err(SplitError::NoTrainingData(rule_words));
    }
    // A digest per thread, not per comparison.
    pool.sort_by_cached_key(|(thread, _)| rank(cfg.seed, "thread", thread));
    let n_val =
        (((pool.len() as f64) * cfg.val_fraction).round() as usize).clamp(1, pool.len() - 1);
    let mut val = Vec::new();
    let mut train = Vec::new();
    for (i, (_, ts)) in pool.into_iter().enumerate() {
        let dest = if i < n_val { &mut val } else { &mut train };
        dest.extend(ts);
    }
    Ok(Split {
        train: cap(train, cfg.max_train, cfg.seed, "train"),
        val: cap(val, cfg.max_val, cfg.seed, "val"),
        heldout,
        train_cutoff,
        heldout_threads,
        excluded_turns: excluded,
        rule,
    })
}

/// Keeps at most `max` turns (a seeded sample), in time order, and copies
/// only those: a turn carries its whole inputs, and a capped set of a large
/// export keeps a small share of them.
fn cap(mut turns: Vec<&Turn>, max: Option<usize>, seed: u64, salt: &str) -> Vec<Turn> {
    if let Some(max) = max
        && turns.len() > max
    {
        // A digest per turn, not per comparison (a sort makes n log n).
        turns.sort_by_cached_key(|t| rank(seed, salt, &t.id.0));
        turns.truncate(max);
    }
    turns.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
    turns.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::TraceId;
    use chrono::TimeZone;

    fn turn(thread: usize, i: usize, day: u32) -> Turn {
        Turn {
            id: TraceId(format!("t{thread}-{i}")),
            thread: format!("th{thread:03}"),
            workspace: None,
            ts: Some(
                Utc.with_ymd_and_hms(2026, 10, day, 10, i as u32, 0)
                    .unwrap(),
            ),
            persona: None,
            pack: None,
            clean: true,
            inputs: Default::default(),
            outputs: Default::default(),
            feedback: Default::default(),
        }
    }

    fn data() -> Vec<Turn> {
        // 20 threads, one a day from Oct 1, 5 turns each.
        (0..20)
            .flat_map(|t| (0..5).map(move |i| turn(t, i, 1 + t as u32)))
            .collect()
    }

    fn cfg() -> SplitConfig {
        SplitConfig {
            min_heldout_turns: 5,
            ..Default::default()
        }
    }

    #[test]
    fn heldout_is_the_threads_after_the_cutoff_and_sets_are_disjoint() {
        let cutoff = Utc.with_ymd_and_hms(2026, 10, 16, 0, 0, 0).unwrap();
        let s = split(&data(), Some(cutoff), &cfg()).unwrap();
        assert_eq!(
            s.heldout_threads,
            ["th015", "th016", "th017", "th018", "th019"]
        );
        assert_eq!(s.heldout.len(), 25);
        assert_eq!(s.train.len() + s.val.len(), 75);
        let threads = |v: &[Turn]| v.iter().map(|t| t.thread.clone()).collect::<HashSet<_>>();
        assert!(threads(&s.train).is_disjoint(&threads(&s.val)));
        assert!(threads(&s.train).is_disjoint(&threads(&s.heldout)));
        assert!(threads(&s.val).is_disjoint(&threads(&s.heldout)));
        assert!(
            s.train
                .iter()
                .chain(&s.val)
                .all(|t| t.ts.unwrap() < s.train_cutoff.unwrap())
        );
    }

    #[test]
    fn without_cutoff_the_newest_fraction_is_held_out_and_the_split_is_seeded() {
        let a = split(&data(), None, &cfg()).unwrap();
        assert_eq!(a.rule, FreshRule::NewestFraction);
        assert_eq!(a.heldout_threads, ["th016", "th017", "th018", "th019"]);
        let b = split(&data(), None, &cfg()).unwrap();
        assert_eq!(a.val, b.val);
        let other = SplitConfig { seed: 8, ..cfg() };
        let c = split(&data(), None, &other).unwrap();
        assert_ne!(
            a.val.iter().map(|t| &t.thread).collect::<Vec<_>>(),
            c.val.iter().map(|t| &t.thread).collect::<Vec<_>>()
        );
    }

    #[test]
    fn too_many_fresh_threads_keep_the_newest_and_move_the_cutoff() {
        let cutoff = Utc.with_ymd_and_hms(2026, 10, 2, 0, 0, 0).unwrap();
        let s = split(&data(), Some(cutoff), &cfg()).unwrap();
        assert_eq!(s.heldout_threads.len(), 10);
        assert_eq!(
            s.train_cutoff,
            Some(Utc.with_ymd_and_hms(2026, 10, 11, 10, 0, 0).unwrap())
        );
    }

    #[test]
    fn a_straddling_thread_loses_its_late_turns_not_its_thread_boundary() {
        let mut d = data();
        d.push(turn(0, 9, 25)); // thread 0 continues after everything
        let cutoff = Utc.with_ymd_and_hms(2026, 10, 16, 0, 0, 0).unwrap();
        let s = split(&d, Some(cutoff), &cfg()).unwrap();
        assert_eq!(s.excluded_turns, 1);
        assert!(!s.heldout.iter().any(|t| t.thread == "th000"));
    }

    #[test]
    fn a_small_heldout_is_an_error_that_says_what_to_do() {
        let cutoff = Utc.with_ymd_and_hms(2026, 10, 20, 0, 0, 0).unwrap();
        let cfg = SplitConfig {
            min_heldout_turns: 40,
            ..Default::default()
        };
        let err = split(&data(), Some(cutoff), &cfg).unwrap_err().to_string();
        assert!(
            err.starts_with("the fresh held-out set has 5 turns in 1 threads"),
            "{err}"
        );
        assert!(err.contains("split.min_heldout_turns is 40"), "{err}");
    }
}
