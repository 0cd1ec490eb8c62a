//! Reading a pack file: its declared format checked against its fields, its
//! demos against the signature, and a voice pack's text against what
//! instructions look like.

use super::*;

/// Why a demo does not fit a signature, if it does not.
pub(super) fn demo_misfit(d: &Demo, sig: &Signature) -> Option<String> {
    if let Some(k) = sig.inputs.keys().find(|k| !d.inputs.contains_key(*k)) {
        return Some(format!("no input `{k}`"));
    }
    for (k, f) in &sig.outputs {
        let Some(v) = d.outputs.get(k) else {
            return Some(format!("no output `{k}`"));
        };
        if let (Some(values), Some(s)) = (&f.enum_values, v.as_str())
            && !values.iter().any(|e| e == s)
        {
            return Some(format!("`{k}` is `{s}`, not one of the enum's values"));
        }
    }
    None
}

/// The largest pack file promptc reads.
pub const MAX_PACK_BYTES: u64 = 64 << 20;

/// Reads, validates and (in memory) re-renders a pack file.
pub fn load(path: &Path, signature: Option<&Signature>) -> Result<LoadedPack, PackError> {
    let bytes = crate::files::read_bounded(path, MAX_PACK_BYTES).map_err(|e| PackError::Io {
        path: path.to_path_buf(),
        source: e.source,
    })?;
    let invalid = |problems| PackError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid(vec!["not UTF-8".into()]))?;
    let mut pack = Pack::from_json(text, signature).map_err(invalid)?;
    let stale = pack.refresh_rendered();
    let mut warnings = Vec::new();
    if stale {
        warnings.push(format!(
            "{}: rendered: out of date with instructions and demos (edited by hand?); scoring uses a fresh render. Run `promptc pack render {} --write` to update the file",
            path.display(),
            path.display()
        ));
    }
    Ok(LoadedPack {
        pack,
        path: path.to_path_buf(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        warnings,
        stale_rendered: stale,
    })
}

const V2_ONLY: [&str; 5] = [
    "instructions",
    "demos",
    "rendered",
    "provenance",
    "persona_instructions",
];

pub(super) fn format_mismatches(
    format: PackFormat,
    obj: &Map<String, Value>,
) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    match format {
        PackFormat::V1 => {
            for key in V2_ONLY.iter().filter(|k| obj.contains_key(**k)) {
                problems.push(format!(
                    "{key}: a promptc.pack/v2 field in a pack declared promptc.pack/v1, which holds only `signature` and `voices`; declare promptc.pack/v2 (or v3) if this pack carries instructions"
                ));
            }
        }
        PackFormat::V2 | PackFormat::V3 => {
            if obj.contains_key("voices") {
                problems.push(format!(
                    "voices: a promptc.pack/v1 field in a pack declared {}; voices and instructions are different things, keep voices in their own v1 pack",
                    format.as_str()
                ));
            }
            let has_overrides = obj.contains_key("persona_instructions");
            if format == PackFormat::V2 && has_overrides {
                problems.push(
                    "persona_instructions: per-persona instructions need format promptc.pack/v3"
                        .into(),
                );
            }
            if format == PackFormat::V3 && !has_overrides {
                problems.push("persona_instructions: missing; a promptc.pack/v3 pack carries per-persona instructions (use v2 without them)".into());
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Why a voice looks like a signature's instructions, if it does.
pub(super) fn reads_like_instructions(voice: &str, sig: &Signature) -> Option<String> {
    let lower = voice.to_lowercase();
    let mut signs = Vec::new();
    for (name, spec) in &sig.outputs {
        if lower.contains(&name.to_lowercase()) {
            signs.push(format!("it names the output field `{name}`"));
        }
        if let Some(values) = &spec.enum_values {
            let hits: Vec<&String> = values
                .iter()
                .filter(|v| v.len() > 3 && lower.contains(&v.to_lowercase()))
                .collect();
            if hits.len() >= 2 {
                signs.push(format!("it lists {} values of `{name}`", hits.len()));
            }
        }
    }
    if lower.contains("=== ") {
        signs.push("it contains the adapter's field headers".into());
    }
    if signs.is_empty() {
        None
    } else {
        Some(signs.join(", "))
    }
}

pub(super) fn demo_problems(sig: &Signature, d: &Demo) -> Vec<String> {
    let mut problems = Vec::new();
    for key in d.inputs.keys() {
        if !sig.inputs.contains_key(key) {
            problems.push(format!("inputs.{key} is not an input of `{}`", sig.name));
        }
    }
    for (name, spec) in &sig.inputs {
        if !spec.optional && !d.inputs.contains_key(name) {
            problems.push(format!("inputs.{name} is missing"));
        }
    }
    for key in d.outputs.keys() {
        if !sig.outputs.contains_key(key) {
            problems.push(format!("outputs.{key} is not an output of `{}`", sig.name));
        }
    }
    for name in sig.outputs.keys() {
        match d.outputs.get(name) {
            None => problems.push(format!("outputs.{name} is missing")),
            Some(v) => {
                if sig.outputs[name].enum_values.is_some() {
                    let s = v.as_str().unwrap_or_default();
                    match sig.canonical_output(name, s) {
                        Ok(canon) if canon == s => {}
                        Ok(canon) => problems.push(format!(
                            "outputs.{name} is `{s}`; write the canonical `{canon}`"
                        )),
                        Err(e) => problems.push(format!("outputs.{e}")),
                    }
                }
            }
        }
    }
    problems
}
