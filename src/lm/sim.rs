//! `sim`: a deterministic offline simulator of the three LM roles.
//!
//! It exists so that the quickstart and the tests run without a network, and
//! so that an optimizer has something real to find *and* a way to fail:
//!
//! - As a **task** model it answers in the adapter's format, and how good the
//!   answer is depends on what the instructions and demos say: an explicit
//!   anti-fabrication clause, per-move definitions, a numbered procedure,
//!   persona anchoring and a few demos each raise a latent quality; very long
//!   instructions lower it. Seeded noise per example keeps scores realistic.
//! - As a **judge** it reads the judge prompt (evidence, prior turns, the
//!   utterance, the move tag) and grades with rules that track that latent
//!   quality: invented numbers, unverified claims stated as fact, fake
//!   consensus, vague contributions and mis-tagged moves all score lower. It
//!   answers `{"score": …, "rationale": …}`.
//! - As a **proposer** it rewrites the instruction found between
//!   `<current_instruction>` tags, adding and dropping those elements at
//!   random (seeded), so a rewrite can be better or worse. It answers between
//!   `<instruction>` tags. Asked for a summary, it summarises field names.
//!
//! Everything it returns is a function of the request and the sample index.
//! Results produced with it are labelled `sim` wherever they are shown.

use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::chat::ChatRole;
use crate::lm::http::estimate_tokens;
use crate::lm::{CallError, Completion, Lm, LmRequest, Role};

/// The simulator, playing one role.
pub struct Sim {
    role: Role,
    model: String,
}

impl Sim {
    /// A simulator for `role`. A model named `sim-task`, `sim-judge` or
    /// `sim-proposer` plays that role whatever the configured one (the local
    /// test server routes by model name).
    pub fn new(role: Role, model: &str) -> Sim {
        let role = match model {
            "sim-task" => Role::Task,
            "sim-judge" => Role::Judge,
            "sim-proposer" => Role::Proposer,
            _ => role,
        };
        Sim {
            role,
            model: model.to_string(),
        }
    }

    /// Answers a request (what [`Lm::complete`] returns, without the async).
    pub fn answer(&self, req: &LmRequest) -> String {
        match self.role {
            Role::Task => task(req),
            Role::Judge => judge(req),
            Role::Proposer => propose(req),
        }
    }
}

#[async_trait::async_trait]
impl Lm for Sim {
    fn label(&self) -> String {
        format!("sim:{}", self.model)
    }

    async fn complete(&self, req: &LmRequest) -> Result<Completion, CallError> {
        let text = self.answer(req);
        Ok(Completion {
            input_tokens: estimate_tokens(&req.flatten()),
            output_tokens: estimate_tokens(&text),
            text,
        })
    }
}

/// A deterministic stream of uniform numbers for one request.
struct Dice(u64);

impl Dice {
    fn new(parts: &[&str]) -> Dice {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p.as_bytes());
            h.update([0]);
        }
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        Dice(u64::from_le_bytes(b) | 1)
    }
    fn next(&mut self) -> f64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[((self.next() * items.len() as f64) as usize).min(items.len() - 1)]
    }
}

fn text_of(req: &LmRequest, role: ChatRole) -> String {
    req.messages
        .iter()
        .filter(|m| m.role == role)
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

// ---------------------------------------------------------------- task ----

/// What the instructions contain, as the simulator scores it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Features {
    /// Forbids inventing facts / requires verified evidence.
    pub anti_fabrication: bool,
    /// Defines most of the output enum's values.
    pub move_definitions: bool,
    /// Gives a numbered procedure or output spec.
    pub numbered_spec: bool,
    /// Anchors the answer in the persona.
    pub persona_anchoring: bool,
    /// Few-shot demos in the system message.
    pub demos: usize,
    /// Length of the instructions in characters.
    pub length: usize,
}

