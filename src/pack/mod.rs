//! Packs: what the application's server reads at boot.
//!
//! - `promptc.pack/v1`: per-persona voice strings, nothing else.
//! - `promptc.pack/v2`: the embedded signature with its hash, `instructions`,
//!   `demos`, `rendered.system` (the exact system message that was scored) and
//!   `provenance`.
//! - `promptc.pack/v3`: v2 plus per-persona instruction overrides.
//!
//! A pack is validated against its declared format. The classic mistake is
//! pasting signature instructions into a v1 persona voice: a voice says how a
//! persona sounds, not what the call must return, so that is rejected with an
//! explanation rather than served.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

mod load;
pub use load::load;
use load::{demo_misfit, demo_problems, format_mismatches, reads_like_instructions};

pub use crate::adapter::Demo;
use crate::adapter::{Adapter, render_system_as};
use crate::signature::{Signature, SignatureHash};

/// A pack file, tagged by its `format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "format")]
pub enum Pack {
    /// Persona voices only.
    #[serde(rename = "promptc.pack/v1")]
    V1(VoicePack),
    /// Instructions, demos, rendered system message and provenance.
    #[serde(rename = "promptc.pack/v2")]
    V2(PromptPack),
    /// v2 plus per-persona instruction overrides.
    #[serde(rename = "promptc.pack/v3")]
    V3(PromptPack),
}

/// The declared format of a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PackFormat {
    /// `promptc.pack/v1`.
    #[serde(rename = "promptc.pack/v1")]
    V1,
    /// `promptc.pack/v2`.
    #[serde(rename = "promptc.pack/v2")]
    V2,
    /// `promptc.pack/v3`.
    #[serde(rename = "promptc.pack/v3")]
    V3,
}

impl PackFormat {
    /// The `format` string.
    pub fn as_str(self) -> &'static str {
        match self {
            PackFormat::V1 => "promptc.pack/v1",
            PackFormat::V2 => "promptc.pack/v2",
            PackFormat::V3 => "promptc.pack/v3",
        }
    }

    fn parse(s: &str) -> Option<PackFormat> {
        [PackFormat::V1, PackFormat::V2, PackFormat::V3]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// `promptc.pack/v1`: how each persona sounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoicePack {
    /// The signature name these voices belong to.
    pub signature: String,
    /// Persona → voice (tone, vocabulary, stance; never the output contract).
    pub voices: IndexMap<String, String>,
}

/// `promptc.pack/v2` and `v3`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptPack {
    /// The signature the pack was built against.
    pub signature: EmbeddedSignature,
    /// The task instructions.
    pub instructions: String,
    /// v3 only: persona → instructions used instead of `instructions` for that persona.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona_instructions: Option<IndexMap<String, String>>,
    /// Few-shot demos, each from a real trace.
    #[serde(default)]
    pub demos: Vec<Demo>,
    /// How the messages ask for the answer (`sections` when absent); a
    /// server renders with the same adapter to send what was scored.
    #[serde(default, skip_serializing_if = "Adapter::is_default")]
    pub adapter: Adapter,
    /// The exact messages that were scored.
    pub rendered: Rendered,
    /// Where the pack came from.
    pub provenance: Provenance,
}

/// What a pack serves, as one stable id: `sha256:` and the hex SHA-256 of a
/// compact JSON document built in this fixed key order (each map in the
/// pack's own order, strings escaped as JSON does):
///
/// - v2 and v3: `{"format", "adapter", "signature", "rendered"}`: the format
///   name, the adapter (`sections` or `json`, always written), the embedded
///   signature's hash and the `rendered` object as it is in the pack
///   (`system`, then `personas` when present);
/// - v1: `{"format", "signature", "voices"}`.
///
/// Provenance (timestamps, scores, settings) is not part of it: two runs
/// that produce the same prompt produce the same id. A server writes it as
/// the `pack` field of its trace lines, so traffic can be matched to the pull
/// request that shipped the pack; the runtimes in `runtimes/` compute it the
/// same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PackId(pub String);

impl std::fmt::Display for PackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Serialize)]
struct IdDoc<'a> {
    format: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    adapter: Option<&'a str>,
    signature: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rendered: Option<&'a Rendered>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voices: Option<&'a IndexMap<String, String>>,
}

/// The signature embedded in a pack, with its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSignature {
    /// `sha256:<hex>` of `spec`.
    pub hash: SignatureHash,
    /// The signature.
    pub spec: Signature,
}

