//! Reports: one model of an A/B result and its pack diff, rendered as
//! markdown (pull requests, job summaries), terminal text and JSON.
//!
//! Everything an LM or a person wrote is untrusted here: the markdown
//! rendering is inert whatever it contains — HTML is escaped, @mentions and
//! #refs cannot notify or link, `::` workflow commands cannot fire, code
//! fences are longer than any backtick run inside them — and the whole body
//! stays under GitHub's 65,536-character limit, saying what it cut.

use std::fmt::Write as _;

use indexmap::IndexMap;
use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use crate::ab::Verdict;
use crate::pack::{Demo, Pack};

/// GitHub's limit on a PR or comment body.
pub const GITHUB_BODY_LIMIT: usize = 65_536;
/// What the report aims to stay under, leaving room for a wrapper.
pub const BODY_BUDGET: usize = 60_000;

/// A pack as the report names it.
#[derive(Debug, Clone, Serialize)]
pub struct PackRef {
    /// Path in the repository.
    pub path: String,
    /// Its declared format.
    pub format: String,
}

/// Where the held-out examples came from.
#[derive(Debug, Clone, Serialize)]
pub struct Heldout {
    /// Threads.
    pub threads: usize,
    /// Earliest turn (RFC 3339 date).
    pub from: Option<String>,
    /// Latest turn.
    pub to: Option<String>,
}

/// The optimizer run behind a candidate, when there was one.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// Optimizer and seed, as a phrase.
    pub optimizer: String,
    /// Trials.
    pub trials: usize,
    /// LM calls by role.
    pub calls: IndexMap<String, u64>,
    /// Cache hits.
    pub cache_hits: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Of the input tokens, those read from a provider's prompt cache.
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Of the calls, those answered through a provider's batch API.
    #[serde(default)]
    pub batched_calls: u64,
    /// Dollars, `None` when unknown.
    pub cost_usd: Option<f64>,
    /// Seconds.
    pub wall_secs: f64,
    /// role → `provider:model`.
    pub lms: IndexMap<String, String>,
    /// Scores of the trials in order, for the chart.
    pub trial_scores: Vec<f64>,
}

/// Demos added to and removed from a pack.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DemoChanges {
    /// `(trace id, first output, shortened)` of each added demo.
    pub added: Vec<(String, String)>,
    /// Same, removed.
    pub removed: Vec<(String, String)>,
}

/// The instruction and demo changes between two packs.
#[derive(Debug, Clone, Serialize)]
pub struct PackDiff {
    /// The base instructions.
    pub old: String,
    /// The candidate instructions.
    pub new: String,
    /// Persona overrides, base and candidate.
    pub persona: IndexMap<String, (String, String)>,
    /// Demos.
    pub demos: DemoChanges,
}

/// One report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The signature.
    pub signature: String,
    /// Produced with the simulator (labelled everywhere).
    pub simulated: bool,
    /// The pack running today.
    pub base: PackRef,
    /// The candidate.
    pub candidate: PackRef,
    /// The A/B verdict.
    pub verdict: Verdict,
    /// The held-out set.
    pub heldout: Heldout,
    /// What changed.
    pub diff: PackDiff,
    /// The run, when an optimizer produced the candidate.
    pub run: Option<RunInfo>,
    /// A command that reproduces the A/B.
    pub reproduce: String,
    /// What a reader should weigh beside the figures (a judge that is also the task model).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cautions: Vec<String>,
    /// What the A/B itself spent (both packs on the held-out set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ab_spend: Option<Spend>,
}

/// The LM spend of one stage of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spend {
    /// Calls that reached a model.
    pub calls: u64,
    /// Of them, answered through a provider's batch API.
    pub batched_calls: u64,
    /// Requests answered from promptc's cache (free).
    pub cache_hits: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Of the input tokens, read from a provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Dollars, `None` when a price is unknown.
    pub cost_usd: Option<f64>,
}

impl Spend {
    /// The spend in the usage `now` that was not yet in `before`.
    pub fn between(before: &crate::lm::budget::Usage, now: &crate::lm::budget::Usage) -> Spend {
        Spend {
            calls: now.calls.saturating_sub(before.calls),
            batched_calls: now.batched_calls.saturating_sub(before.batched_calls),
            cache_hits: now.cache_hits.saturating_sub(before.cache_hits),
            input_tokens: now.input_tokens.saturating_sub(before.input_tokens),
            cached_input_tokens: now
                .cached_input_tokens
                .saturating_sub(before.cached_input_tokens),
            output_tokens: now.output_tokens.saturating_sub(before.output_tokens),
            cost_usd: match (now.cost_usd, before.cost_usd) {
                (Some(a), Some(b)) => Some((a - b).max(0.0)),
                _ => None,
            },
        }
    }

