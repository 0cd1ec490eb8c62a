//! The adapter: signature + instructions + demos + inputs → messages, and a
//! completion → typed outputs. Pure text in, text out: it never calls a model
//! (that is [`crate::program`]), so packs and runtimes can render with it.
//!
//! This is the one rendering path: the optimizer scores what it renders,
//! `pack render` prints it, and a pack's `rendered.system` records it, so a
//! server that sends `rendered.system` serves byte for byte what was measured.
//! The wire format itself lives in `prompts/adapter/*.md.j2`.

mod parse;
mod recover;
pub mod wire;

pub use parse::{ParseError, parse_completion};
pub use recover::inputs_from_user;

use std::sync::OnceLock;

use minijinja::{Environment, Value as J, context};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::signature::Signature;
use crate::traces::TraceId;

pub use crate::chat::{ChatRole, Message};

/// One few-shot example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    /// The trace it was taken from.
    pub trace_id: TraceId,
    /// The request.
    pub inputs: Map<String, Value>,
    /// The accepted answer.
    pub outputs: Map<String, Value>,
}

/// How a program's messages ask for the answer, and how it comes back.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Adapter {
    /// One `=== field ===` section per output, then `=== end ===`.
    #[default]
    Sections,
    /// One JSON object whose schema comes from the signature, sent as the
    /// provider's native structured output where it has one.
    Json,
}

impl Adapter {
    /// `sections` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Adapter::Sections => "sections",
            Adapter::Json => "json",
        }
    }

    /// True for the default, which packs leave unwritten.
    pub fn is_default(&self) -> bool {
        *self == Adapter::Sections
    }

    fn template(self, name: &str) -> String {
        match self {
            Adapter::Sections => name.to_string(),
            Adapter::Json => format!("json/{name}"),
        }
    }
}

/// The JSON Schema of a signature's answer under the `json` adapter: an
/// object with every output as a required string (an enum's values listed).
pub fn answer_schema(sig: &Signature) -> Value {
    let mut props = Map::new();
    for (name, f) in &sig.outputs {
        let mut p = serde_json::json!({"type": "string"});
        if !f.desc.is_empty() {
            p["description"] = Value::String(f.desc.clone());
        }
        if let Some(values) = &f.enum_values {
            p["enum"] = serde_json::json!(values);
        }
        props.insert(name.clone(), p);
    }
    serde_json::json!({
        "type": "object",
        "properties": props,
        "required": sig.outputs.keys().collect::<Vec<_>>(),
        "additionalProperties": false,
    })
}

/// `{"field": "<field>", "move": "<one of: a, b>"}`: the answer's shape as
/// the json adapter shows it to the model.
fn example_answer(sig: &Signature) -> String {
    let parts: Vec<String> = sig
        .outputs
        .iter()
        .map(|(n, f)| {
            let hint = match &f.enum_values {
                Some(v) => format!("<one of: {}>", v.join(", ")),
                None => format!("<{n}>"),
            };
            format!("{}: {}", Value::String(n.clone()), Value::String(hint))
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// A demo's accepted answer as the json adapter writes it: one line of JSON,
/// keys in the signature's order.
fn json_answer(sig: &Signature, outputs: &Map<String, Value>) -> String {
    let parts: Vec<String> = sig
        .outputs
        .keys()
        .map(|n| {
            format!(
                "{}: {}",
                Value::String(n.clone()),
                Value::String(render_value(outputs.get(n)))
            )
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

const SYSTEM_TEMPLATE: &str = include_str!("../../prompts/adapter/system.md.j2");
const USER_TEMPLATE: &str = include_str!("../../prompts/adapter/user.md.j2");
const REMINDER_TEMPLATE: &str = include_str!("../../prompts/adapter/reminder.md.j2");
const JSON_SYSTEM_TEMPLATE: &str = include_str!("../../prompts/adapter/json/system.md.j2");
const JSON_USER_TEMPLATE: &str = include_str!("../../prompts/adapter/json/user.md.j2");
const JSON_REMINDER_TEMPLATE: &str = include_str!("../../prompts/adapter/json/reminder.md.j2");

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // The templates are compiled into the binary; a failure here is a build defect
        // that every test of the adapter would show.
        for (name, src) in [
            ("system", SYSTEM_TEMPLATE),
            ("user", USER_TEMPLATE),
            ("reminder", REMINDER_TEMPLATE),
            ("json/system", JSON_SYSTEM_TEMPLATE),
            ("json/user", JSON_USER_TEMPLATE),
            ("json/reminder", JSON_REMINDER_TEMPLATE),
        ] {
            if let Err(e) = env.add_template(name, src) {
                tracing::error!("adapter template {name} does not compile: {e}");
            }
        }
        env
    })
}

fn render(name: &str, ctx: minijinja::Value) -> String {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| format!("(adapter template {name} failed: {e})"))
}

/// Renders an input or output value the way the model sees it: strings as
/// they are, everything else as compact JSON.
pub fn render_value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(none)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[derive(Serialize)]
struct FieldCtx<'a> {
    name: &'a str,
    desc: &'a str,
    optional: bool,
    #[serde(rename = "enum")]
    enum_values: Option<&'a [String]>,
}

#[derive(Serialize)]
struct ValueCtx<'a> {
    name: &'a str,
    value: String,
}