impl Features {
    /// Reads the features of an adapter system message.
    pub fn of_system(system: &str) -> Features {
        let instructions = section(system, "# Instructions", "# Answer format").unwrap_or(system);
        let enum_values = enum_values_in(system);
        let mut f = Features::of_instructions(instructions, &enum_values);
        f.demos = system.matches("\n## Example ").count();
        f
    }

    /// Reads the features of an instruction text; `enum_values` are the
    /// output enum's values the instruction may define.
    pub fn of_instructions(text: &str, enum_values: &[String]) -> Features {
        let lower = text.to_lowercase();
        let anti_fabrication = [
            "do not invent",
            "don't invent",
            "never invent",
            "never state",
            "only state",
            "only cite",
            "not in the evidence",
            "not in `evidence`",
            "fabricat",
            "made-up",
        ]
        .iter()
        .any(|k| lower.contains(k));
        let defined = enum_values
            .iter()
            .filter(|v| {
                let v = v.to_lowercase();
                [
                    format!("{v}:"),
                    format!("{v} —"),
                    format!("{v} -"),
                    format!("**{v}**"),
                    format!("{v} ("),
                    format!("`{v}`:"),
                ]
                .iter()
                .any(|p| lower.contains(p.as_str()))
            })
            .count();
        let move_definitions = !enum_values.is_empty() && defined * 3 >= enum_values.len() * 2;
        let numbered = (1..=3).all(|i| {
            lower
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{i}.")))
        });
        let persona_anchoring = lower.contains("persona_brief")
            || (lower.contains("persona")
                && (lower.contains("voice") || lower.contains("expertise")));
        Features {
            anti_fabrication,
            move_definitions,
            numbered_spec: numbered,
            persona_anchoring,
            demos: 0,
            length: text.len(),
        }
    }

    /// The latent answer quality in 0..1 these features give.
    pub fn quality(&self) -> f64 {
        let mut q = 0.30;
        if self.anti_fabrication {
            q += 0.20;
        }
        if self.move_definitions {
            q += 0.15;
        }
        if self.numbered_spec {
            q += 0.10;
        }
        if self.persona_anchoring {
            q += 0.10;
        }
        q += 0.025 * self.demos.min(4) as f64;
        q -= 0.03 * self.demos.saturating_sub(6) as f64;
        q -= (self.length.saturating_sub(3000) as f64 / 10_000.0).min(0.3);
        q.clamp(0.05, 0.95)
    }
}

fn section<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let a = text.find(start)? + start.len();
    let b = text[a..].find(end).map_or(text.len(), |i| a + i);
    Some(&text[a..b])
}

/// Enum values the adapter listed ("write exactly one of: a, b, c").
fn enum_values_in(system: &str) -> Vec<String> {
    let Some(i) = system.find("exactly one of: ") else {
        return Vec::new();
    };
    let rest = &system[i + "exactly one of: ".len()..];
    let end = rest.find([')', '\n']).unwrap_or(rest.len());
    rest[..end]
        .split(", ")
        .map(|s| s.trim().trim_end_matches('.').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `=== field ===` sections of a message, in order.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("===") && t.ends_with("===") && t.len() > 6 {
            let name = t.trim_matches('=').trim().to_string();
            out.push((name, String::new()));
        } else if let Some((_, v)) = out.last_mut() {
            if !v.is_empty() {
                v.push('\n');
            }
            v.push_str(line);
        }
    }
    for (_, v) in &mut out {
        *v = v.trim().to_string();
    }
    out
}

