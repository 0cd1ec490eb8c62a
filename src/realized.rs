//! The realized lift: what a deployed pack did on the traffic it served,
//! against the pack it replaced, from the scores of the answers users got.
//!
//! Before/after traffic is not a paired experiment: the mix of workspaces,
//! personas and modes moves between the two windows, and a pack that served
//! an easier mix looks better for it. So beside the raw difference of means
//! there is an adjusted one: within each stratum (workspace × persona by
//! default) the difference of the two packs' means, weighted by the stratum's
//! share of both arms together, over the strata both arms served. Turns of one
//! thread share context, so intervals come from a bootstrap that resamples
//! threads, each arm on its own. When the application randomized which pack a
//! thread got (a rollout), the arms share one window and one mix, and the raw
//! difference is the experiment's estimate.

use std::collections::HashMap;

use serde::Serialize;

use crate::ab::quantile;

/// Which pack served a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// The pack running now.
    Current,
    /// The pack it replaced (or, in a rollout, the pack the rest got).
    Previous,
}

/// One scored turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Its arm.
    pub arm: Arm,
    /// Its thread (the bootstrap's unit).
    pub thread: String,
    /// Its stratum (`workspace × persona`, or the configured keys).
    pub stratum: String,
    /// Its score, 0..100.
    pub score: f64,
}

/// A difference current − previous with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Difference {
    /// current − previous, in points.
    pub lift: f64,
    /// Its bootstrap interval.
    pub ci95: (f64, f64),
    /// Turns of the current pack it uses.
    pub n_current: usize,
    /// Turns of the previous pack it uses.
    pub n_previous: usize,
}

/// Both differences and what they rest on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Plain means.
    pub raw: Difference,
    /// Within strata, reweighted to the arms' common mix.
    pub adjusted: Difference,
    /// Threads of the current pack.
    pub threads_current: usize,
    /// Threads of the previous pack.
    pub threads_previous: usize,
    /// Strata both arms served (the adjusted difference's).
    pub strata_shared: usize,
    /// Turns in strata only one arm served (left out of the adjusted difference).
    pub turns_unmatched: usize,
}

/// How a comparison is computed.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Bootstrap resamples.
    pub resamples: u32,
    /// Interval confidence.
    pub confidence: f64,
    /// Bootstrap seed.
    pub seed: u64,
}

/// Per thread: per stratum index, the sum of scores and the turn count.
type ThreadSums = Vec<(usize, f64, usize)>;

/// The two arms, grouped by thread, strata as indices.
struct Arms {
    current: Vec<ThreadSums>,
    previous: Vec<ThreadSums>,
    /// Per shared stratum index: its weight in the common mix (0 for strata one arm lacks).
    weights: Vec<f64>,
}

/// Compares the arms. `None` when either arm has no turn.
pub fn compare(obs: &[Observation], s: Settings) -> Option<Comparison> {
    let arms = group(obs);
    if arms.current.is_empty() || arms.previous.is_empty() {
        return None;
    }
    let full = |a: &[ThreadSums], b: &[ThreadSums]| estimate(a, b, &arms.weights);
    let (raw, adjusted) = full(&arms.current, &arms.previous);
    let mut rng = fastrand::Rng::with_seed(s.seed);
    let resamples = s.resamples.clamp(1, crate::config::MAX_BOOTSTRAP_RESAMPLES) as usize;
    let mut raws = Vec::with_capacity(resamples);
    let mut adjs = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let c = resample(&arms.current, &mut rng);
        let p = resample(&arms.previous, &mut rng);
        let (r, a) = full(&c, &p);
        raws.push(r);
        if a.is_finite() {
            adjs.push(a);
        }
    }
    let interval = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let alpha = 1.0 - s.confidence;
        (quantile(&v, alpha / 2.0), quantile(&v, 1.0 - alpha / 2.0))
    };
    let turns = |a: &[ThreadSums], shared: bool| -> usize {
        a.iter()
            .flatten()
            .filter(|(st, _, _)| !shared || arms.weights[*st] > 0.0)
            .map(|(_, _, n)| n)
            .sum()
    };
    Some(Comparison {
        raw: Difference {
            lift: raw,
            ci95: interval(raws),
            n_current: turns(&arms.current, false),
            n_previous: turns(&arms.previous, false),
        },
        adjusted: Difference {
            lift: adjusted,
            ci95: interval(adjs),
            n_current: turns(&arms.current, true),
            n_previous: turns(&arms.previous, true),
        },
        threads_current: arms.current.len(),
        threads_previous: arms.previous.len(),
        strata_shared: arms.weights.iter().filter(|w| **w > 0.0).count(),
        turns_unmatched: turns(&arms.current, false) + turns(&arms.previous, false)
            - turns(&arms.current, true)
            - turns(&arms.previous, true),
    })
}