/// The system messages as the adapter rendered them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rendered {
    /// The system message for every request (v2), or for personas without an override (v3).
    pub system: String,
    /// v3: persona → system message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personas: Option<IndexMap<String, String>>,
}

/// Where a pack came from; every field a reviewer needs to trust or reproduce it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// `promptc <version>`, or who wrote it by hand.
    pub tool: String,
    /// When the pack was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// The optimizer run that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerRun>,
    /// The pack it replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_pack: Option<BasePack>,
    /// sha256 over the trace ids the run read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_fingerprint: Option<String>,
    /// No trace at or after this instant was seen by the optimizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_cutoff: Option<DateTime<Utc>>,
    /// Turn counts of the split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitSizes>,
    /// Full val score (0..100) of the pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_score: Option<f64>,
    /// The A/B verdict against the base pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ab: Option<Value>,
    /// role → its sampling (temperature, max_tokens, seed).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub sampling: IndexMap<String, Value>,
    /// role → `provider:model`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub lms: IndexMap<String, String>,
}

/// The optimizer, its settings and seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimizerRun {
    /// `mipro` or `gepa`.
    pub name: String,
    /// The settings used.
    pub settings: Value,
    /// The seed.
    pub seed: u64,
}

/// The pack a run started from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasePack {
    /// Its path in the repository.
    pub path: String,
    /// sha256 of its bytes.
    pub sha256: String,
    /// Its pack id (what the runtimes log in a trace's `pack`), so that
    /// `realized` can find the traces the replaced pack produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Turn counts of a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitSizes {
    /// Train turns.
    pub train: usize,
    /// Val turns.
    pub val: usize,
    /// Held-out turns.
    pub heldout: usize,
}

/// A pack that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The file could not be read.
    #[error("{}: cannot read pack: {source}", path.display())]
    Io {
        /// The pack file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The pack breaks its format's rules.
    #[error("{}: {}", path.display(), problems.join("; "))]
    Invalid {
        /// The pack file.
        path: PathBuf,
        /// Each problem, starting with the key it concerns.
        problems: Vec<String>,
    },
}

/// A pack read from disk, with what loading noticed.
#[derive(Debug, Clone)]
pub struct LoadedPack {
    /// The pack, with `rendered` brought up to date in memory.
    pub pack: Pack,
    /// Where it was read from.
    pub path: PathBuf,
    /// sha256 of the file's bytes.
    pub sha256: String,
    /// Non-fatal findings (a stale `rendered`).
    pub warnings: Vec<String>,
    /// `rendered` on disk differs from what the adapter renders now.
    pub stale_rendered: bool,
}

impl Pack {
    /// A v2 pack with no demos and no run behind it (a first pack, or one of
    /// promptc's own), rendered.
    pub fn first(signature: Signature, instructions: &str, tool: String) -> Pack {
        let mut pack = Pack::V2(PromptPack {
            signature: EmbeddedSignature {
                hash: signature.hash(),
                spec: signature,
            },
            instructions: instructions.trim().to_string(),
            persona_instructions: None,
            demos: Vec::new(),
            adapter: Adapter::Sections,
            rendered: Rendered {
                system: String::new(),
                personas: None,
            },
            provenance: Provenance {
                tool,
                ..Provenance::default()
            },
        });
        pack.refresh_rendered();
        pack
    }

