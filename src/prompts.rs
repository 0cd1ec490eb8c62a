//! promptc's own prompts — the dataset summarizer, the instruction proposer and
//! the GEPA reflector — kept as packs in promptc's own format.
//!
//! The source of each is `packs/src/<name>/` (a signature and an instructions
//! file a reviewer can read); the built packs `packs/<name>.json` are embedded
//! in the binary, and a test fails when they drift from their source.

use std::path::Path;

use crate::pack::Pack;
use crate::signature::Signature;

/// The built-in prompts, by name, as embedded packs.
pub const BUILT_IN: [(&str, &str); 3] = [
    (
        "summarize_dataset",
        include_str!("../packs/summarize_dataset.json"),
    ),
    (
        "propose_instruction",
        include_str!("../packs/propose_instruction.json"),
    ),
    ("reflect", include_str!("../packs/reflect.json")),
];

/// Builds a prompt pack from `packs/src/<name>/`.
pub fn build(src: &Path, name: &str) -> Result<Pack, String> {
    let dir = src.join(name);
    let sig = Signature::load(&dir.join("signature.yaml")).map_err(|e| e.to_string())?;
    let instructions = std::fs::read_to_string(dir.join("instructions.md"))
        .map_err(|e| format!("{}: {e}", dir.join("instructions.md").display()))?;
    Ok(Pack::first(
        sig,
        &instructions,
        "promptc built-in prompt".into(),
    ))
}

/// A built-in prompt pack, or the user's replacement for it.
pub fn load(name: &str, replacement: Option<&Path>) -> Result<Pack, String> {
    if let Some(path) = replacement {
        return crate::pack::load(path, None)
            .map(|l| l.pack)
            .map_err(|e| e.to_string());
    }
    let text = BUILT_IN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| format!("no built-in prompt `{name}`"))?;
    Pack::from_json(text, None).map_err(|p| format!("built-in prompt {name}: {}", p.join("; ")))
}