fn input_fields(sig: &Signature) -> Vec<FieldCtx<'_>> {
    sig.inputs
        .iter()
        .map(|(n, f)| FieldCtx {
            name: n,
            desc: &f.desc,
            optional: f.optional,
            enum_values: None,
        })
        .collect()
}

fn output_fields(sig: &Signature) -> Vec<FieldCtx<'_>> {
    sig.outputs
        .iter()
        .map(|(n, f)| FieldCtx {
            name: n,
            desc: &f.desc,
            optional: false,
            enum_values: f.enum_values.as_deref(),
        })
        .collect()
}

fn input_values<'a>(sig: &'a Signature, inputs: &Map<String, Value>) -> Vec<ValueCtx<'a>> {
    sig.inputs
        .keys()
        .map(|n| ValueCtx {
            name: n,
            value: render_value(inputs.get(n)),
        })
        .collect()
}

fn output_values<'a>(sig: &'a Signature, outputs: &Map<String, Value>) -> Vec<ValueCtx<'a>> {
    sig.outputs
        .keys()
        .map(|n| ValueCtx {
            name: n,
            value: render_value(outputs.get(n)),
        })
        .collect()
}

/// The system message under the `sections` adapter (see [`render_system_as`]).
pub fn render_system(sig: &Signature, instructions: &str, demos: &[Demo]) -> String {
    render_system_as(Adapter::Sections, sig, instructions, demos)
}

/// The system message: contract, instructions, answer format and demos.
/// It does not depend on the request, which is what lets a pack record it.
pub fn render_system_as(
    adapter: Adapter,
    sig: &Signature,
    instructions: &str,
    demos: &[Demo],
) -> String {
    let demos: Vec<_> = demos
        .iter()
        .map(|d| {
            context! {
                inputs => J::from(minijinja::value::Serde(input_values(sig, &d.inputs))),
                outputs => J::from(minijinja::value::Serde(output_values(sig, &d.outputs))),
                answer => json_answer(sig, &d.outputs),
            }
        })
        .collect();
    let mut s = render(
        &adapter.template("system"),
        context! {
            description => sig.description.trim(),
            inputs => J::from(minijinja::value::Serde(input_fields(sig))),
            outputs => J::from(minijinja::value::Serde(output_fields(sig))),
            instructions => instructions.trim(),
            demos => demos,
            example_answer => example_answer(sig),
        },
    );
    s.truncate(s.trim_end().len());
    s
}

/// The user message for one request (`sections` adapter).
pub fn render_user(sig: &Signature, inputs: &Map<String, Value>) -> String {
    render_user_as(Adapter::Sections, sig, inputs)
}

/// The user message for one request.
pub fn render_user_as(adapter: Adapter, sig: &Signature, inputs: &Map<String, Value>) -> String {
    let mut s = render(&adapter.template("user"), user_context(sig, inputs));
    s.truncate(s.trim_end().len());
    s
}

/// What the user template sees.
fn user_context(sig: &Signature, inputs: &Map<String, Value>) -> minijinja::Value {
    context! {
        inputs => J::from(minijinja::value::Serde(input_values(sig, inputs))),
        outputs => J::from(minijinja::value::Serde(output_fields(sig))),
    }
}

/// The follow-up sent once when an answer could not be parsed (`sections`).
pub fn render_reminder(sig: &Signature, problem: &ParseError) -> String {
    render_reminder_as(Adapter::Sections, sig, problem)
}