    /// One row of the spend table: calls (batched), hits, tokens (cached), cost.
    fn row(&self, stage: &str) -> String {
        let batched = if self.batched_calls > 0 {
            format!(" ({} batched)", self.batched_calls)
        } else {
            String::new()
        };
        let cached = if self.cached_input_tokens > 0 {
            format!(" ({} cached)", self.cached_input_tokens)
        } else {
            String::new()
        };
        let cost = self
            .cost_usd
            .map(|c| format!("${c:.4}"))
            .unwrap_or_else(|| "unknown".into());
        format!(
            "| {stage} | {}{batched} | {} | {}{cached} in / {} out | {cost} |",
            self.calls, self.cache_hits, self.input_tokens, self.output_tokens
        )
    }
}

pub use crate::markdown::{code, code_cell, disarm_commands, fenced, inline};

mod diff;
pub use diff::{diff_markdown, diff_terminal, line_diff, pack_diff, word_diff_markdown};

fn shorten(s: &str, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s.to_string(), false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s[..end].to_string(), true)
}

// --------------------------------------------------------------- diffs ----

fn signed(x: f64) -> String {
    format!("{x:+.1}")
}

impl Report {
    /// The PR title: the signature, the lift and the evidence it rests on.
    pub fn title(&self) -> String {
        format!(
            "{}: {} on {} fresh turns",
            self.signature,
            signed(self.verdict.stats.lift),
            self.verdict.stats.n
        )
    }

    /// The markdown body, inert and under [`BODY_BUDGET`] characters.
    pub fn markdown(&self) -> String {
        let head = self.head_markdown();
        // The long, LM-written parts share what is left of the budget.
        let mut notes: Vec<String> = Vec::new();
        let diff_md = self.diff_markdown(&mut notes);
        let worst = self.worst_markdown();
        let tail = self.tail_markdown();
        let fixed = head.len() + tail.len() + 200;
        let room = BODY_BUDGET.saturating_sub(fixed);
        let (diff_md, cut_diff) = shorten(&diff_md, room.saturating_sub(worst.len().min(room / 4)));
        if cut_diff {
            notes.push("the diff section".into());
        }
        let room = room.saturating_sub(diff_md.len());
        let (worst, cut_worst) = shorten(&worst, room);
        if cut_worst {
            notes.push("the regressions".into());
        }
        let mut out = head;
        out.push_str(&close_fences(&diff_md));
        out.push_str(&close_fences(&worst));
        out.push_str(&tail);
        if !notes.is_empty() {
            let _ = writeln!(
                out,
                "\n_Truncated to stay under GitHub's size limit: {}. The full report is in report.json._",
                notes.join(", ")
            );
        }
        out
    }

    /// The title, the decision and the score table.
    fn head_markdown(&self) -> String {
        let v = &self.verdict;
        let s = &v.stats;
        let pct = (s.confidence * 100.0).round();
        let mut head = String::new();
        let _ = writeln!(
            head,
            "## promptc · {} {} on {} fresh held-out turns\n",
            code(&self.signature),
            signed(s.lift),
            s.n
        );
        if self.simulated {
            let _ = writeln!(
                head,
                "> [!WARNING]\n> Produced with the offline `sim` LMs: these are simulated scores, not a real model's.\n"
            );
        }
        for c in &self.cautions {
            let _ = writeln!(head, "> [!NOTE]\n> {}\n", inline(c));
        }
        let _ = writeln!(
            head,
            "**Decision: {}** — {}\n",
            v.decision.as_str(),
            inline(&v.reasons.join("; "))
        );
        let _ = writeln!(head, "### Scores on fresh held-out traces\n");
        let _ = writeln!(head, "| | today | candidate | Δ |\n|---|---:|---:|---:|");
        let _ = writeln!(
            head,
            "| **overall** | {:.1} | {:.1} | **{}** ({pct}% CI {} … {}) |",
            s.base,
            s.candidate,
            signed(s.lift),
            signed(s.ci.0),
            signed(s.ci.1)
        );
        for (d, x) in &v.dimensions {
            let _ = writeln!(
                head,
                "| {} | {:.1} | {:.1} | {} |",
                inline(d),
                x.base,
                x.candidate,
                signed(x.delta)
            );
        }
        let range = match (&self.heldout.from, &self.heldout.to) {
            (Some(a), Some(b)) => format!(", {a} … {b}"),
            _ => String::new(),
        };
        let _ = writeln!(
            head,
            "\n{} turns in {} threads{range}{} · wins {} / ties {} / losses {} · p = {:.4} (paired permutation, {})\n",
            s.n,
            self.heldout.threads,
            if s.task_samples > 1 {
                format!(" · each score the mean of {} answers", s.task_samples)
            } else {
                String::new()
            },
            s.wins,
            s.ties,
            s.losses,
            s.p_value,
            if s.p_exact { "exact" } else { "Monte Carlo" }
        );
        // What this A/B could have seen: a lift smaller than this can go unnoticed.
        let _ = writeln!(
            head,
            "This A/B detects a true lift of about {} or more 80% of the time at the {}% level its decision uses; a smaller one can go unseen.\n",
            signed(s.detectable_lift),
            crate::ab::percent(s.decision_confidence)
        );
        head
    }