    /// The pack's id (see [`PackId`]).
    pub fn id(&self) -> PackId {
        let format = self.format().as_str();
        let doc = match self {
            Pack::V1(v) => IdDoc {
                format,
                adapter: None,
                signature: &v.signature,
                rendered: None,
                voices: Some(&v.voices),
            },
            Pack::V2(p) | Pack::V3(p) => IdDoc {
                format,
                adapter: Some(p.adapter.as_str()),
                signature: &p.signature.hash.0,
                rendered: Some(&p.rendered),
                voices: None,
            },
        };
        // Serializing strings and string maps cannot fail.
        let text = serde_json::to_string(&doc).unwrap_or_default();
        PackId(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(text.as_bytes()))
        ))
    }

    /// The declared format.
    pub fn format(&self) -> PackFormat {
        match self {
            Pack::V1(_) => PackFormat::V1,
            Pack::V2(_) => PackFormat::V2,
            Pack::V3(_) => PackFormat::V3,
        }
    }

    /// The instructions and demos (v2, v3).
    pub fn prompt(&self) -> Option<&PromptPack> {
        match self {
            Pack::V1(_) => None,
            Pack::V2(p) | Pack::V3(p) => Some(p),
        }
    }

    /// The instructions and demos, to change (v2, v3).
    pub fn prompt_mut(&mut self) -> Option<&mut PromptPack> {
        match self {
            Pack::V1(_) => None,
            Pack::V2(p) | Pack::V3(p) => Some(p),
        }
    }

    /// The current pack's train cutoff, if recorded.
    pub fn train_cutoff(&self) -> Option<DateTime<Utc>> {
        self.prompt().and_then(|p| p.provenance.train_cutoff)
    }

    /// Pretty JSON with a trailing newline, as promptc writes packs.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses and validates pack JSON. `signature` is the signature file's
    /// current content, when known, to check the embedded hash against.
    pub fn from_json(text: &str, signature: Option<&Signature>) -> Result<Pack, Vec<String>> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| vec![format!("not valid JSON: {e}")])?;
        let Value::Object(obj) = &value else {
            return Err(vec!["a pack is a JSON object".into()]);
        };
        let format = match obj.get("format") {
            Some(Value::String(s)) => PackFormat::parse(s).ok_or_else(|| {
                vec![format!(
                    "format: `{s}` is not a pack format (promptc.pack/v1, promptc.pack/v2, promptc.pack/v3)"
                )]
            })?,
            _ => return Err(vec!["format: missing; declare `promptc.pack/v1`, `/v2` or `/v3`".into()]),
        };
        format_mismatches(format, obj)?;
        // Deserialize from the text, not from `value`: a `Value` map sorts its keys, and
        // the order of the signature's fields is part of the contract (and its hash).
        let pack: Pack = serde_json::from_str(text)
            .map_err(|e| vec![crate::yamlerr::with_suggestion(&e.to_string())])?;
        let problems = pack.validate(signature);
        if problems.is_empty() {
            Ok(pack)
        } else {
            Err(problems)
        }
    }

    /// Rules beyond the shape; each problem starts with the key it concerns.
    pub fn validate(&self, signature: Option<&Signature>) -> Vec<String> {
        let mut problems = Vec::new();
        match self {
            Pack::V1(v) => {
                if v.voices.is_empty() {
                    problems.push("voices: a v1 pack needs at least one persona voice".into());
                }
                for (persona, voice) in &v.voices {
                    if let Some(why) = signature.and_then(|s| reads_like_instructions(voice, s)) {
                        problems.push(format!(
                            "voices.{persona}: this voice reads like signature instructions ({why}). A v1 voice says how a persona sounds; what the call must return belongs in `instructions` of a promptc.pack/v2 pack"
                        ));
                    }
                }
            }
            Pack::V2(p) | Pack::V3(p) => {
                let embedded = &p.signature.spec;
                if p.signature.hash != embedded.hash() {
                    problems.push(format!(
                        "signature.hash: {} does not match the embedded spec ({}); the spec was edited without rehashing",
                        p.signature.hash,
                        embedded.hash()
                    ));
                }
                if let Some(current) = signature
                    && current.hash() != p.signature.hash
                {
                    problems.push(format!(
                        "signature.hash: the pack was built against {} but the signature file is now {}; to adopt the edited signature run `promptc pack render` on this pack with --write (demos that no longer fit are dropped), then re-optimize",
                        p.signature.hash,
                        current.hash()
                    ));
                }
                if p.instructions.trim().is_empty() {
                    problems.push("instructions: empty".into());
                }
                for (i, d) in p.demos.iter().enumerate() {
                    for problem in demo_problems(embedded, d) {
                        problems.push(format!("demos[{i}] ({}): {problem}", d.trace_id));
                    }
                }
                match (self.format(), &p.persona_instructions) {
                    (PackFormat::V3, Some(map)) if map.is_empty() => problems.push(
                        "persona_instructions: empty; a v3 pack carries at least one override (or use v2)".into(),
                    ),
                    (PackFormat::V3, Some(map)) => {
                        for (persona, text) in map {
                            if text.trim().is_empty() {
                                problems.push(format!("persona_instructions.{persona}: empty"));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        problems
    }

    /// Renders `rendered` from the instructions and demos with the adapter.
    pub fn render(&self) -> Option<Rendered> {
        let p = self.prompt()?;
        let sig = &p.signature.spec;
        let system = render_system_as(p.adapter, sig, &p.instructions, &p.demos);
        let personas = p.persona_instructions.as_ref().map(|m| {
            m.iter()
                .map(|(persona, text)| {
                    (
                        persona.clone(),
                        render_system_as(p.adapter, sig, text, &p.demos),
                    )
                })
                .collect()
        });
        Some(Rendered { system, personas })
    }

    /// Brings `rendered` up to date; returns whether it changed.
    pub fn refresh_rendered(&mut self) -> bool {
        let Some(fresh) = self.render() else {
            return false;
        };
        match self {
            Pack::V1(_) => false,
            Pack::V2(p) | Pack::V3(p) => {
                let changed = p.rendered != fresh;
                p.rendered = fresh;
                changed
            }
        }
    }
}

/// The instructions of a first pack: the signature's description and one
/// rule that holds for any task. Real instructions, not a stub: this is what a model
/// is sent until the first optimization replaces it.
pub fn first_instructions(sig: &Signature) -> String {
    const TEMPLATE: &str = include_str!("../../templates/init/instructions.md.j2");
    TEMPLATE
        .replace("{{ description }}", sig.description.trim())
        .trim()
        .to_string()
}

/// What [`Pack::adopt_signature`] changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Adopted {
    /// The embedded hash before.
    pub old_hash: String,
    /// The hash now.
    pub new_hash: String,
    /// Demos dropped because they do not fit the new signature, with why.
    pub dropped_demos: Vec<String>,
    /// The instructions were the old signature's first instructions and now
    /// follow its new description.
    pub instructions_rederived: bool,
}

impl Pack {
    /// Embeds `sig` (an edited signature file) in this v2/v3 pack: the spec and
    /// its hash are replaced, demos that no longer fit (a missing input or
    /// output, an enum value the signature no longer has) are dropped, and
    /// instructions that were only the first pack's (derived from the old
    /// description) are derived again. `None` for a v1 pack.
    pub fn adopt_signature(&mut self, sig: &Signature) -> Option<Adopted> {
        let p = self.prompt_mut()?;
        let old = p.signature.spec.clone();
        let mut out = Adopted {
            old_hash: p.signature.hash.0.clone(),
            new_hash: sig.hash().0,
            ..Adopted::default()
        };
        if p.instructions == first_instructions(&old) {
            p.instructions = first_instructions(sig);
            out.instructions_rederived = p.instructions != first_instructions(&old);
        }
        p.demos.retain(|d| match demo_misfit(d, sig) {
            Some(why) => {
                out.dropped_demos.push(format!("{}: {why}", d.trace_id.0));
                false
            }
            None => true,
        });
        p.signature = EmbeddedSignature {
            hash: sig.hash(),
            spec: sig.clone(),
        };
        self.refresh_rendered();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sig() -> Signature {
        serde_yaml::from_str(
            "name: speak\ninputs:\n  persona: {desc: who}\noutputs:\n  utterance: {desc: say}\n  rhetorical_move:\n    enum: [reframe, steelman, probe]\n",
        )
        .unwrap()
    }

    fn v2() -> Pack {
        let s = sig();
        let mut p = Pack::V2(PromptPack {
            signature: EmbeddedSignature {
                hash: s.hash(),
                spec: s,
            },
            instructions: "Speak as the persona.".into(),
            persona_instructions: None,
            demos: vec![Demo {
                trace_id: crate::traces::TraceId("t1".into()),
                inputs: json!({"persona": "skeptic"}).as_object().unwrap().clone(),
                outputs: json!({"utterance": "Why?", "rhetorical_move": "probe"})
                    .as_object()
                    .unwrap()
                    .clone(),
            }],
            adapter: Adapter::Sections,
            rendered: Rendered {
                system: String::new(),
                personas: None,
            },
            provenance: Provenance {
                tool: "hand-written".into(),
                ..Default::default()
            },
        });
        p.refresh_rendered();
        p
    }

    #[test]
    fn a_valid_v2_pack_round_trips() {
        let p = v2();
        let back = Pack::from_json(&p.to_json(), Some(&sig())).unwrap();
        assert_eq!(back, p);
        assert!(
            p.to_json()
                .starts_with("{\n  \"format\": \"promptc.pack/v2\"")
        );
    }

    #[test]
    fn instructions_in_a_voice_field_are_rejected_with_an_explanation() {
        let text = json!({"format": "promptc.pack/v1", "signature": "speak", "voices": {
            "skeptic": "Dry, terse, asks for numbers.",
            "builder": "Always answer with an utterance and a rhetorical_move chosen from reframe, steelman or probe."
        }})
        .to_string();
        let problems = Pack::from_json(&text, Some(&sig())).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("voices.builder: this voice reads like signature instructions (it names the output field `utterance`"), "{}", problems[0]);
        assert!(problems[0].contains("belongs in `instructions` of a promptc.pack/v2 pack"));
    }

    #[test]
    fn declared_format_must_match_the_content() {
        let mut v: Value = serde_json::from_str(&v2().to_json()).unwrap();
        v["format"] = json!("promptc.pack/v1");
        let problems = Pack::from_json(&v.to_string(), None).unwrap_err();
        assert!(
            problems[0].starts_with(
                "instructions: a promptc.pack/v2 field in a pack declared promptc.pack/v1"
            ),
            "{problems:?}"
        );
        v["format"] = json!("promptc.pack/v3");
        let problems = Pack::from_json(&v.to_string(), None).unwrap_err();
        assert!(
            problems[0].starts_with("persona_instructions: missing"),
            "{problems:?}"
        );
        v["format"] = json!("promptc.pack/v9");
        assert!(
            Pack::from_json(&v.to_string(), None).unwrap_err()[0].contains("not a pack format")
        );
    }

    #[test]
    fn signature_drift_and_bad_demo_enums_are_named() {
        let mut v: Value = serde_json::from_str(&v2().to_json()).unwrap();
        v["demos"][0]["outputs"]["rhetorical_move"] = json!("agree");
        let mut changed = sig();
        changed.description = "changed".into();
        let problems = Pack::from_json(&v.to_string(), Some(&changed)).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("signature.hash: the pack was built against")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("demos[0] (t1): outputs.`agree` is not one of")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_v3_pack_renders_one_system_message_per_persona_override() {
        let Pack::V2(mut p) = v2() else {
            unreachable!()
        };
        p.persona_instructions = Some(
            [(
                "skeptic".to_string(),
                "Ask for the number behind every claim.".to_string(),
            )]
            .into_iter()
            .collect(),
        );
        let mut pack = Pack::V3(p);
        assert!(pack.refresh_rendered());
        let back = Pack::from_json(&pack.to_json(), Some(&sig())).unwrap();
        let p = back.prompt().unwrap();
        let personas = p.rendered.personas.as_ref().unwrap();
        assert!(
            personas["skeptic"]
                .contains("# Instructions\n\nAsk for the number behind every claim.\n")
        );
        assert!(p.rendered.system.contains("Speak as the persona."));
        // An empty override is named.
        let text = back
            .to_json()
            .replace("Ask for the number behind every claim.", " ");
        let problems = Pack::from_json(&text, None).unwrap_err();
        assert!(
            problems.contains(&"persona_instructions.skeptic: empty".to_string()),
            "{problems:?}"
        );
    }

    #[test]
    fn a_hand_edited_instruction_is_re_rendered_and_flagged_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let mut pack = v2();
        if let Pack::V2(p) = &mut pack {
            p.instructions = "Speak as the persona. Never invent numbers.".into();
        }
        std::fs::write(&path, pack.to_json()).unwrap();
        let loaded = load(&path, Some(&sig())).unwrap();
        assert!(loaded.stale_rendered);
        assert!(loaded.warnings[0].contains("rendered: out of date"));
        let p = loaded.pack.prompt().unwrap();
        assert!(p.rendered.system.contains("Never invent numbers."));
    }

    #[test]
    fn the_id_is_the_hash_of_what_the_pack_serves_in_its_documented_shape() {
        let p = v2();
        let Some(pp) = p.prompt() else { unreachable!() };
        // The definition, written out independently of IdDoc.
        let doc = format!(
            "{{\"format\":\"promptc.pack/v2\",\"adapter\":\"sections\",\"signature\":{},\"rendered\":{{\"system\":{}}}}}",
            serde_json::to_string(&pp.signature.hash.0).unwrap(),
            serde_json::to_string(&pp.rendered.system).unwrap()
        );
        let want = format!("sha256:{}", hex::encode(Sha256::digest(doc.as_bytes())));
        assert_eq!(p.id().0, want);
    }

    #[test]
    fn the_id_ignores_provenance_and_follows_the_rendered_prompt() {
        let a = v2();
        let mut b = v2();
        if let Some(pp) = b.prompt_mut() {
            pp.provenance.created_at = Some(chrono::Utc::now());
            pp.provenance.val_score = Some(42.5);
        }
        assert_eq!(a.id(), b.id(), "provenance is not what is served");
        if let Some(pp) = b.prompt_mut() {
            pp.instructions = "Speak briefly as the persona.".into();
        }
        assert_eq!(
            a.id(),
            b.id(),
            "until rendered, the served text is the same"
        );
        b.refresh_rendered();
        assert_ne!(a.id(), b.id());
        let mut c = v2();
        if let Some(pp) = c.prompt_mut() {
            pp.adapter = Adapter::Json;
        }
        c.refresh_rendered();
        assert_ne!(a.id(), c.id(), "the adapter changes the user message");
    }
}