/// Groups observations by arm and thread; weights each stratum both arms
/// served by its share of their turns together.
fn group(obs: &[Observation]) -> Arms {
    let mut strata: HashMap<&str, usize> = HashMap::new();
    let mut threads: [HashMap<&str, usize>; 2] = [HashMap::new(), HashMap::new()];
    let mut sums: [Vec<ThreadSums>; 2] = [Vec::new(), Vec::new()];
    let mut counts: Vec<[usize; 2]> = Vec::new();
    for o in obs {
        let next = strata.len();
        let st = *strata.entry(o.stratum.as_str()).or_insert(next);
        if st == counts.len() {
            counts.push([0, 0]);
        }
        let side = usize::from(o.arm == Arm::Previous);
        counts[st][side] += 1;
        let next = sums[side].len();
        let t = *threads[side].entry(o.thread.as_str()).or_insert(next);
        if t == sums[side].len() {
            sums[side].push(Vec::new());
        }
        let thread = &mut sums[side][t];
        match thread.iter_mut().find(|(s, _, _)| *s == st) {
            Some(cell) => {
                cell.1 += o.score;
                cell.2 += 1;
            }
            None => thread.push((st, o.score, 1)),
        }
    }
    let shared: usize = counts
        .iter()
        .filter(|c| c[0] > 0 && c[1] > 0)
        .map(|c| c[0] + c[1])
        .sum();
    let weights = counts
        .iter()
        .map(|c| {
            if c[0] > 0 && c[1] > 0 {
                (c[0] + c[1]) as f64 / shared as f64
            } else {
                0.0
            }
        })
        .collect();
    let [previous, current] = [sums[1].clone(), sums[0].clone()];
    Arms {
        current,
        previous,
        weights,
    }
}

/// The raw and adjusted differences of one (re)sample of threads. The
/// adjusted one renormalises the weights over the strata both arms have in
/// this sample (NaN when they share none).
fn estimate(current: &[ThreadSums], previous: &[ThreadSums], weights: &[f64]) -> (f64, f64) {
    let totals = |arm: &[ThreadSums]| {
        let mut per = vec![(0.0, 0usize); weights.len()];
        for cell in arm.iter().flatten() {
            per[cell.0].0 += cell.1;
            per[cell.0].1 += cell.2;
        }
        per
    };
    let (c, p) = (totals(current), totals(previous));
    let mean = |per: &[(f64, usize)]| {
        let (s, n) = per
            .iter()
            .fold((0.0, 0usize), |(s, n), (a, b)| (s + a, n + b));
        s / n.max(1) as f64
    };
    let raw = mean(&c) - mean(&p);
    let (mut num, mut wsum) = (0.0, 0.0);
    for (st, w) in weights.iter().enumerate() {
        if *w > 0.0 && c[st].1 > 0 && p[st].1 > 0 {
            num += w * (c[st].0 / c[st].1 as f64 - p[st].0 / p[st].1 as f64);
            wsum += w;
        }
    }
    (raw, if wsum > 0.0 { num / wsum } else { f64::NAN })
}

/// Threads drawn with replacement, as many as the arm has.
fn resample(arm: &[ThreadSums], rng: &mut fastrand::Rng) -> Vec<ThreadSums> {
    (0..arm.len())
        .map(|_| arm[rng.usize(..arm.len())].clone())
        .collect()
}

/// Where a thread falls in 0..1 for a rollout: the first eight bytes of the
/// sha256 of its id, big-endian, over 2^64. Stable across processes and
/// languages (the runtimes compute the same), and independent of the pack.
pub fn rollout_point(thread: &str) -> f64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(thread.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b) as f64 / 18_446_744_073_709_551_616.0
}

/// Whether a rollout of `share` serves the candidate to `thread`.
pub fn serves_candidate(thread: &str, share: f64) -> bool {
    rollout_point(thread) < share
}

