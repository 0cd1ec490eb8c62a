//! The signature: the typed contract of one LLM call (inputs, outputs, enums).
//!
//! A signature file is the one source of truth for what a prompt takes and
//! returns. Packs embed a copy with its hash, so a server (and `check`) can
//! tell when a pack was optimized against a contract that has since moved.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(crate) use crate::text::truncate_for_message;
use crate::yamlerr::{self, YamlError};

/// A signature as written in `signature.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The signature's name, as traces and the config refer to it.
    pub name: String,
    /// One sentence on what the call does; shown to the task model.
    #[serde(default)]
    pub description: String,
    /// Input fields, in the order the adapter renders them.
    pub inputs: IndexMap<String, InputField>,
    /// Output fields, in the order the model is asked to answer them.
    pub outputs: IndexMap<String, OutputField>,
}

/// One input field of a signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputField {
    /// What the field holds, shown to the task model.
    #[serde(default)]
    pub desc: String,
    /// An optional field may be absent from a trace; it then renders as `(none)`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
}

/// One output field of a signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputField {
    /// What the field holds, shown to the task model.
    #[serde(default)]
    pub desc: String,
    /// When set, the field's value must be one of these (after normalisation).
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<String>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A signature's content hash, `sha256:<hex>`, over its canonical JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SignatureHash(pub String);