/// The follow-up sent once when an answer could not be parsed.
pub fn render_reminder_as(adapter: Adapter, sig: &Signature, problem: &ParseError) -> String {
    let mut s = render(
        &adapter.template("reminder"),
        context! {
            problem => problem.to_string(),
            outputs => J::from(minijinja::value::Serde(output_fields(sig))),
            example_answer => example_answer(sig),
        },
    );
    s.truncate(s.trim_end().len());
    s
}

/// The messages of one call (`sections` adapter).
pub fn messages(sig: &Signature, system: &str, inputs: &Map<String, Value>) -> Vec<Message> {
    messages_as(Adapter::Sections, sig, system, inputs)
}

/// The messages of one call: the recorded system message, then the request.
pub fn messages_as(
    adapter: Adapter,
    sig: &Signature,
    system: &str,
    inputs: &Map<String, Value>,
) -> Vec<Message> {
    vec![
        Message {
            role: ChatRole::System,
            content: system.to_string(),
        },
        Message {
            role: ChatRole::User,
            content: render_user_as(adapter, sig, inputs),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sig() -> Signature {
        serde_yaml::from_str(
            "name: speak\ndescription: Say one thing.\ninputs:\n  persona: {desc: Who speaks}\n  room_state: {desc: The room}\noutputs:\n  utterance: {desc: What is said}\n  rhetorical_move:\n    desc: The move\n    enum: [reframe, probe, dissent-on-evidence]\n",
        )
        .unwrap()
    }

    /// A demo of the test signature with this utterance.
    fn demo(utterance: &str) -> Demo {
        Demo {
            trace_id: crate::traces::TraceId("t1".into()),
            inputs: json!({"persona": "skeptic", "room_state": {"mode": "decide"}})
                .as_object()
                .unwrap()
                .clone(),
            outputs: json!({"utterance": utterance, "rhetorical_move": "probe"})
                .as_object()
                .unwrap()
                .clone(),
        }
    }

    #[test]
    fn system_message_carries_contract_instructions_and_demos() {
        let demo = demo("Show me the numbers.");
        let s = render_system(&sig(), "Be brief.", std::slice::from_ref(&demo));
        assert!(s.starts_with("Say one thing.\n\n# Inputs"), "{s}");
        assert!(s.contains("- `rhetorical_move`: The move (write exactly one of: reframe, probe, dissent-on-evidence)"), "{s}");
        assert!(s.contains("# Instructions\n\nBe brief.\n"), "{s}");
        assert!(
            s.contains("=== room_state ===\n{\"mode\":\"decide\"}\n"),
            "{s}"
        );
        assert!(
            s.ends_with("=== rhetorical_move ===\nprobe\n\n=== end ==="),
            "{s}"
        );
        let no_demos = render_system(&sig(), "Be brief.", &[]);
        assert!(!no_demos.contains("# Examples"));
        assert!(no_demos.ends_with("=== end ==="), "{no_demos}");
    }

    #[test]
    fn the_json_adapter_asks_for_one_object_and_reads_it_back() {
        let s = sig();
        let demo = demo("Say \"why\".");
        let system = render_system_as(Adapter::Json, &s, "Be brief.", std::slice::from_ref(&demo));
        assert!(system.contains("# Instructions\n\nBe brief.\n"), "{system}");
        assert!(
            system.contains("Reply with one JSON object and nothing else: one key per output field, each value a string:\n\n{\"utterance\": \"<utterance>\", \"rhetorical_move\": \"<one of: reframe, probe, dissent-on-evidence>\"}"),
            "{system}"
        );
        // The demo's answer is valid JSON the parser reads back.
        let answer = "{\"utterance\": \"Say \\\"why\\\".\", \"rhetorical_move\": \"probe\"}";
        assert!(
            system.ends_with(&format!("Answer:\n\n{answer}")),
            "{system}"
        );
        assert_eq!(parse_completion(&s, answer).unwrap(), demo.outputs);
        let user = render_user_as(Adapter::Json, &s, &demo.inputs);
        assert!(user.starts_with("=== persona ===\nskeptic\n"), "{user}");
        assert!(
            user.ends_with(
                "Answer with one JSON object with the keys `utterance`, `rhetorical_move`."
            ),
            "{user}"
        );
        // The same contract and instructions as the sections adapter, only the format differs.
        let sections = render_system(&s, "Be brief.", &[]);
        let json_sys = render_system_as(Adapter::Json, &s, "Be brief.", &[]);
        let head = |t: &str| t.split("# Answer format").next().unwrap().to_string();
        assert_eq!(head(&sections), head(&json_sys));
        let schema = answer_schema(&s);
        assert_eq!(schema["required"], json!(["utterance", "rhetorical_move"]));
        assert_eq!(
            schema["properties"]["rhetorical_move"]["enum"],
            json!(["reframe", "probe", "dissent-on-evidence"])
        );
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn a_rendered_answer_parses_back() {
        let s = sig();
        let outputs = json!({"utterance": "Line one\nline two", "rhetorical_move": "probe"});
        let demo_answer: String = output_values(&s, outputs.as_object().unwrap())
            .iter()
            .map(|v| format!("=== {} ===\n{}\n\n", v.name, v.value))
            .collect::<String>()
            + "=== end ===";
        assert_eq!(
            &parse_completion(&s, &demo_answer).unwrap(),
            outputs.as_object().unwrap()
        );
    }

    #[test]
    fn parsing_is_tolerant_of_case_spacing_json_and_near_misses() {
        let s = sig();
        let a = parse_completion(&s, "preamble\n==  Utterance ==\nHi.\n=====RHETORICAL MOVE=====\nDissent on evidence\n=== END ===\ntrailing").unwrap();
        assert_eq!(a["utterance"], "Hi.");
        assert_eq!(a["rhetorical_move"], "dissent-on-evidence");
        let b = parse_completion(
            &s,
            "```json\n{\"Utterance\": \"Hi.\", \"rhetorical-move\": \"Probe\"}\n```",
        )
        .unwrap();
        assert_eq!(b["rhetorical_move"], "probe");
    }

    #[test]
    fn parsing_is_strict_about_missing_fields_and_enum_values() {
        let s = sig();
        assert_eq!(
            parse_completion(&s, "=== utterance ===\nHi.\n=== end ===").unwrap_err(),
            ParseError::Missing(vec!["rhetorical_move".into()])
        );
        let e = parse_completion(
            &s,
            "=== utterance ===\nHi.\n=== rhetorical_move ===\nagree\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("`agree`, which is not one of reframe, probe"),
            "{e}"
        );
        assert_eq!(
            parse_completion(&s, "just words").unwrap_err(),
            ParseError::Unstructured
        );
        assert_eq!(
            parse_completion(&s, "=== utterance ===\n\n=== rhetorical_move ===\nprobe")
                .unwrap_err(),
            ParseError::Missing(vec!["utterance".into()])
        );
    }

    /// The user message rendered from a given template source, as
    /// [`render_user_as`] renders from the compiled-in one.
    fn user_from(src: &str, sig: &Signature, inputs: &Map<String, Value>) -> String {
        let mut env = Environment::new();
        env.add_template("user", src).unwrap();
        let mut s = env
            .get_template("user")
            .unwrap()
            .render(user_context(sig, inputs))
            .unwrap();
        s.truncate(s.trim_end().len());
        s
    }

    #[test]
    fn editing_the_adapters_wording_makes_the_runtimes_fixtures_drift() {
        #[derive(serde::Deserialize)]
        struct Fixture<'a> {
            #[serde(borrow)]
            pack: &'a serde_json::value::RawValue,
            calls: Vec<Value>,
        }
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/runtimes/fixtures/edge-sections-no-demos.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let fx: Fixture = serde_json::from_str(&text).unwrap();
        // Only the embedded signature is needed (the adapter sits below `pack`).
        #[derive(serde::Deserialize)]
        struct Embedded {
            spec: Signature,
        }
        #[derive(serde::Deserialize)]
        struct PackSig {
            signature: Embedded,
        }
        let pack: PackSig = serde_json::from_str(fx.pack.get()).unwrap();
        let sig = &pack.signature.spec;
        let edited = USER_TEMPLATE.replace("Answer with", "Reply with");
        assert_ne!(edited, USER_TEMPLATE);
        for call in &fx.calls {
            let inputs = call["inputs"].as_object().unwrap();
            let committed = call["messages"][1]["content"].as_str().unwrap();
            // The template as compiled in renders the committed fixture...
            assert_eq!(user_from(USER_TEMPLATE, sig, inputs), committed);
            assert_eq!(render_user_as(Adapter::Sections, sig, inputs), committed);
            // ...and the same template with its wording changed no longer does: the
            // conformance check fails until the fixtures are regenerated, and the
            // runtimes' tests then fail until they follow.
            assert_ne!(user_from(&edited, sig, inputs), committed);
        }
    }
}
