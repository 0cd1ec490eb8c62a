//! The A/B proof: both packs on the same fresh held-out examples, paired.
//!
//! Per example the difference candidate − base; reported are the mean lift on
//! 0..100, a paired percentile bootstrap interval, a paired sign-flip
//! permutation p-value, wins/ties/losses and per-dimension means. The decision
//! follows the configured policy; by default a PR opens only when the whole
//! interval is above zero, and a held-out set too small to say anything is a
//! `skip` with that reason — never a guess.
//!
//! Between two merges every run tests a new candidate against the same pack
//! on held-out sets that mostly overlap: each such *look* is another chance
//! of a false pull request. The decision therefore spends the error rate
//! across looks ([`look_confidence`]): look k may use the share 6/(π²k²) of
//! it, and those shares sum to 1 over any number of looks, so the chance of
//! any false pull request between two merges stays within the configured
//! level whatever the looks have in common.

use indexmap::IndexMap;
use serde::Serialize;

use crate::config::AbConfig;
use crate::eval::EvalReport;

/// Exact enumeration of sign flips up to this many examples (2^16 patterns).
pub const EXACT_PERMUTATION_MAX_N: usize = 16;

/// The paired statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Paired examples.
    pub n: usize,
    /// Base mean, 0..100.
    pub base: f64,
    /// Candidate mean, 0..100.
    pub candidate: f64,
    /// Mean of candidate − base.
    pub lift: f64,
    /// Bootstrap interval of the lift at the configured confidence.
    pub ci: (f64, f64),
    /// The interval's confidence level.
    pub confidence: f64,
    /// Two-sided paired permutation p-value.
    pub p_value: f64,
    /// Whether the p-value was computed exactly (all sign patterns).
    pub p_exact: bool,
    /// Examples where the candidate scored higher.
    pub wins: usize,
    /// Examples with equal scores.
    pub ties: usize,
    /// Examples where the candidate scored lower.
    pub losses: usize,
    /// The smallest true lift this A/B would find significant 80% of the
    /// time at the level its decision uses, given the spread of the paired
    /// differences it measured and its size (a normal approximation).
    pub detectable_lift: f64,
    /// Which look at today's pack this is (1 = the first since it was merged).
    pub look: u32,
    /// The confidence of the interval the decision uses at this look.
    pub decision_confidence: f64,
    /// That interval.
    pub decision_ci: (f64, f64),
    /// The one-sided sign-flip p-value of "the lift is above `min_lift`".
    /// The percentile bootstrap's far tails are too short at a few dozen
    /// examples (on the simulator with no true effect, a 96.96% interval
    /// cleared zero twice as often as it should), so `open` also needs this
    /// p-value at or below [`Stats::decision_alpha`].
    pub decision_p: f64,
    /// The one-sided error rate this look may spend: (1 − confidence) ×
    /// 6/(π²k²) / 2.
    pub decision_alpha: f64,
    /// The standard deviation of the paired differences.
    pub paired_sd: f64,
    /// Answers per example and pack the scores average (`ab.task_samples`).
    pub task_samples: u32,
    /// With two or more task samples: the standard deviation one sample's
    /// paired difference owes to the task's sampling alone (the part more
    /// samples average away), measured from the spread between samples.
    pub sampling_sd: Option<f64>,
}

/// What to do with a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Open (or update) the pull request.
    Open,
    /// Open it as a draft: promising, not proven.
    Draft,
    /// Do nothing.
    Skip,
}

impl Decision {
    /// The word, as outputs and reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Open => "open",
            Decision::Draft => "draft",
            Decision::Skip => "skip",
        }
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The `q` quantile (0..1) of sorted values, interpolating linearly as numpy does by default.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Percentile bootstrap interval of the mean of `diffs`.
pub fn bootstrap_ci(diffs: &[f64], resamples: u32, confidence: f64, seed: u64) -> (f64, f64) {
    percentile_interval(&bootstrap_means(diffs, resamples, seed), confidence)
}

