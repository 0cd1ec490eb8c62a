//! The simulated proposer: rewrites the current instruction, for better or
//! worse, and summarises datasets.

use std::collections::HashMap;

use super::judge::between;
use super::task::Features;
use super::{Dice, text_of};
use crate::adapter::wire;
use crate::chat::ChatRole;
use crate::lm::LmRequest;

pub(super) const ANTI_FABRICATION: &str = "Only state facts that appear in `evidence`, and cite each by its id (for example E2). Evidence marked as not verified is a claim to check, never a settled fact. Never invent numbers, sources or results.";
pub(super) const PERSONA: &str = "Speak as the persona in persona_brief: their stance, their expertise and their way of talking, so that no other persona could have said it.";
pub(super) const NUMBERED: &str = "Before you answer:\n1. Read the goal and what the room still needs before turns_remaining runs out.\n2. Pick the move the room needs now, not the one you made last (see recent_moves).\n3. Write one to four sentences in the persona's voice.\n4. Check every factual claim against the evidence.";
pub(super) const MOVE_DEFINITIONS: &str = "The moves:\n- reframe: restate the problem so new options appear.\n- steelman: state the strongest form of a view you may not hold.\n- probe: ask a pointed question that tests an assumption.\n- dissent-on-evidence: disagree, citing evidence by id.\n- synthesize: combine positions into one proposal and name what stays open.\n- verify: check a claim or the draft against the evidence.";
pub(super) const VERBOSE: &str = "Remember that collaboration is a journey and every voice matters. Consider the broader context of the organisation, its history, its culture, its customers and its competitors, and reflect deeply on all of these before you say anything, weighing every possible interpretation of every prior turn, every open question, every piece of evidence and every workspace norm, and then weigh them again.";

pub(super) fn propose(req: &LmRequest) -> String {
    let prompt = req.flatten();
    let mut dice = Dice::new(&[&prompt, &req.sample.to_string(), "proposer"]);
    let system = text_of(req, ChatRole::System);
    let spec = wire::output_spec(&system);
    if !spec.is_empty() {
        // An adapter prompt (promptc's own proposer, reflector or summarizer packs).
        let inputs: HashMap<String, String> = wire::sections(&text_of(req, ChatRole::User))
            .into_iter()
            .collect();
        let mut answer = String::new();
        for (name, _) in &spec {
            let value = match (name.as_str(), inputs.get("current_instruction")) {
                ("instruction", Some(current)) => rewrite(current, &prompt, &mut dice),
                ("diagnosis", _) => "(sim) The low-scoring answers state facts the evidence does not back, and the instruction never forbids it.".to_string(),
                _ => summarize(&prompt),
            };
            answer.push_str(&format!("{}\n{value}\n\n", wire::header(name)));
        }
        answer.push_str(wire::END);
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
pub(super) fn rewrite(current: &str, prompt: &str, dice: &mut Dice) -> String {
    let has = Features::of_instructions(current, &super::task::moves());
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

pub(super) fn summarize(prompt: &str) -> String {
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
