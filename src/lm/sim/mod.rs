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
            Role::Task => task::task(req),
            Role::Judge => judge::judge(req),
            Role::Proposer => proposer::propose(req),
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
        let (input, output) = (estimate_tokens(&req.flatten()), estimate_tokens(&text));
        Ok(Completion::new(text, input, output))
    }
}

/// A deterministic stream of uniform numbers for one request.
pub(super) struct Dice(u64);

impl Dice {
    pub(super) fn new(parts: &[&str]) -> Dice {
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
    pub(super) fn next(&mut self) -> f64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[((self.next() * items.len() as f64) as usize).min(items.len() - 1)]
    }
}

pub(super) fn text_of(req: &LmRequest, role: ChatRole) -> String {
    req.messages
        .iter()
        .filter(|m| m.role == role)
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

mod judge;
mod proposer;
mod task;

pub use task::Features;

#[cfg(test)]
mod tests {
    use super::judge::{between, judge};
    use super::proposer::{
        ANTI_FABRICATION, MOVE_DEFINITIONS, NUMBERED, PERSONA, VERBOSE, propose,
    };
    use super::*;
    use crate::chat::Message;
    use serde_json::Value;

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
            let moves = task::moves();
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
