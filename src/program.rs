//! The program: the adapter's messages through a model, the answer read back.
//!
//! Rendering and parsing live in [`crate::adapter`] (pure text, shared with
//! packs); this module adds the one step that calls a model, with one re-ask
//! when the answer cannot be read.

use serde_json::{Map, Value};

pub use crate::adapter::{
    Adapter, ParseError, answer_schema, messages, messages_as, parse_completion, render_reminder,
    render_reminder_as, render_system, render_system_as, render_user, render_user_as, render_value,
};
pub use crate::chat::{ChatRole, Message};
use crate::signature::Signature;
use crate::text::truncate_for_message;

/// What running the program on one example gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// Typed outputs.
    Parsed(Map<String, Value>),
    /// The answer could not be read, even after a reminder of the format.
    Failed {
        /// Why the last answer could not be parsed.
        reason: String,
    },
}

/// Runs the program: the adapter's messages through the task LM, the answer
/// parsed back. A parse failure is retried once, with the model's answer and a
/// reminder of the format appended to the conversation.
pub async fn predict(
    lm: &crate::lm::LmClient,
    sig: &Signature,
    system: &str,
    inputs: &Map<String, Value>,
) -> Result<Prediction, crate::lm::LmError> {
    predict_with(lm, Adapter::Sections, sig, system, inputs).await
}

/// [`predict`] under an adapter: with `json`, the request carries the
/// answer's schema for the provider's structured output.
pub async fn predict_with(
    lm: &crate::lm::LmClient,
    adapter: Adapter,
    sig: &Signature,
    system: &str,
    inputs: &Map<String, Value>,
) -> Result<Prediction, crate::lm::LmError> {
    predict_sample(lm, adapter, sig, system, inputs, 0).await
}

/// [`predict_with`] as sample `sample` of the request: k samples of one
/// example are k draws (a seed, or a visible note where the API has none).
pub async fn predict_sample(
    lm: &crate::lm::LmClient,
    adapter: Adapter,
    sig: &Signature,
    system: &str,
    inputs: &Map<String, Value>,
    sample: u32,
) -> Result<Prediction, crate::lm::LmError> {
    predict_full(
        lm,
        crate::lm::Role::Task,
        adapter,
        sig,
        system,
        inputs,
        sample,
    )
    .await
}

/// [`predict`] with another role's LM (promptc's own prompts run on the
/// proposer) and a sample index (k proposals from one prompt are k samples).
pub async fn predict_as(
    lm: &crate::lm::LmClient,
    role: crate::lm::Role,
    sig: &Signature,
    system: &str,
    inputs: &Map<String, Value>,
    sample: u32,
) -> Result<Prediction, crate::lm::LmError> {
    predict_full(lm, role, Adapter::Sections, sig, system, inputs, sample).await
}

async fn predict_full(
    lm: &crate::lm::LmClient,
    role: crate::lm::Role,
    adapter: Adapter,
    sig: &Signature,
    system: &str,
    inputs: &Map<String, Value>,
    sample: u32,
) -> Result<Prediction, crate::lm::LmError> {
    use crate::lm::LmRequest;
    let schema = (adapter == Adapter::Json).then(|| answer_schema(sig));
    let request = |msgs: Vec<Message>| LmRequest {
        sample,
        response_schema: schema.clone(),
        ..LmRequest::new(msgs)
    };
    let mut msgs = messages_as(adapter, sig, system, inputs);
    use crate::lm::budget::Event;
    let first = lm.complete(role, request(msgs.clone())).await?;
    let problem = match parse_completion(sig, &first.text) {
        Ok(out) => {
            lm.record_parse(role, Event::Parsed { first_try: true });
            return Ok(Prediction::Parsed(out));
        }
        Err(e) => e,
    };
    tracing::info!(
        "unreadable {role} answer ({problem}); it was: {:?}",
        truncate_for_message(&first.text)
    );
    msgs.push(Message {
        role: ChatRole::Assistant,
        content: first.text,
    });
    msgs.push(Message {
        role: ChatRole::User,
        content: render_reminder_as(adapter, sig, &problem),
    });
    let second = lm.complete(role, request(msgs)).await?;
    Ok(match parse_completion(sig, &second.text) {
        Ok(out) => {
            lm.record_parse(role, Event::Parsed { first_try: false });
            Prediction::Parsed(out)
        }
        Err(e) => {
            lm.record_parse(role, Event::Unparsed);
            Prediction::Failed {
                reason: e.to_string(),
            }
        }
    })
}
