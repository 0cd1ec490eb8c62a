//! `promptc pack validate`, `promptc pack render` and `promptc schema`.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::chat::{ChatRole, Message};
use crate::commands::{Context, Global, Output, UsageError};
use crate::pack::{self, PackError};
use crate::schema::{SchemaKind, generate};
use crate::signature::Signature;

/// The signature a pack path belongs to, when a config is around and names it.
fn signature_for(g: &Global, path: &Path) -> Option<Context> {
    if !g.config.exists() {
        return None;
    }
    let cfg = crate::config::Config::load(&g.config).ok()?;
    let target = std::fs::canonicalize(path).ok()?;
    let name = match &g.signature {
        Some(n) => n.clone(),
        None => cfg
            .signatures
            .iter()
            .find(|(_, s)| {
                std::fs::canonicalize(cfg.resolve(&s.pack)).ok().as_ref() == Some(&target)
            })
            .map(|(n, _)| n.clone())?,
    };
    Context::load(&Global {
        signature: Some(name),
        ..g.clone()
    })
    .ok()
}

#[derive(Serialize)]
struct ValidateOut {
    ok: bool,
    format: Option<&'static str>,
    /// What it serves, as one id (the `pack` field of the traces it produces).
    id: Option<crate::pack::PackId>,
    problems: Vec<String>,
    warnings: Vec<String>,
    signature_checked: Option<String>,
}

/// `pack validate PATH`.
pub fn validate(g: &Global, path: &Path) -> anyhow::Result<Output> {
    let ctx = signature_for(g, path);
    let sig: Option<&Signature> = ctx.as_ref().map(|c| &c.signature);
    let (ok, format, id, problems, warnings) = match pack::load(path, sig) {
        Ok(l) => (
            true,
            Some(l.pack.format().as_str()),
            Some(l.pack.id()),
            vec![],
            l.warnings,
        ),
        Err(PackError::Invalid { problems, .. }) => (false, None, None, problems, vec![]),
        Err(e) => return Err(e.into()),
    };
    let mut h = String::new();
    for p in &problems {
        let _ = writeln!(h, "error: {}: {p}", path.display());
    }
    for w in &warnings {
        let _ = writeln!(h, "warning: {w}");
    }
    match (ok, format) {
        (true, Some(f)) => {
            let _ = writeln!(
                h,
                "{}: valid {f}{}",
                path.display(),
                match &ctx {
                    Some(c) => format!(" (checked against the `{}` signature file)", c.name),
                    None =>
                        " (no config names this pack: the signature file was not compared)".into(),
                }
            );
            if let Some(id) = &id {
                let _ = writeln!(h, "  id {id}");
            }
        }
        _ => {
            let _ = writeln!(h, "{}: invalid", path.display());
        }
    }
    let out = ValidateOut {
        ok,
        format,
        id,
        problems,
        warnings,
        signature_checked: ctx.map(|c| c.name),
    };
    let mut o = Output::ok(out, h);
    o.exit = if ok { 0 } else { 2 };
    Ok(o)
}

/// What `pack render` renders.
#[derive(Debug, Clone, Default)]
pub struct RenderArgs {
    /// The messages for the trace with this id.
    pub example: Option<String>,
    /// The messages for these inputs (a JSON object in a file, `-` for stdin).
    pub inputs: Option<std::path::PathBuf>,
    /// With `inputs`: the persona whose system message a v3 pack uses.
    pub persona: Option<String>,
    /// Bring the pack's `rendered` up to date on disk.
    pub write: bool,
}