impl std::fmt::Display for SignatureHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a signature could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The file could not be read.
    #[error("{path}: cannot read signature: {source}")]
    Io {
        /// The signature file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The YAML did not parse into a signature.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// The signature parsed but breaks a rule.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The signature file.
        path: PathBuf,
        /// The key path of the offending entry.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl Signature {
    /// Reads and validates a signature file.
    pub fn load(path: &Path) -> Result<Signature, SignatureError> {
        let src = crate::files::read_text(path, yamlerr::MAX_YAML_BYTES).map_err(|e| {
            SignatureError::Io {
                path: path.to_path_buf(),
                source: e.source,
            }
        })?;
        let sig: Signature = yamlerr::from_str(path, &src)?;
        sig.validate()
            .map_err(|(key, message)| SignatureError::Invalid {
                path: path.to_path_buf(),
                key,
                message,
            })?;
        Ok(sig)
    }

    /// Checks the rules serde cannot express; returns the offending key and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !is_identifier(&self.name) {
            return Err((
                "name".into(),
                format!(
                    "`{}` is not a valid name (use letters, digits, `_` and `-`)",
                    self.name
                ),
            ));
        }
        if self.inputs.is_empty() {
            return Err((
                "inputs".into(),
                "a signature needs at least one input".into(),
            ));
        }
        if self.outputs.is_empty() {
            return Err((
                "outputs".into(),
                "a signature needs at least one output".into(),
            ));
        }
        for name in self.inputs.keys() {
            if !is_identifier(name) {
                return Err((format!("inputs.{name}"), "not a valid field name".into()));
            }
            if self.outputs.contains_key(name) {
                return Err((
                    format!("outputs.{name}"),
                    "a field cannot be both an input and an output".into(),
                ));
            }
        }
        for (name, field) in &self.outputs {
            if !is_identifier(name) {
                return Err((format!("outputs.{name}"), "not a valid field name".into()));
            }
            if let Some(values) = &field.enum_values {
                if values.is_empty() {
                    return Err((
                        format!("outputs.{name}.enum"),
                        "an enum needs at least one value".into(),
                    ));
                }
                let mut seen = std::collections::HashMap::new();
                for v in values {
                    let key = normalize_enum(v);
                    if key.is_empty() {
                        return Err((
                            format!("outputs.{name}.enum"),
                            format!("`{v}` has no letters or digits"),
                        ));
                    }
                    if let Some(prev) = seen.insert(key, v) {
                        return Err((
                            format!("outputs.{name}.enum"),
                            format!("`{prev}` and `{v}` are the same value once normalised"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The canonical hash: sha256 of the compact JSON form (field order kept,
    /// since order changes what the adapter renders).
    pub fn hash(&self) -> SignatureHash {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        SignatureHash(format!("sha256:{}", hex::encode(Sha256::digest(&bytes))))
    }

    /// Checks an output value against the field's enum, returning the
    /// canonical spelling. Near-misses in case, spacing and punctuation
    /// ("Dissent on evidence") map to the canonical value.
    /// Borrows: statistics check every logged answer this way, and almost all
    /// are canonical already.
    pub fn canonical_output<'a>(&'a self, field: &str, value: &'a str) -> Result<&'a str, String> {
        let Some(spec) = self.outputs.get(field) else {
            return Err(format!("`{field}` is not an output of `{}`", self.name));
        };
        Self::canonical_value(field, spec, value)
    }

    /// [`Self::canonical_output`] for a caller that already holds the
    /// field's spec (one walk over the outputs instead of a lookup by name
    /// per value: statistics do this for every line).
    pub fn canonical_value<'a>(
        field: &str,
        spec: &'a OutputField,
        value: &'a str,
    ) -> Result<&'a str, String> {
        match &spec.enum_values {
            None => Ok(value),
            Some(values) => match_enum(values, value).ok_or_else(|| {
                format!(
                    "`{}` is not one of {} ({field})",
                    truncate_for_message(value),
                    values.join(", ")
                )
            }),
        }
    }
}

/// Finds `value` among `values` after normalisation; returns the canonical value.
pub fn match_enum<'v>(values: &'v [String], value: &str) -> Option<&'v str> {
    // Almost every logged value is already canonical; skip the allocations then.
    if let Some(v) = values.iter().find(|v| v.as_str() == value) {
        return Some(v);
    }
    let key = normalize_enum(value);
    values
        .iter()
        .find(|v| normalize_enum(v) == key)
        .map(String::as_str)
}

/// Lower-cases and folds every run of non-alphanumerics into one `-`, so that
/// "Dissent on evidence", "dissent_on_evidence" and "DISSENT-ON-EVIDENCE" agree.
pub fn normalize_enum(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_dash = false;
    for c in s.trim().chars() {
        if c.is_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.extend(c.to_lowercase());
        } else {
            pending_dash = true;
        }
    }
    out
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig() -> Signature {
        serde_yaml::from_str(
            "name: speak\ninputs:\n  persona: {desc: who}\noutputs:\n  utterance: {desc: say}\n  rhetorical_move:\n    enum: [reframe, dissent-on-evidence]\n",
        )
        .unwrap()
    }

    #[test]
    fn enum_near_misses_normalise_to_the_canonical_value() {
        let s = sig();
        for v in [
            "Dissent on evidence",
            "dissent_on_evidence",
            " DISSENT-ON-EVIDENCE. ",
        ] {
            assert_eq!(
                s.canonical_output("rhetorical_move", v).unwrap(),
                "dissent-on-evidence"
            );
        }
        let err = s
            .canonical_output("rhetorical_move", "dissent")
            .unwrap_err();
        assert!(
            err.contains("not one of reframe, dissent-on-evidence"),
            "{err}"
        );
    }

    #[test]
    fn hash_changes_with_field_order_and_content() {
        let a = sig();
        let mut b = a.clone();
        assert_eq!(a.hash(), b.hash());
        b.outputs.reverse();
        assert_ne!(a.hash(), b.hash());
        let mut c = a.clone();
        c.description = "x".into();
        assert_ne!(a.hash(), c.hash());
        assert!(a.hash().0.starts_with("sha256:") && a.hash().0.len() == 71);
    }

    #[test]
    fn validation_rejects_enum_values_that_collide() {
        let mut s = sig();
        s.outputs[1].enum_values = Some(vec!["a b".into(), "A-B".into()]);
        let (key, msg) = s.validate().unwrap_err();
        assert_eq!(key, "outputs.rhetorical_move.enum");
        assert!(msg.contains("same value"), "{msg}");
    }
}
