//! The simulated task model: answers in the adapter's format, as well as
//! the instructions and demos let it.

use std::collections::HashMap;

use serde_json::Value;

use super::{Dice, text_of};
use crate::adapter::wire;
use crate::chat::ChatRole;
use crate::lm::LmRequest;

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
        let instructions = wire::instructions(system).unwrap_or(system);
        let enum_values = wire::enum_values(system);
        let mut f = Features::of_instructions(instructions, &enum_values);
        f.demos = system.matches(wire::EXAMPLE).count();
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

/// The moves the simulated task knows (the example's output enum).
pub(super) fn moves() -> Vec<String> {
    MOVE_CUES.iter().map(|(m, _)| m.to_string()).collect()
}

pub(super) const MOVE_CUES: [(&str, &[&str]); 6] = [
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

pub(super) struct Evidence {
    id: String,
    claim: String,
    verified: bool,
}

pub(super) fn parse_evidence(v: &str) -> Vec<Evidence> {
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

pub(super) fn lc_first(s: &str) -> String {
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

pub(super) fn task(req: &LmRequest) -> String {
    let system = text_of(req, ChatRole::System);
    let user = text_of(req, ChatRole::User);
    let features = Features::of_system(&system);
    let mut dice = Dice::new(&[&system, &user, &req.sample.to_string(), "task"]);
    let q = (features.quality() + (dice.next() - 0.5) * 0.3).clamp(0.0, 1.0);
    let inputs: HashMap<String, String> = wire::sections(&user).into_iter().collect();
    let spec = wire::output_spec(&system);
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
            answer.push_str(&format!("{}\n{value}\n\n", wire::header(name)));
        }
    }
    if as_json {
        return serde_json::Value::Object(object).to_string();
    }
    answer.push_str(wire::END);
    answer
}

/// What the task inputs say about the room.
pub(super) struct Room {
    persona: String,
    evidence: Vec<Evidence>,
    mode: String,
    phase: String,
    deadline: String,
    last_moves: Vec<String>,
    questions: Vec<String>,
}

impl Room {
    fn of(inputs: &HashMap<String, String>) -> Room {
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
        Room {
            persona,
            evidence,
            mode,
            phase,
            deadline,
            last_moves,
            questions,
        }
    }
}

/// The move the room needs, then whether this answer finds it (a weak prompt
/// repeats itself or picks at random). Draws from `dice` in a fixed order.
fn choose_move(room: &Room, q: f64, f: &Features, dice: &mut Dice) -> String {
    let Room {
        persona,
        evidence,
        mode,
        phase,
        last_moves,
        ..
    } = room;
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
    if dice.next() < q {
        if last_moves.last().map(String::as_str) == Some(needed) && f.move_definitions {
            "probe".to_string()
        } else {
            needed.to_string()
        }
    } else if let Some(last) = last_moves.last().filter(|_| dice.next() < 0.6) {
        last.clone()
    } else {
        MOVE_CUES[(dice.next() * 6.0) as usize % 6].0.to_string()
    }
}

/// The utterance and move of a room persona, good or bad according to `q`.
pub(super) fn speak(
    inputs: &HashMap<String, String>,
    q: f64,
    f: &Features,
    dice: &mut Dice,
) -> (String, Option<String>) {
    let room = Room::of(inputs);
    let mv = choose_move(&room, q, f, dice);
    let Room {
        persona,
        evidence,
        deadline,
        questions,
        ..
    } = room;

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

pub(super) fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