/// The sorted bootstrap means of `diffs` (empty for no diffs).
fn bootstrap_means(diffs: &[f64], resamples: u32, seed: u64) -> Vec<f64> {
    if diffs.is_empty() {
        return Vec::new();
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let n = diffs.len();
    // Clamped here too: the resample count sizes an allocation.
    let mut means: Vec<f64> = (0..resamples.clamp(1, crate::config::MAX_BOOTSTRAP_RESAMPLES))
        .map(|_| (0..n).map(|_| diffs[rng.usize(..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    means
}

/// The two-sided percentile interval of sorted bootstrap means.
fn percentile_interval(means: &[f64], confidence: f64) -> (f64, f64) {
    let alpha = 1.0 - confidence;
    (
        quantile(means, alpha / 2.0),
        quantile(means, 1.0 - alpha / 2.0),
    )
}

/// The share of the error rate look `look` (1-based) may spend: 6/(π²k²).
/// The shares sum to 1 over all looks, so however many runs test candidates
/// against one pack, their false-positive chances add up to at most the
/// configured level (a union bound: no assumption on how the looks overlap).
pub fn look_share(look: u32) -> f64 {
    let k = f64::from(look.max(1));
    6.0 / (std::f64::consts::PI * std::f64::consts::PI * k * k)
}

/// The confidence of the interval a decision at look `look` uses when the
/// configured level is `confidence`: look 1 of a 95% policy uses 96.96%,
/// look 2 99.24%, look 10 99.9696%.
pub fn look_confidence(confidence: f64, look: u32) -> f64 {
    1.0 - (1.0 - confidence) * look_share(look)
}

/// Two-sided paired sign-flip permutation p-value of the mean difference:
/// exact over all 2^n sign patterns for small n, else Monte Carlo with the
/// +1 correction (so a p-value is never reported as 0).
pub fn permutation_p(diffs: &[f64], resamples: u32, seed: u64) -> (f64, bool) {
    sign_flip_p(diffs, resamples, seed, f64::abs, None)
}

/// The one-sided sign-flip p-value of "the mean of `diffs` is above 0":
/// the share of sign patterns whose mean is at least the observed one.
/// Exact under a null in which each difference is as likely negative as
/// positive, as it is when the two packs are interchangeable.
///
/// Only whether p is at most `threshold` decides anything, so the Monte
/// Carlo stops once the count shows it is not: the p-value returned is then
/// the estimate from the patterns drawn so far (and above `threshold`).
pub fn permutation_p_above(
    diffs: &[f64],
    resamples: u32,
    seed: u64,
    threshold: f64,
) -> (f64, bool) {
    sign_flip_p(diffs, resamples, seed, |m| m, Some(threshold))
}

/// The share of sign patterns whose `stat(mean)` reaches the observed one.
fn sign_flip_p(
    diffs: &[f64],
    resamples: u32,
    seed: u64,
    stat: fn(f64) -> f64,
    stop_above: Option<f64>,
) -> (f64, bool) {
    let n = diffs.len();
    if n == 0 {
        return (1.0, true);
    }
    let observed = stat(mean(diffs));
    // Floating-point sums of the same terms in another order differ in the last bits.
    let tol = 1e-9 * (1.0 + observed.abs());
    if n <= EXACT_PERMUTATION_MAX_N {
        let total = 1u64 << n;
        let mut count = 0u64;
        for mask in 0..total {
            let s: f64 = diffs
                .iter()
                .enumerate()
                .map(|(i, d)| if mask >> i & 1 == 1 { -d } else { *d })
                .sum::<f64>()
                / n as f64;
            if stat(s) >= observed - tol {
                count += 1;
            }
        }
        return (count as f64 / total as f64, true);
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut count = 0u64;
    let resamples = resamples.clamp(1, crate::config::MAX_BOOTSTRAP_RESAMPLES);
    // Past this count the final p-value would exceed `stop_above` whatever follows.
    let enough = stop_above.map(|t| (t * (f64::from(resamples) + 1.0)).floor() as u64);
    for done in 1..=u64::from(resamples) {
        let s: f64 = diffs
            .iter()
            .map(|d| if rng.bool() { -d } else { *d })
            .sum::<f64>()
            / n as f64;
        if stat(s) >= observed - tol {
            count += 1;
            if enough.is_some_and(|e| count > e) {
                return ((count + 1) as f64 / (done + 1) as f64, false);
            }
        }
    }
    ((count + 1) as f64 / (f64::from(resamples) + 1.0), false)
}

/// The standard normal quantile (Acklam's rational approximation, relative
/// error below 1.2e-9 over (0, 1)).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The minimum lift a paired test of `n` differences with standard deviation
/// `sd` detects with probability `power` at two-sided `confidence`.
pub fn detectable_lift(sd: f64, n: usize, confidence: f64, power: f64) -> f64 {
    if n < 2 || !sd.is_finite() {
        return f64::INFINITY;
    }
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0) + normal_quantile(power);
    z * sd / (n as f64).sqrt()
}

fn sample_sd(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return f64::NAN;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// The paired statistics of two score lists over the same examples, as the
/// first look at today's pack.
pub fn paired(base: &[f64], candidate: &[f64], policy: &AbConfig) -> Stats {
    paired_at(base, candidate, policy, 1)
}

/// The paired statistics at look `look` since today's pack was merged.
pub fn paired_at(base: &[f64], candidate: &[f64], policy: &AbConfig, look: u32) -> Stats {
    let diffs: Vec<f64> = candidate.iter().zip(base).map(|(c, b)| c - b).collect();
    let means = bootstrap_means(&diffs, policy.bootstrap_resamples, policy.seed);
    let ci = percentile_interval(&means, policy.confidence);
    let decision_confidence = look_confidence(policy.confidence, look);
    let decision_alpha = (1.0 - decision_confidence) / 2.0;
    // Enough sign patterns to resolve the look's threshold (about ten beyond it).
    let flips = (10.0 / decision_alpha).ceil().clamp(
        f64::from(policy.bootstrap_resamples),
        f64::from(crate::config::MAX_BOOTSTRAP_RESAMPLES),
    ) as u32;
    let shifted: Vec<f64> = diffs.iter().map(|d| d - policy.min_lift).collect();
    let (decision_p, _) =
        permutation_p_above(&shifted, flips, policy.seed ^ 0xa11c, decision_alpha);
    let (p_value, p_exact) =
        permutation_p(&diffs, policy.bootstrap_resamples, policy.seed ^ 0x5eed);
    Stats {
        n: diffs.len(),
        base: mean(base),
        candidate: mean(candidate),
        lift: mean(&diffs),
        ci,
        confidence: policy.confidence,
        p_value,
        p_exact,
        wins: diffs.iter().filter(|d| **d > 0.0).count(),
        ties: diffs.iter().filter(|d| **d == 0.0).count(),
        losses: diffs.iter().filter(|d| **d < 0.0).count(),
        detectable_lift: detectable_lift(sample_sd(&diffs), diffs.len(), decision_confidence, 0.8),
        look: look.max(1),
        decision_confidence,
        decision_ci: percentile_interval(&means, decision_confidence),
        decision_p,
        decision_alpha,
        paired_sd: sample_sd(&diffs),
        task_samples: 1,
        sampling_sd: None,
    }
}

/// What an A/B measured about its paired differences: enough to say what
/// another A/B of the same packs' kind would detect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Spread {
    /// The standard deviation of the paired differences.
    pub paired_sd: f64,
    /// Task samples per example it averaged.
    pub task_samples: u32,
    /// The sampling part of one sample's paired difference, when measured.
    pub sampling_sd: Option<f64>,
}

impl Spread {
    /// The lift an A/B of `n` examples with `k` task samples per example
    /// would detect (80% power, at `confidence`): the spread not owed to
    /// sampling stays, the part owed to sampling shrinks as 1/k. Unless the
    /// sampling part was measured, all of the spread is taken to stay (more
    /// samples then show no gain: the cautious reading).
    pub fn detectable_lift(&self, n: usize, k: u32, confidence: f64) -> f64 {
        let total = self.paired_sd.powi(2);
        let per_sample = self.sampling_sd.map_or(0.0, |w| w * w);
        let stays = (total - per_sample / f64::from(self.task_samples.max(1))).max(0.0);
        let var = stays + per_sample / f64::from(k.max(1));
        detectable_lift(var.sqrt(), n, confidence, 0.8)
    }
}

impl Stats {
    /// The spread this A/B measured.
    pub fn spread(&self) -> Spread {
        Spread {
            paired_sd: self.paired_sd,
            task_samples: self.task_samples,
            sampling_sd: self.sampling_sd,
        }
    }
}

/// The sampling part of one sample's paired difference, from examples
/// scored with two or more samples in both arms: the mean over examples of
/// the two arms' between-sample variances, as a standard deviation.
fn sampling_sd(
    pairs: &[(&crate::metric::ExampleScore, &crate::metric::ExampleScore)],
) -> Option<f64> {
    let vars: Vec<f64> = pairs
        .iter()
        .filter(|(b, c)| b.samples.len() >= 2 && c.samples.len() >= 2)
        .map(|(b, c)| sample_sd(&b.samples).powi(2) + sample_sd(&c.samples).powi(2))
        .collect();
    (!vars.is_empty()).then(|| mean(&vars).sqrt())
}

/// A confidence level as a percentage, with the digits that show its
/// distance from 100 to three figures: 95, 96.96, 99.239.
pub fn percent(confidence: f64) -> String {
    let miss = ((1.0 - confidence) * 100.0).max(1e-9);
    let decimals = (2 - miss.log10().floor() as i32).clamp(0, 9) as usize;
    let s = format!("{:.*}", decimals, confidence * 100.0);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The decision the policy makes on these statistics, with its reasons.
/// It reads the look's interval ([`Stats::decision_ci`]), not the nominal one.
pub fn decide(s: &Stats, policy: &AbConfig) -> (Decision, Vec<String>) {
    if s.n < policy.min_heldout {
        return (
            Decision::Skip,
            vec![format!(
                "{} held-out examples, fewer than ab.min_heldout = {}: too few to prove a lift either way",
                s.n, policy.min_heldout
            )],
        );
    }
    let interval = format!(
        "the {}% interval [{:+.2}, {:+.2}] ({})",
        percent(s.decision_confidence),
        s.decision_ci.0,
        s.decision_ci.1,
        look_words(s.look, policy.confidence)
    );
    let clears = s.decision_ci.0 > policy.min_lift;
    if clears && s.decision_p > s.decision_alpha {
        return (
            if s.lift > policy.min_lift && policy.draft_when_inconclusive {
                Decision::Draft
            } else {
                Decision::Skip
            },
            vec![format!(
                "{interval} lies above the minimum lift {:+.2}, but the one-sided sign-flip p = {} is above this look's {}: not proven",
                policy.min_lift,
                p_text(s.decision_p),
                p_text(s.decision_alpha)
            )],
        );
    }
    if clears {
        return (
            Decision::Open,
            vec![format!(
                "{interval} lies above the minimum lift {:+.2}",
                policy.min_lift
            )],
        );
    }
    if s.lift > policy.min_lift && policy.draft_when_inconclusive {
        return (
            Decision::Draft,
            vec![format!(
                "the mean lift {:+.2} is above {:+.2}, but {interval} is not: promising, not proven",
                s.lift, policy.min_lift
            )],
        );
    }
    (
        Decision::Skip,
        vec![format!(
            "{interval} does not lie above the minimum lift {:+.2}; this A/B could detect about {:+.1} (80% power), and measured {:+.1}",
            policy.min_lift, s.detectable_lift, s.lift
        )],
    )
}

/// A p-value or threshold to two figures: 0.015, 0.00038.
fn p_text(p: f64) -> String {
    let decimals = (1 - p.max(1e-12).log10().floor() as i32).clamp(2, 12) as usize;
    format!("{p:.decimals$}")
}

/// Which look this is and why its interval is wider than the configured one.
pub fn look_words(look: u32, confidence: f64) -> String {
    let level = percent(1.0 - confidence);
    match look {
        0 | 1 => format!(
            "look 1 at today's pack: this look spends {:.0}% of the {level}% error rate, later looks the rest",
            look_share(1) * 100.0
        ),
        k => format!(
            "look {k} at today's pack: the looks since it was merged share one {level}% error rate"
        ),
    }
}

/// Per-dimension means of both packs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DimensionDelta {
    /// Base mean, 0..100.
    pub base: f64,
    /// Candidate mean, 0..100.
    pub candidate: f64,
    /// candidate − base.
    pub delta: f64,
}

/// An example the candidate did worse on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    /// The trace id.
    pub id: String,
    /// Base score.
    pub base: f64,
    /// Candidate score.
    pub candidate: f64,
    /// The candidate's judge rationales.
    pub rationales: IndexMap<String, String>,
}

/// The whole verdict of an A/B run.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The statistics.
    #[serde(flatten)]
    pub stats: Stats,
    /// The decision.
    pub decision: Decision,
    /// Why.
    pub reasons: Vec<String>,
    /// Per dimension.
    pub dimensions: IndexMap<String, DimensionDelta>,
    /// The worst regressions, worst first.
    pub worst: Vec<Regression>,
    /// Each guarded dimension's paired change, and whether it held.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<GuardCheck>,
}

/// One `ab.guards` entry, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardCheck {
    /// The dimension.
    pub dimension: String,
    /// The largest allowed drop, in points.
    pub max_drop: f64,
    /// Mean change candidate − base, in points.
    pub delta: f64,
    /// Its bootstrap interval.
    pub ci: (f64, f64),
    /// `held`, `breached` (mean drop too large) or `breached_surely` (the
    /// whole interval beyond the allowed drop).
    pub outcome: &'static str,
}

/// The guards on paired per-dimension changes: a mean drop beyond the
/// allowed one makes `open` a `draft`; an interval wholly beyond it makes any
/// decision a `skip`. Each breach adds its reason.
fn apply_guards(
    pairs: &[(&crate::metric::ExampleScore, &crate::metric::ExampleScore)],
    policy: &AbConfig,
    decision: &mut Decision,
    reasons: &mut Vec<String>,
) -> Vec<GuardCheck> {
    let pct = (policy.confidence * 100.0).round();
    let mut out = Vec::new();
    for (name, max_drop) in &policy.guards {
        let diffs: Vec<f64> = pairs
            .iter()
            .filter_map(|(b, c)| Some((c.dimensions.get(name)? - b.dimensions.get(name)?) * 100.0))
            .collect();
        let delta = mean(&diffs);
        let ci = bootstrap_ci(
            &diffs,
            policy.bootstrap_resamples,
            policy.confidence,
            policy.seed ^ 0x6a4d,
        );
        let outcome = if diffs.is_empty() || delta >= -max_drop {
            "held"
        } else if ci.1 < -max_drop {
            *decision = Decision::Skip;
            "breached_surely"
        } else {
            if *decision == Decision::Open {
                *decision = Decision::Draft;
            }
            "breached"
        };
        if outcome != "held" {
            reasons.push(format!(
                "guard `{name}`: it fell {:.1} points ({pct}% interval [{:+.1}, {:+.1}]), more than the {max_drop:.1} allowed{}",
                -delta,
                ci.0,
                ci.1,
                if outcome == "breached_surely" { ": skip" } else { ": at most a draft" }
            ));
        }
        out.push(GuardCheck {
            dimension: name.clone(),
            max_drop: *max_drop,
            delta,
            ci,
            outcome,
        });
    }
    out
}

/// Pairs two evaluations on their common examples and decides, as look
/// `look` at today's pack.
pub fn verdict(base: &EvalReport, candidate: &EvalReport, policy: &AbConfig, look: u32) -> Verdict {
    let by_id: IndexMap<&str, &crate::metric::ExampleScore> = candidate
        .examples
        .iter()
        .map(|e| (e.id.as_str(), e))
        .collect();
    let pairs: Vec<(&crate::metric::ExampleScore, &crate::metric::ExampleScore)> = base
        .examples
        .iter()
        .filter_map(|b| Some((b, *by_id.get(b.id.as_str())?)))
        .collect();
    let b: Vec<f64> = pairs.iter().map(|(b, _)| b.score).collect();
    let c: Vec<f64> = pairs.iter().map(|(_, c)| c.score).collect();
    let mut stats = paired_at(&b, &c, policy, look);
    stats.task_samples = policy.task_samples.max(1);
    stats.sampling_sd = sampling_sd(&pairs);
    let (mut decision, mut reasons) = decide(&stats, policy);
    let guards = apply_guards(&pairs, policy, &mut decision, &mut reasons);
    let mut dimensions = IndexMap::new();
    for name in base.dimensions.keys() {
        let m = |side: usize| {
            let vals: Vec<f64> = pairs
                .iter()
                .map(|p| if side == 0 { p.0 } else { p.1 })
                .filter_map(|e| e.dimensions.get(name).copied())
                .collect();
            mean(&vals) * 100.0
        };
        let (bm, cm) = (m(0), m(1));
        dimensions.insert(
            name.clone(),
            DimensionDelta {
                base: bm,
                candidate: cm,
                delta: cm - bm,
            },
        );
    }
    let mut worst: Vec<Regression> = pairs
        .iter()
        .filter(|(b, c)| c.score < b.score)
        .map(|(b, c)| Regression {
            id: b.id.clone(),
            base: b.score,
            candidate: c.score,
            rationales: c.rationales.clone(),
        })
        .collect();
    worst.sort_by(|x, y| {
        (x.candidate - x.base)
            .total_cmp(&(y.candidate - y.base))
            .then_with(|| x.id.cmp(&y.id))
    });
    worst.truncate(3);
    Verdict {
        stats,
        decision,
        reasons,
        dimensions,
        worst,
        guards,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_quantile_matches_reference_values() {
        for (p, z) in [
            (0.975, 1.959_963_985),
            (0.8, 0.841_621_234),
            (0.5, 0.0),
            (0.001, -3.090_232_306),
            (0.999_9, 3.719_016_485),
        ] {
            assert!(
                (normal_quantile(p) - z).abs() < 1e-6,
                "{p}: {}",
                normal_quantile(p)
            );
        }
    }

    #[test]
    fn the_looks_share_one_error_rate() {
        // 6/(π²k²) sums to 1: the first thousand looks spend almost all of it, never more.
        let spent: f64 = (1..=1000).map(look_share).sum();
        assert!(spent < 1.0 && spent > 0.999, "{spent}");
        assert!((look_confidence(0.95, 1) - 0.969_604).abs() < 1e-6);
        assert!((look_confidence(0.95, 2) - 0.992_401).abs() < 1e-6);
        assert_eq!(percent(0.95), "95");
        assert_eq!(percent(look_confidence(0.95, 1)), "96.96");
        assert_eq!(percent(look_confidence(0.95, 2)), "99.24");
        assert_eq!(percent(look_confidence(0.95, 10)), "99.9696");
        assert_eq!(percent(0.99), "99");
    }

    #[test]
    fn a_later_look_needs_a_wider_interval() {
        // A lift whose 95% interval clears zero but not by much.
        let base: Vec<f64> = (0..60).map(|i| 50.0 + f64::from(i % 7)).collect();
        let cand: Vec<f64> = (0..60)
            .map(|i| 50.0 + f64::from(i % 7) + if i % 3 == 0 { -9.0 } else { 9.0 })
            .collect();
        let policy = AbConfig::default();
        let first = paired_at(&base, &cand, &policy, 1);
        let tenth = paired_at(&base, &cand, &policy, 10);
        assert_eq!(first.ci, tenth.ci, "the reported 95% interval is the same");
        assert!(tenth.decision_ci.0 < first.decision_ci.0);
        assert!(tenth.decision_ci.1 > first.decision_ci.1);
        assert!(tenth.detectable_lift > first.detectable_lift);
        assert_eq!(decide(&first, &policy).0, Decision::Open, "{first:?}");
        let (d, why) = decide(&tenth, &policy);
        assert_eq!(d, Decision::Skip, "{tenth:?}");
        assert!(why[0].contains("the 99.9696% interval"), "{why:?}");
        assert!(why[0].contains("look 10 at today's pack"), "{why:?}");
    }

    #[test]
    fn the_detectable_lift_shrinks_with_the_square_root_of_n() {
        // (1.959964 + 0.841621) × 10 / √100.
        assert!((detectable_lift(10.0, 100, 0.95, 0.8) - 2.801_585).abs() < 1e-5);
        let four_times = detectable_lift(10.0, 400, 0.95, 0.8);
        assert!((four_times - 2.801_585 / 2.0).abs() < 1e-5);
        assert!(detectable_lift(10.0, 1, 0.95, 0.8).is_infinite());
    }

    #[test]
    fn a_skip_says_what_the_ab_could_have_detected() {
        let policy = AbConfig {
            min_heldout: 4,
            ..AbConfig::default()
        };
        let base = [50.0, 60.0, 55.0, 65.0, 52.0, 58.0, 61.0, 49.0];
        let cand = [51.0, 58.0, 57.0, 64.0, 54.0, 57.0, 62.0, 50.0];
        let s = paired(&base, &cand, &policy);
        let (d, reasons) = decide(&s, &policy);
        assert_eq!(d, Decision::Skip);
        assert!(
            reasons[0].contains(&format!(
                "could detect about {:+.1} (80% power), and measured {:+.1}",
                s.detectable_lift, s.lift
            )),
            "{reasons:?}"
        );
        assert!(s.detectable_lift > s.lift.abs());
    }

    #[test]
    fn identical_packs_lift_zero_and_skip() {
        let v = vec![50.0, 60.0, 70.0, 80.0];
        let policy = AbConfig {
            min_heldout: 2,
            ..Default::default()
        };
        let s = paired(&v, &v, &policy);
        assert_eq!((s.lift, s.ci, s.p_value, s.ties), (0.0, (0.0, 0.0), 1.0, 4));
        assert_eq!(decide(&s, &policy).0, Decision::Skip);
    }

    #[test]
    fn the_policy_opens_drafts_and_skips_as_configured() {
        let base: Vec<f64> = (0..40).map(|i| 50.0 + (i % 7) as f64).collect();
        let better: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(i, b)| b + 3.0 + (i % 3) as f64)
            .collect();
        let policy = AbConfig::default();
        let s = paired(&base, &better, &policy);
        assert!(s.ci.0 > 0.0 && s.p_value < 0.01, "{s:?}");
        assert_eq!(decide(&s, &policy).0, Decision::Open);
        // A noisy, slightly positive lift: draft only when the policy allows it.
        let noisy: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(i, b)| b + if i % 2 == 0 { 9.0 } else { -8.0 })
            .collect();
        let s = paired(&base, &noisy, &policy);
        assert!(s.lift > 0.0 && s.ci.0 < 0.0, "{s:?}");
        assert_eq!(decide(&s, &policy).0, Decision::Skip);
        let drafty = AbConfig {
            draft_when_inconclusive: true,
            ..Default::default()
        };
        assert_eq!(decide(&s, &drafty).0, Decision::Draft);
        // Too few examples is a skip, whatever the lift.
        let s = paired(&base[..10], &better[..10], &policy);
        let (d, why) = decide(&s, &policy);
        assert_eq!(d, Decision::Skip);
        assert!(
            why[0].starts_with("10 held-out examples, fewer than ab.min_heldout = 30"),
            "{why:?}"
        );
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert!((quantile(&v, 0.025) - 1.075).abs() < 1e-12);
        assert!((quantile(&v, 0.5) - 2.5).abs() < 1e-12);
    }

    fn scored(scores: &[(f64, f64)]) -> EvalReport {
        let examples: Vec<crate::metric::ExampleScore> = scores
            .iter()
            .enumerate()
            .map(|(i, (score, grounded))| crate::metric::ExampleScore {
                id: format!("t{i}"),
                score: *score,
                dimensions: [("grounded".to_string(), *grounded)].into_iter().collect(),
                rationales: IndexMap::new(),
                failed: None,
                prediction: None,
                samples: Vec::new(),
            })
            .collect();
        EvalReport {
            n: examples.len(),
            examples,
            ..EvalReport::default()
        }
    }

    #[test]
    fn a_guarded_dimension_that_falls_holds_back_a_rising_mean() {
        // The candidate wins the mean by 10 points on every example while its
        // `grounded` dimension falls 30 points on every one.
        let n = 40;
        let base = scored(&vec![(50.0, 0.9); n]);
        let cand = scored(&vec![(60.0, 0.6); n]);
        let mut policy = AbConfig::default();
        let open = verdict(&base, &cand, &policy, 1);
        assert_eq!(open.decision, Decision::Open, "no guard: the mean decides");
        policy.guards.insert("grounded".into(), 40.0);
        let held = verdict(&base, &cand, &policy, 1);
        assert_eq!(
            held.decision,
            Decision::Open,
            "a 30-point fall within 40 allowed"
        );
        assert_eq!(held.guards[0].outcome, "held");
        policy.guards.insert("grounded".into(), 5.0);
        let v = verdict(&base, &cand, &policy, 1);
        assert_eq!(v.decision, Decision::Skip, "{:?}", v.reasons);
        assert_eq!(v.guards[0].outcome, "breached_surely");
        assert!((v.guards[0].delta + 30.0).abs() < 1e-9);
        assert!(
            v.reasons
                .iter()
                .any(|r| r.starts_with("guard `grounded`: it fell 30.0 points")),
            "{:?}",
            v.reasons
        );
    }

    #[test]
    fn an_uncertain_breach_makes_an_open_decision_a_draft() {
        // `grounded` falls 6 points on average, but noisily: the interval
        // reaches back above the 5 allowed.
        let n = 40;
        let base = scored(&vec![(50.0, 0.5); n]);
        let cand_scores: Vec<(f64, f64)> = (0..n)
            .map(|i| (60.0, if i % 2 == 0 { 0.5 - 0.32 } else { 0.5 + 0.20 }))
            .collect();
        let cand = scored(&cand_scores);
        let mut policy = AbConfig::default();
        policy.guards.insert("grounded".into(), 5.0);
        let v = verdict(&base, &cand, &policy, 1);
        assert_eq!(v.guards[0].outcome, "breached", "{:?}", v.guards);
        assert_eq!(v.decision, Decision::Draft, "{:?}", v.reasons);
    }
}