/// `pack render PATH [--example ID | --inputs FILE [--persona P]] [--write]`.
pub fn render(g: &Global, path: &Path, args: &RenderArgs) -> anyhow::Result<Output> {
    let (example, write) = (args.example.as_deref(), args.write);
    let ctx = signature_for(g, path);
    let sig = ctx.as_ref().map(|c| &c.signature);
    let (loaded, adopted) = match sig {
        // Writing is how a pack follows an edited signature file.
        Some(s) if write => load_adopting(path, s)?,
        _ => (pack::load(path, sig)?, None),
    };
    let Some(p) = loaded.pack.prompt() else {
        return Err(UsageError(format!(
            "{}: a promptc.pack/v1 pack holds only persona voices; there is no prompt to render",
            path.display()
        ))
        .into());
    };
    let mut h = String::new();
    let mut json = serde_json::Map::new();
    json.insert("format".into(), Value::from(loaded.pack.format().as_str()));
    if write {
        let written = loaded.stale_rendered || adopted.is_some();
        if let Some(a) = &adopted {
            let _ = writeln!(
                h,
                "{}: adopted the edited signature (hash {} → {}){}",
                path.display(),
                a.old_hash,
                a.new_hash,
                if a.instructions_rederived {
                    "; the first instructions follow its new description"
                } else {
                    ""
                }
            );
            for d in &a.dropped_demos {
                let _ = writeln!(h, "  dropped demo {d}");
            }
            json.insert(
                "adopted_signature".into(),
                serde_json::json!({"old_hash": a.old_hash, "new_hash": a.new_hash,
                    "dropped_demos": a.dropped_demos, "instructions_rederived": a.instructions_rederived}),
            );
        }
        if written {
            crate::files::write_text(path, &loaded.pack.to_json())?;
            let _ = writeln!(h, "{}: written", path.display());
        } else {
            let _ = writeln!(h, "{}: rendered already up to date", path.display());
        }
        json.insert("written".into(), Value::Bool(written));
    }
    let system_of = |persona: Option<&String>| {
        persona
            .and_then(|persona| p.rendered.personas.as_ref()?.get(persona))
            .unwrap_or(&p.rendered.system)
    };
    let msgs: Vec<Message> = match (example, &args.inputs) {
        (Some(_), Some(_)) => {
            return Err(UsageError("--example and --inputs: give one".into()).into());
        }
        (None, Some(file)) => {
            let inputs = read_inputs(file)?;
            let system = system_of(args.persona.as_ref());
            crate::program::messages_as(p.adapter, &p.signature.spec, system, &inputs)
        }
        (None, None) => vec![Message {
            role: ChatRole::System,
            content: system_of(args.persona.as_ref()).clone(),
        }],
        (Some(id), None) => {
            let ctx = ctx.as_ref().ok_or_else(|| {
                UsageError(format!(
                    "--example needs a config whose signature names {} (see --config)",
                    path.display()
                ))
            })?;
            let files = ctx.trace_files(&[])?;
            let data = ctx.dataset(&files)?;
            let turn = data.turns.iter().find(|t| t.id.0 == id).ok_or_else(|| {
                UsageError(format!(
                    "no clean trace with id `{id}` in {} file(s)",
                    files.len()
                ))
            })?;
            let system = system_of(turn.persona.as_ref());
            crate::program::messages_as(p.adapter, &p.signature.spec, system, &turn.inputs)
        }
    };
    for m in &msgs {
        let role = match m.role {
            ChatRole::System => "system",
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        };
        let _ = writeln!(h, "──── {role} ────\n{}\n", m.content);
    }
    json.insert("id".into(), serde_json::to_value(loaded.pack.id())?);
    json.insert("messages".into(), serde_json::to_value(&msgs)?);
    json.insert("stale_rendered".into(), Value::Bool(loaded.stale_rendered));
    Ok(Output::ok(Value::Object(json), h))
}

/// The inputs of `--inputs FILE` (`-`: stdin): one JSON object, bounded.
fn read_inputs(file: &Path) -> anyhow::Result<serde_json::Map<String, Value>> {
    const MAX: usize = 16 << 20;
    let text = if file == Path::new("-") {
        use std::io::Read;
        let mut s = String::new();
        std::io::stdin()
            .take(MAX as u64 + 1)
            .read_to_string(&mut s)?;
        if s.len() > MAX {
            return Err(UsageError(format!("--inputs: stdin is larger than {MAX} bytes")).into());
        }
        s
    } else {
        crate::files::read_text(file, MAX as u64)
            .map_err(|e| UsageError(format!("--inputs: {e}")))?
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(UsageError(format!(
            "--inputs {}: not a JSON object of input fields",
            file.display()
        ))
        .into()),
        Err(e) => Err(UsageError(format!("--inputs {}: invalid JSON: {e}", file.display())).into()),
    }
}

/// Loads a pack for writing: when its embedded signature differs from the
/// signature file, the file's is adopted (see [`pack::Pack::adopt_signature`]);
/// the result must then validate against the file.
fn load_adopting(
    path: &Path,
    sig: &crate::signature::Signature,
) -> anyhow::Result<(pack::LoadedPack, Option<pack::Adopted>)> {
    let mut loaded = pack::load(path, None)?;
    let differs = loaded
        .pack
        .prompt()
        .is_some_and(|p| p.signature.hash != sig.hash());
    let adopted = if differs {
        loaded.pack.adopt_signature(sig)
    } else {
        None
    };
    let problems = loaded.pack.validate(Some(sig));
    if !problems.is_empty() {
        return Err(pack::PackError::Invalid {
            path: path.to_path_buf(),
            problems,
        }
        .into());
    }
    Ok((loaded, adopted))
}

/// `schema pack|config|trace`.
pub fn schema(kind: SchemaKind) -> anyhow::Result<Output> {
    let text = generate(kind);
    let value: Value = serde_json::from_str(&text)?;
    Ok(Output::ok(value, text))
}