/// The output fields the answer format asks for, with enum values.
fn output_spec(system: &str) -> Vec<(String, Vec<String>)> {
    let Some(fmt) = section(system, "# Answer format", "# Examples") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut f = fields(fmt);
    if f.is_empty() {
        // The json adapter shows the answer as one object of hints.
        f = fmt
            .lines()
            .find(|l| l.trim_start().starts_with('{'))
            .and_then(|l| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(l).ok()
            })
            .map(|m| {
                m.into_iter()
                    .map(|(k, v)| (k, v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
    }
    for (name, hint) in f {
        if name == "end" {
            continue;
        }
        let values = hint
            .strip_prefix("<one of: ")
            .and_then(|s| s.strip_suffix('>'))
            .map(|s| s.split(", ").map(str::to_string).collect())
            .unwrap_or_default();
        out.push((name, values));
    }
    out
}

const MOVE_CUES: [(&str, &[&str]); 6] = [
    (
        "reframe",
        &[
            "the question isn't",
            "sequencing problem",
            "what if the decision is only",
        ],
    ),
    (
        "steelman",
        &["strongest version", "to be fair", "argue", "case better"],
    ),
    ("probe", &["?"]),
    (
        "dissent-on-evidence",
        &[
            "i disagree",
            "cuts against",
            "doesn't survive",
            "assumes the opposite",
        ],
    ),
    (
        "synthesize",
        &["pulling this together", "proposal:", "where we are"],
    ),
    (
        "verify",
        &[
            "checking",
            "reran",
            "matches the source",
            "does say",
            "before we sign",
        ],
    ),
];

struct Evidence {
    id: String,
    claim: String,
    verified: bool,
}

fn parse_evidence(v: &str) -> Vec<Evidence> {
    serde_json::from_str::<Vec<Value>>(v)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            Some(Evidence {
                id: e.get("id")?.as_str()?.to_string(),
                claim: e.get("claim")?.as_str()?.to_string(),
                verified: e.get("verified").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect()
}

fn lc_first(s: &str) -> String {
    let first = s.split_whitespace().next().unwrap_or("");
    if first.chars().all(|c| !c.is_lowercase()) || first.chars().any(|c| c.is_ascii_digit()) {
        return s.to_string();
    }
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn task(req: &LmRequest) -> String {
    let system = text_of(req, ChatRole::System);
    let user = text_of(req, ChatRole::User);
    let features = Features::of_system(&system);
    let mut dice = Dice::new(&[&system, &user, &req.sample.to_string(), "task"]);
    let q = (features.quality() + (dice.next() - 0.5) * 0.3).clamp(0.0, 1.0);
    let inputs: HashMap<String, String> = fields(&user).into_iter().collect();
    let spec = output_spec(&system);
    let mut answer = String::new();
    if spec.is_empty() {
        // Not an adapter prompt: answer in plain text.
        return format!("(sim) {}", user.lines().next().unwrap_or("ok"));
    }
    let as_json = system.contains("Reply with one JSON object");
    let mut object = serde_json::Map::new();
    let utterance_field = spec
        .iter()
        .find(|(_, v)| v.is_empty())
        .map(|(n, _)| n.clone());
    let (utterance, chosen_move) = speak(&inputs, q, &features, &mut dice);
    for (name, values) in &spec {
        let value = if !values.is_empty() {
            match &chosen_move {
                Some(m) if values.contains(m) => m.clone(),
                _ => dice.pick(values).clone(),
            }
        } else if Some(name) == utterance_field.as_ref() {
            utterance.clone()
        } else {
            format!(
                "(sim) {name} for {}",
                inputs
                    .keys()
                    .next()
                    .map(String::as_str)
                    .unwrap_or("the request")
            )
        };
        // A weak prompt sometimes gets a broken answer: the parser has to cope.
        if dice.next() < 0.04 * (1.0 - q) {
            continue;
        }
        if as_json {
            object.insert(name.clone(), serde_json::Value::String(value));
        } else {
            answer.push_str(&format!("=== {name} ===\n{value}\n\n"));
        }
    }
    if as_json {
        return serde_json::Value::Object(object).to_string();
    }
    answer.push_str("=== end ===");
    answer
}

/// The utterance and move of a room persona, good or bad according to `q`.
fn speak(
    inputs: &HashMap<String, String>,
    q: f64,
    f: &Features,
    dice: &mut Dice,
) -> (String, Option<String>) {
    let persona = inputs
        .get("persona")
        .cloned()
        .unwrap_or_else(|| "speaker".into());
    let evidence = inputs
        .get("evidence")
        .map(|e| parse_evidence(e))
        .unwrap_or_default();
    let room: Value = inputs
        .get("room_state")
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let mode = room
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("explore")
        .to_string();
    let phase = room
        .get("phase")
        .and_then(Value::as_str)
        .unwrap_or("middle")
        .to_string();
    let deadline = room
        .get("decision_deadline")
        .and_then(Value::as_str)
        .unwrap_or("Friday")
        .to_string();
    let recent: Value = inputs
        .get("recent_moves")
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let last_moves: Vec<String> = recent
        .get(&persona)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let questions: Vec<String> = inputs
        .get("open_questions")
        .and_then(|q| serde_json::from_str::<Vec<String>>(q).ok())
        .unwrap_or_default();

    // The move the room needs, then whether this answer finds it.
    let needed = if phase == "closing" {
        "synthesize"
    } else if mode == "ship" {
        "verify"
    } else if evidence.iter().any(|e| !e.verified) && persona == "skeptic" {
        "dissent-on-evidence"
    } else if mode == "explore" {
        if dice.next() < 0.5 {
            "reframe"
        } else {
            "probe"
        }
    } else {
        *dice.pick(&["probe", "steelman", "synthesize"])
    };
    let mv = if dice.next() < q {
        if last_moves.last().map(String::as_str) == Some(needed) && f.move_definitions {
            "probe".to_string()
        } else {
            needed.to_string()
        }
    } else if let Some(last) = last_moves.last().filter(|_| dice.next() < 0.6) {
        last.clone()
    } else {
        MOVE_CUES[(dice.next() * 6.0) as usize % 6].0.to_string()
    };

    let verified: Vec<&Evidence> = evidence.iter().filter(|e| e.verified).collect();
    let unverified: Vec<&Evidence> = evidence.iter().filter(|e| !e.verified).collect();
    let honest = dice.next()
        < if f.anti_fabrication {
            0.85 + 0.15 * q
        } else {
            q
        };
    let claim = if evidence.is_empty() {
        String::new()
    } else if honest && !verified.is_empty() {
        let e = dice.pick(&verified);
        format!("{} ({})", lc_first(&e.claim), e.id)
    } else if !unverified.is_empty() && dice.next() < 0.5 {
        lc_first(&dice.pick(&unverified).claim)
    } else {
        let pct = 20 + (dice.next() * 60.0) as u32;
        format!("about {pct}% of users would notice within a week")
    };
    let question = questions
        .first()
        .cloned()
        .unwrap_or_else(|| "what would change our mind?".into());
    let core = match mv.as_str() {
        "reframe" => format!(
            "the question isn't whether to do this, it's what would make us stop; {claim} gives us that line."
        ),
        "steelman" => format!(
            "the strongest version of the other view is that {claim}, so waiting has a cost too."
        ),
        "probe" => format!("{claim}; so {}", lc_first(&question)),
        "dissent-on-evidence" => {
            format!("I disagree with the draft: {claim}, which cuts against it.")
        }
        "synthesize" => {
            format!("where we are: we act on {claim} and keep '{question}' open with an owner.")
        }
        _ => format!(
            "checking the draft against the evidence: {claim}, and that matches the source."
        ),
    };
    let mut text = String::new();
    if f.persona_anchoring || dice.next() < 0.3 {
        let opener = match persona.as_str() {
            "builder" => "Smallest shippable slice:",
            "skeptic" => "Hold on.",
            "historian" => "We've tried this before.",
            "operator" => "From the pager's side,",
            "customer-voice" => "Users keep telling us this:",
            "strategist" => "For this quarter's bets,",
            _ => "",
        };
        if !opener.is_empty() {
            text.push_str(opener);
            text.push(' ');
        }
    }
    text.push_str(&capitalize(&core));
    if dice.next() < q {
        text.push_str(&format!(" Owner: {persona}; decision by {deadline}."));
    }
    if dice.next() < (1.0 - q) * 0.5 {
        text.push_str(" Sounds like we all agree, so let's move on.");
    }
    // A weak prompt also mislabels what it did; definitions of the moves prevent most of it.
    let mislabel = if f.move_definitions { 0.1 } else { 0.45 };
    let tag = if dice.next() < (1.0 - q) * mislabel {
        MOVE_CUES
            .iter()
            .map(|(m, _)| *m)
            .find(|m| *m != mv)
            .unwrap_or("probe")
            .to_string()
    } else {
        mv
    };
    (text, Some(tag))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// --------------------------------------------------------------- judge ----

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let a = text.find(open)? + open.len();
    let b = text[a..].find(close)? + a;
    Some(text[a..b].trim())
}

fn judge(req: &LmRequest) -> String {
    let prompt = req.flatten();
    if prompt.contains("<question name=\"") {
        // Combined mode: grade each question on its own.
        let mut out = serde_json::Map::new();
        let mut rest = prompt.as_str();
        while let Some(i) = rest.find("<question name=\"") {
            let after = &rest[i + "<question name=\"".len()..];
            let Some(q) = after.find('"') else { break };
            let name = after[..q].to_string();
            let body_end = after.find("</question>").unwrap_or(after.len());
            let body = &after[q..body_end];
            let (score, rationale) = grade(body, req.sample);
            out.insert(
                name,
                serde_json::json!({"score": score, "rationale": rationale}),
            );
            rest = &after[body_end..];
        }
        return Value::Object(out).to_string();
    }
    let (score, rationale) = grade(&prompt, req.sample);
    serde_json::json!({"score": score, "rationale": rationale}).to_string()
}

/// One grade of one judge prompt.
fn grade(prompt: &str, sample: u32) -> (f64, String) {
    let prompt = prompt.to_string();
    let lower = prompt.to_lowercase();
    let utterance = between(&prompt, "<<<", ">>>")
        .map(|first| {
            // Judge templates may show an artifact first; the utterance is the last block.
            let last = prompt
                .rfind("<<<")
                .and_then(|i| between(&prompt[i..], "<<<", ">>>"));
            last.unwrap_or(first).to_string()
        })
        .unwrap_or_default();
    let u = utterance.to_lowercase();
    let mut dice = Dice::new(&[&prompt, &sample.to_string(), "judge"]);
    let (score, rationale) = if lower.contains("fake consensus")
        || lower.contains("manufacture agreement")
    {
        if u.contains("we all agree") || u.contains("everyone is aligned") {
            (
                1.0,
                "Declares agreement (\"we all agree\") while questions are still open.".to_string(),
            )
        } else {
            (
                0.0,
                "Claims no agreement the turns do not show.".to_string(),
            )
        }
    } else if lower.contains("verified") && lower.contains("evidence") {
        judge_verified(&prompt, &utterance)
    } else if lower.contains("move tag") || lower.contains("rhetorical") {
        let tag = prompt
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("Move tag given:"))
            .map(|t| t.trim().to_lowercase())
            .unwrap_or_default();
        let fits = MOVE_CUES
            .iter()
            .find(|(m, _)| *m == tag)
            .is_some_and(|(_, cues)| cues.iter().any(|c| u.contains(c)));
        let voiced = [
            "smallest shippable",
            "hold on",
            "tried this before",
            "pager",
            "users keep",
            "quarter's bets",
        ]
        .iter()
        .any(|o| u.contains(o));
        match (fits, voiced) {
            (true, true) => (
                1.0,
                format!("Does what `{tag}` says, fits the mode, and sounds like the persona."),
            ),
            (true, false) => (
                0.6,
                format!("The `{tag}` tag is honest, but any persona could have said this."),
            ),
            _ => (
                0.3,
                format!("The utterance does not do what the `{tag}` tag claims."),
            ),
        }
    } else if lower.contains("artifact") && lower.contains("ship") {
        let concrete = u.contains("owner:") || u.contains("decision by");
        let cites = u.contains("(e");
        match (concrete, cites) {
            (true, _) => (
                1.0,
                "Adds an owner and a date the artifact can take as written.".to_string(),
            ),
            (false, true) => (
                0.6,
                "Useful evidence, but nothing a writer could paste into the artifact.".to_string(),
            ),
            _ => (
                0.3,
                "On topic but does not change what the artifact will say.".to_string(),
            ),
        }
    } else {
        let q = (utterance.len().min(400) as f64 / 400.0) * 0.5 + 0.3;
        (q, "Generic grade: substance and length.".to_string())
    };
    let noisy = (score + (dice.next() - 0.5) * 0.1).clamp(0.0, 1.0);
    ((noisy * 100.0).round() / 100.0, rationale)
}

fn judge_verified(prompt: &str, utterance: &str) -> (f64, String) {
    let evidence_lines: Vec<&str> = prompt
        .lines()
        .filter(|l| l.trim_start().starts_with("- E"))
        .collect();
    let evidence_text = evidence_lines.join("\n").to_lowercase();
    let u = utterance.to_lowercase();
    // A number in the utterance that no evidence contains was made up. Dates
    // (deadlines) and evidence ids are not claims.
    let scrubbed: String = u
        .split_whitespace()
        .filter(|w| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            let is_date = w.len() == 10
                && w.as_bytes().get(4) == Some(&b'-')
                && w.as_bytes().get(7) == Some(&b'-');
            let is_id =
                w.starts_with('e') && w[1..].chars().all(|c| c.is_ascii_digit()) && w.len() > 1;
            !is_date && !is_id
        })
        .collect::<Vec<_>>()
        .join(" ");
    let invented = scrubbed
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .find(|n| !evidence_text.contains(*n));
    if let Some(n) = invented {
        return (
            0.0,
            format!("States a number ({n}) that no evidence on the table contains."),
        );
    }
    for line in &evidence_lines {
        let l = line.to_lowercase();
        if l.contains("not verified") {
            let claim = l
                .split(": ")
                .nth(1)
                .and_then(|c| c.split(" (source").next())
                .unwrap_or("")
                .trim();
            if !claim.is_empty() && u.contains(claim) {
                return (
                    0.4,
                    "Presents an unverified claim as settled fact.".to_string(),
                );
            }
        }
    }
    if u.contains("(e") {
        (
            1.0,
            "Every claim is backed by verified evidence cited by id.".to_string(),
        )
    } else {
        (
            0.9,
            "Makes no factual claim that needs evidence.".to_string(),
        )
    }
}

// ------------------------------------------------------------ proposer ----

const ANTI_FABRICATION: &str = "Only state facts that appear in `evidence`, and cite each by its id (for example E2). Evidence marked as not verified is a claim to check, never a settled fact. Never invent numbers, sources or results.";
const PERSONA: &str = "Speak as the persona in persona_brief: their stance, their expertise and their way of talking, so that no other persona could have said it.";
const NUMBERED: &str = "Before you answer:\n1. Read the goal and what the room still needs before turns_remaining runs out.\n2. Pick the move the room needs now, not the one you made last (see recent_moves).\n3. Write one to four sentences in the persona's voice.\n4. Check every factual claim against the evidence.";
const MOVE_DEFINITIONS: &str = "The moves:\n- reframe: restate the problem so new options appear.\n- steelman: state the strongest form of a view you may not hold.\n- probe: ask a pointed question that tests an assumption.\n- dissent-on-evidence: disagree, citing evidence by id.\n- synthesize: combine positions into one proposal and name what stays open.\n- verify: check a claim or the draft against the evidence.";
const VERBOSE: &str = "Remember that collaboration is a journey and every voice matters. Consider the broader context of the organisation, its history, its culture, its customers and its competitors, and reflect deeply on all of these before you say anything, weighing every possible interpretation of every prior turn, every open question, every piece of evidence and every workspace norm, and then weigh them again.";

fn propose(req: &LmRequest) -> String {
    let prompt = req.flatten();
    let mut dice = Dice::new(&[&prompt, &req.sample.to_string(), "proposer"]);
    let system = text_of(req, ChatRole::System);
    let spec = output_spec(&system);
    if !spec.is_empty() {
        // An adapter prompt (promptc's own proposer, reflector or summarizer packs).
        let inputs: HashMap<String, String> =
            fields(&text_of(req, ChatRole::User)).into_iter().collect();
        let mut answer = String::new();
        for (name, _) in &spec {
            let value = match (name.as_str(), inputs.get("current_instruction")) {
                ("instruction", Some(current)) => rewrite(current, &prompt, &mut dice),
                ("diagnosis", _) => "(sim) The low-scoring answers state facts the evidence does not back, and the instruction never forbids it.".to_string(),
                _ => summarize(&prompt),
            };
            answer.push_str(&format!("=== {name} ===\n{value}\n\n"));
        }
        answer.push_str("=== end ===");
        return answer;
    }
    match between(&prompt, "<current_instruction>", "</current_instruction>") {
        Some(current) => format!(
            "<instruction>\n{}\n</instruction>",
            rewrite(current, &prompt, &mut dice)
        ),
        None => summarize(&prompt),
    }
}

/// A seeded rewrite of `current` that adds and drops the elements the task
/// simulator rewards: better or worse, never the same twice in a row.
fn rewrite(current: &str, prompt: &str, dice: &mut Dice) -> String {
    let has = Features::of_instructions(
        current,
        &[
            "reframe",
            "steelman",
            "probe",
            "dissent-on-evidence",
            "synthesize",
            "verify",
        ]
        .map(String::from),
    );
    let tip = prompt.to_lowercase();
    let mut want_anti = has.anti_fabrication;
    let mut want_defs = has.move_definitions;
    let mut want_numbered = has.numbered_spec;
    let mut want_persona = has.persona_anchoring;
    for want in [
        &mut want_anti,
        &mut want_defs,
        &mut want_numbered,
        &mut want_persona,
    ] {
        *want = if *want {
            dice.next() > 0.15
        } else {
            dice.next() < 0.45
        };
    }
    if tip.contains("keep it simple") && dice.next() < 0.5 {
        want_numbered = false;
    }
    let roll = dice.next();
    if roll < 0.08 {
        // A lazy rewrite: most of what made the instruction work is gone.
        return "Be helpful and concise, and answer in character.".into();
    }
    // Keep the first paragraph of the current instruction as the core.
    let core = current
        .split("\n\n")
        .next()
        .unwrap_or(current)
        .trim()
        .to_string();
    let mut parts = vec![core];
    if want_persona && !has.persona_anchoring {
        parts.push(PERSONA.into());
    }
    if want_anti {
        parts.push(ANTI_FABRICATION.into());
    }
    if want_numbered {
        parts.push(NUMBERED.into());
    }
    if want_defs {
        parts.push(MOVE_DEFINITIONS.into());
    }
    if roll > 0.85 {
        parts.push(VERBOSE.into());
        parts.push(VERBOSE.replace("Remember", "Above all, remember"));
    }
    parts.join("\n\n")
}

fn summarize(prompt: &str) -> String {
    let names: Vec<&str> = prompt
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("=== ")
                .and_then(|r| r.strip_suffix(" ==="))
        })
        .filter(|n| *n != "end")
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if names.is_empty() {
        return "(sim) The examples are short requests with a single answer each.".into();
    }
    format!(
        "(sim) Each example gives {} and expects an answer that builds on the prior context. Answers are short and cite the material they were given.",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Message;

    fn system_with(instructions: &str) -> String {
        format!(
            "Say one thing.\n\n# Outputs\n\n- `rhetorical_move`: The move (write exactly one of: reframe, steelman, probe, dissent-on-evidence, synthesize, verify)\n\n# Instructions\n\n{instructions}\n\n# Answer format\n\n=== utterance ===\n<utterance>\n\n=== rhetorical_move ===\n<one of: reframe, steelman, probe, dissent-on-evidence, synthesize, verify>\n\n=== end ==="
        )
    }

    #[test]
    fn instruction_elements_raise_the_latent_quality() {
        let base = Features::of_system(&system_with("Speak as the persona."));
        let better = Features::of_system(&system_with(&format!(
            "Speak.\n\n{ANTI_FABRICATION}\n\n{MOVE_DEFINITIONS}\n\n{NUMBERED}\n\n{PERSONA}"
        )));
        assert!(
            better.anti_fabrication
                && better.move_definitions
                && better.numbered_spec
                && better.persona_anchoring,
            "{better:?}"
        );
        assert!(!base.anti_fabrication && !base.move_definitions);
        assert!(better.quality() > base.quality() + 0.4);
        let bloated = Features::of_system(&system_with(&format!(
            "{ANTI_FABRICATION}\n{}",
            VERBOSE.repeat(12)
        )));
        assert!(bloated.quality() < Features::of_system(&system_with(ANTI_FABRICATION)).quality());
    }

    #[test]
    fn the_task_answers_in_the_adapter_format_deterministically() {
        let req = LmRequest::new(vec![
            Message { role: ChatRole::System, content: system_with("Speak.") },
            Message { role: ChatRole::User, content: "=== persona ===\nskeptic\n\n=== evidence ===\n[{\"id\":\"E1\",\"claim\":\"Churn fell 3%\",\"source\":\"x\",\"verified\":true}]".into() },
        ]);
        let sim = Sim::new(Role::Task, "sim");
        let a = sim.answer(&req);
        assert_eq!(a, sim.answer(&req));
        assert!(a.ends_with("=== end ==="), "{a}");
        let mut other = req.clone();
        other.sample = 1;
        assert_ne!(a, sim.answer(&other), "another sample is another draw");
    }

    #[test]
    fn the_judge_punishes_invented_numbers_and_fake_consensus() {
        let verified = |utt: &str| {
            let req = LmRequest::new(vec![Message {
                role: ChatRole::User,
                content: format!(
                    "Are the claims backed by VERIFIED evidence?\n- E1: Churn fell 3% (source: x; verified)\n- E2: Users love it (source: y; NOT verified)\nUtterance:\n<<<\n{utt}\n>>>"
                ),
            }]);
            serde_json::from_str::<Value>(&judge(&req)).unwrap()["score"]
                .as_f64()
                .unwrap()
        };
        assert!(verified("Churn fell 3% (E1).") > 0.9);
        assert!(verified("About 45% of users would notice.") < 0.1);
        assert!((verified("Users love it, so ship.") - 0.4).abs() < 0.1);
    }

    #[test]
    fn the_proposer_rewrites_the_current_instruction_and_can_make_it_worse() {
        let mut better = 0;
        let mut worse = 0;
        let current = "Speak as the persona described in persona_brief, in their voice.";
        let base_q = Features::of_instructions(current, &[]).quality();
        for sample in 0..40 {
            let mut req = LmRequest::new(vec![Message {
                role: ChatRole::User,
                content: format!(
                    "Propose a better instruction.\n<current_instruction>\n{current}\n</current_instruction>"
                ),
            }]);
            req.sample = sample;
            let out = propose(&req);
            let text = between(&out, "<instruction>", "</instruction>").unwrap();
            let moves = [
                "reframe",
                "steelman",
                "probe",
                "dissent-on-evidence",
                "synthesize",
                "verify",
            ]
            .map(String::from);
            let q = Features::of_instructions(text, &moves).quality();
            if q > base_q + 0.01 {
                better += 1;
            } else if q < base_q - 0.01 {
                worse += 1;
            }
        }
        assert!(better >= 10 && worse >= 2, "better {better}, worse {worse}");
    }
}