    /// The instruction, persona and demo changes; what had to be cut goes in `notes`.
    fn diff_markdown(&self, notes: &mut Vec<String>) -> String {
        let mut diff_md = String::from("### Instruction diff\n\n");
        if self.diff.old == self.diff.new {
            diff_md.push_str("The instructions are unchanged.\n\n");
        } else {
            let (body, cut) = shorten(&line_diff(&self.diff.old, &self.diff.new), 20_000);
            diff_md.push_str(&fenced("diff", &body));
            if cut {
                notes.push("the instruction diff".into());
            }
            let (words, cut) = shorten(&word_diff_markdown(&self.diff.old, &self.diff.new), 15_000);
            let _ = writeln!(
                diff_md,
                "\n<details><summary>Word-level changes</summary>\n\n{words}\n\n</details>\n\n"
            );
            if cut {
                notes.push("the word-level changes".into());
            }
        }
        for (persona, (old, new)) in &self.diff.persona {
            let (body, cut) = shorten(&line_diff(old, new), 5_000);
            let _ = writeln!(diff_md, "Persona {}:\n", code(persona));
            diff_md.push_str(&fenced("diff", &body));
            if cut {
                notes.push(format!("the {persona} diff"));
            }
        }
        if !self.diff.demos.added.is_empty() || !self.diff.demos.removed.is_empty() {
            diff_md.push_str("\n### Demos\n\n");
            for (label, list) in [
                ("added", &self.diff.demos.added),
                ("removed", &self.diff.demos.removed),
            ] {
                for (id, preview) in list {
                    let _ = writeln!(diff_md, "- {label} {}: {}", code(id), inline(preview));
                }
            }
            diff_md.push('\n');
        }
        diff_md
    }

    /// The examples the candidate did worst on, with the judges' reasons.
    fn worst_markdown(&self) -> String {
        let v = &self.verdict;
        let mut worst = String::new();
        if !v.worst.is_empty() {
            worst.push_str("### Largest regressions\n\n");
            for r in &v.worst {
                let _ = writeln!(
                    worst,
                    "- {} {:.1} → {:.1}",
                    code(&r.id),
                    r.base,
                    r.candidate
                );
                for (d, why) in &r.rationales {
                    let (why, _) = shorten(why, 500);
                    let _ = writeln!(worst, "  - {}: {}", inline(d), inline(&why));
                }
            }
            worst.push('\n');
        }
        worst
    }

    /// The run's figures and how to reproduce the A/B.
    fn tail_markdown(&self) -> String {
        let mut tail = String::new();
        if let Some(run) = &self.run {
            let _ = writeln!(tail, "### Run\n\n| | |\n|---|---|");
            let _ = writeln!(tail, "| optimizer | {} |", inline(&run.optimizer));
            let _ = writeln!(tail, "| trials | {} |", run.trials);
            let calls: Vec<String> = run.calls.iter().map(|(r, n)| format!("{r} {n}")).collect();
            let _ = writeln!(tail, "| LM calls | {} |", calls.join(" · "));
            let _ = writeln!(tail, "| wall time | {:.1} s |", run.wall_secs);
            let lms: Vec<String> = run
                .lms
                .iter()
                .map(|(r, l)| format!("{r} {}", code_cell(l)))
                .collect();
            let _ = writeln!(tail, "| LMs | {} |\n", lms.join(" · "));
            if !run.trial_scores.is_empty() {
                let xs: Vec<String> = (1..=run.trial_scores.len())
                    .map(|i| i.to_string())
                    .collect();
                let ys: Vec<String> = run.trial_scores.iter().map(|y| format!("{y:.1}")).collect();
                let chart = format!(
                    "xychart-beta\n    title \"Trial scores\"\n    x-axis \"trial\" [{}]\n    y-axis \"score\" 0 --> 100\n    line [{}]",
                    xs.join(", "),
                    ys.join(", ")
                );
                tail.push_str(&fenced("mermaid", &chart));
                tail.push('\n');
            }
        }
        let optimizer = self.run.as_ref().map(|run| Spend {
            calls: run.calls.values().sum(),
            batched_calls: run.batched_calls,
            cache_hits: run.cache_hits,
            input_tokens: run.input_tokens,
            cached_input_tokens: run.cached_input_tokens,
            output_tokens: run.output_tokens,
            cost_usd: run.cost_usd,
        });
        if optimizer.is_some() || self.ab_spend.is_some() {
            let _ = writeln!(
                tail,
                "### Spend\n\n| | LM calls | cache hits | tokens | cost |\n|---|---|---|---|---|"
            );
            if let Some(o) = &optimizer {
                let _ = writeln!(tail, "{}", o.row("optimizer"));
            }
            if let Some(a) = &self.ab_spend {
                let _ = writeln!(tail, "{}", a.row("A/B"));
            }
            tail.push('\n');
        }
        let _ = writeln!(tail, "### Reproduce\n");
        tail.push_str(&fenced("sh", &self.reproduce));
        tail
    }