/// About how many turns of the current pack an interval of ±`precision`
/// points needs, from the width `ci` has on `n` of them (the current arm's
/// share of the variance taken to shrink as 1/n; the previous arm, usually
/// the larger, as it is).
pub fn turns_needed(ci: (f64, f64), n: usize, precision: f64) -> usize {
    let half = (ci.1 - ci.0) / 2.0;
    if !(half.is_finite() && precision > 0.0) {
        return usize::MAX;
    }
    let factor = (half / precision).powi(2);
    ((n as f64 * factor).ceil() as usize).max(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(arm: Arm, thread: usize, stratum: &str, score: f64) -> Observation {
        Observation {
            arm,
            thread: format!("{arm:?}-{thread}"),
            stratum: stratum.into(),
            score,
        }
    }

    const S: Settings = Settings {
        resamples: 2000,
        confidence: 0.95,
        seed: 7,
    };

    #[test]
    fn a_shift_in_the_mix_moves_the_raw_difference_but_not_the_adjusted_one() {
        // Easy workspace scores 80, hard one 40, under either pack: no pack effect.
        // The current pack served mostly the easy workspace.
        let mut v = Vec::new();
        for t in 0..40 {
            let (arm, easy_share) = if t < 20 {
                (Arm::Current, 0.8)
            } else {
                (Arm::Previous, 0.2)
            };
            for i in 0..5 {
                let easy = (i as f64) < easy_share * 5.0;
                let noise = ((t * 7 + i * 3) % 5) as f64 - 2.0;
                let (st, base) = if easy { ("easy", 80.0) } else { ("hard", 40.0) };
                v.push(obs(arm, t, st, base + noise));
            }
        }
        let c = compare(&v, S).unwrap();
        assert!(c.raw.lift > 15.0, "{c:?}");
        assert!(c.raw.ci95.0 > 0.0, "the raw difference is fooled: {c:?}");
        assert!(c.adjusted.lift.abs() < 1.5, "{c:?}");
        assert!(c.adjusted.ci95.0 < 0.0 && c.adjusted.ci95.1 > 0.0, "{c:?}");
        assert_eq!((c.threads_current, c.threads_previous), (20, 20));
        assert_eq!(c.strata_shared, 2);
        assert_eq!(c.turns_unmatched, 0);
    }

    #[test]
    fn a_stratum_only_one_arm_served_is_left_out_of_the_adjusted_difference() {
        let mut v = Vec::new();
        for t in 0..10 {
            v.push(obs(Arm::Current, t, "a", 70.0 + t as f64));
            v.push(obs(Arm::Previous, t, "a", 60.0 + t as f64));
            v.push(obs(Arm::Current, t, "only-new", 10.0));
        }
        let c = compare(&v, S).unwrap();
        assert!((c.adjusted.lift - 10.0).abs() < 1e-9, "{c:?}");
        assert_eq!(c.turns_unmatched, 10);
        assert_eq!((c.adjusted.n_current, c.raw.n_current), (10, 20));
    }

    #[test]
    fn no_turns_in_an_arm_is_no_comparison() {
        assert!(compare(&[obs(Arm::Current, 0, "a", 1.0)], S).is_none());
    }

    #[test]
    fn a_rollout_serves_about_its_share_and_always_the_same_threads() {
        let threads: Vec<String> = (0..10_000).map(|i| format!("th_{i:05}")).collect();
        let served = threads.iter().filter(|t| serves_candidate(t, 0.2)).count();
        assert!((1850..=2150).contains(&served), "{served}");
        assert!(
            threads
                .iter()
                .all(|t| serves_candidate(t, 0.2) == serves_candidate(t, 0.2))
        );
        // A larger share keeps every thread the smaller one had.
        assert!(
            threads
                .iter()
                .filter(|t| serves_candidate(t, 0.2))
                .all(|t| serves_candidate(t, 0.5))
        );
        assert!(!serves_candidate("th_00001", 0.0) && serves_candidate("th_00001", 1.0));
    }

    #[test]
    fn the_turns_needed_grow_with_the_square_of_the_precision_asked() {
        assert_eq!(turns_needed((-4.0, 4.0), 100, 2.0), 400);
        assert_eq!(turns_needed((-1.0, 1.0), 100, 2.0), 100);
    }
}