    /// Plain text for a terminal (colour when asked for).
    pub fn terminal(&self, colour: bool) -> String {
        let v = &self.verdict;
        let s = &v.stats;
        let paint = |code: &str, t: &str| diff::paint(colour, code, t);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}{}",
            self.title(),
            if self.simulated {
                "  (sim LMs: simulated scores)"
            } else {
                ""
            }
        );
        let decision = match v.decision {
            crate::ab::Decision::Open => paint("32;1", "open"),
            crate::ab::Decision::Draft => paint("33;1", "draft"),
            crate::ab::Decision::Skip => paint("2", "skip"),
        };
        let _ = writeln!(
            out,
            "  decision: {decision} — {}",
            disarm_commands(&v.reasons.join("; "))
        );
        let _ = writeln!(
            out,
            "  overall   today {:5.1}  candidate {:5.1}  Δ {}  ({:.0}% CI {} … {})  p={:.4}  wins {} ties {} losses {}",
            s.base,
            s.candidate,
            signed(s.lift),
            s.confidence * 100.0,
            signed(s.ci.0),
            signed(s.ci.1),
            s.p_value,
            s.wins,
            s.ties,
            s.losses
        );
        let width = v.dimensions.keys().map(String::len).max().unwrap_or(0);
        for (d, x) in &v.dimensions {
            let delta = signed(x.delta);
            let delta = if x.delta > 0.0 {
                paint("32", &delta)
            } else if x.delta < 0.0 {
                paint("31", &delta)
            } else {
                delta
            };
            let _ = writeln!(
                out,
                "  {d:<width$}  {:5.1} → {:5.1}  {delta}",
                x.base, x.candidate
            );
        }
        out.push_str(&diff_terminal(&self.diff, colour));
        disarm_commands(&out)
    }
}

/// Closes a code fence left open by truncation.
fn close_fences(md: &str) -> String {
    let mut open: Option<String> = None;
    for line in md.lines() {
        let t = line.trim_start();
        let ticks = t.chars().take_while(|c| *c == '`').count();
        if ticks >= 3 {
            match &open {
                Some(f) if t.trim_end() == f => open = None,
                None => open = Some("`".repeat(ticks)),
                _ => {}
            }
        }
    }
    match open {
        Some(f) => format!("{md}\n{f}\n"),
        None => md.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_inert() {
        let t = inline(
            "<script>alert(1)</script> ping @octocat about #12 and `code` *bold*\n::set-output name=x::y",
        );
        assert!(
            !t.contains('<') && !t.contains("@octocat") && !t.contains("#12"),
            "{t}"
        );
        assert!(
            t.contains("&lt;script&gt;")
                && t.contains("@\u{200B}octocat")
                && t.contains("#\u{200B}12"),
            "{t}"
        );
        assert!(t.contains("\\`code\\`") && t.contains("\\*bold\\*"));
        assert!(!t.lines().any(|l| l.starts_with("::")));
        let block = fenced("diff", "a ``` fence ```` inside\n::error::boom");
        assert!(block.starts_with("`````diff\n"), "{block}");
        assert!(block.ends_with("\n`````\n"));
        assert!(block.contains("\u{200B}::error::boom"));
    }

    #[test]
    fn a_truncated_fence_is_closed() {
        assert_eq!(close_fences("```diff\n+a"), "```diff\n+a\n```\n");
        assert_eq!(close_fences("```diff\n+a\n```\n"), "```diff\n+a\n```\n");
    }
}
