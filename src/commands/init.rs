//! `promptc init`: the files a repository needs to start, never overwriting
//! one that exists.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::commands::{Output, UsageError};
use crate::pack::{self, Pack};
use crate::signature::Signature;

const CONFIG: &str = include_str!("../../templates/init/promptc.yaml.j2");
const SIGNATURE: &str = include_str!("../../templates/init/signature.yaml.j2");
const METRIC: &str = include_str!("../../templates/init/metric.yaml.j2");
const JUDGE: &str = include_str!("../../templates/init/judge.md.j2");
const INSTRUCTIONS: &str = include_str!("../../templates/init/instructions.md.j2");
const WORKFLOW: &str = include_str!("../../examples/workflows/promptc.yml");

/// What `init` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct InitArgs {
    /// The repository root to write into.
    pub dir: PathBuf,
    /// The signature's name (default: the pack's, else `answer`).
    pub name: Option<String>,
    /// An existing v2/v3 pack to derive the signature from (and to keep as the pack).
    pub from_pack: Option<PathBuf>,
}

fn render(template: &str, ctx: &serde_json::Value) -> anyhow::Result<String> {
    let env = minijinja::Environment::new();
    Ok(env.render_str(
        template,
        minijinja::Value::from(minijinja::value::Serde(ctx)),
    )?)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// With `--from-pack`: the signature embedded in that pack, and its path.
fn derived_signature(from_pack: Option<&Path>) -> anyhow::Result<Option<(Signature, PathBuf)>> {
    let Some(p) = from_pack else {
        return Ok(None);
    };
    let loaded = pack::load(p, None)?;
    let Some(prompt) = loaded.pack.prompt() else {
        return Err(UsageError(format!(
            "{}: a promptc.pack/v1 pack holds persona voices only, no signature to derive; run init without --from-pack and describe the signature in its stub",
            p.display()
        ))
        .into());
    };
    Ok(Some((prompt.signature.spec.clone(), p.to_path_buf())))
}

/// The cache and run folders stay out of git: adds the line to
/// `.gitignore`, never rewrites the file. Returns what it wrote, if anything.
fn ignore_promptc_folder(dir: &Path) -> anyhow::Result<Option<String>> {
    let gitignore = dir.join(".gitignore");
    let existing = std::fs::read_to_string(&gitignore).unwrap_or_default();
    if existing
        .lines()
        .any(|l| l.trim().trim_end_matches('/') == ".promptc")
    {
        return Ok(None);
    }
    let mut text = existing.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# promptc's LM cache and run outputs\n.promptc/\n");
    crate::files::write_text(&gitignore, &text)?;
    Ok(Some(if existing.is_empty() {
        ".gitignore".into()
    } else {
        ".gitignore (appended .promptc/)".into()
    }))
}

/// `init`.
pub fn init(args: &InitArgs) -> anyhow::Result<Output> {
    let dir = &args.dir;
    if !dir.is_dir() {
        return Err(UsageError(format!("{}: no such folder", dir.display())).into());
    }
    let derived = derived_signature(args.from_pack.as_deref())?;
    let name = args
        .name
        .clone()
        .or_else(|| derived.as_ref().map(|(s, _)| s.name.clone()))
        .unwrap_or_else(|| "answer".into());
    if !valid_name(&name) {
        return Err(UsageError(format!(
            "signature name `{name}`: use letters, digits, `-` and `_` (it names files and a branch)"
        ))
        .into());
    }

    let signature_path = format!("prompts/{name}/signature.yaml");
    let metric_path = format!("prompts/{name}/metric.yaml");
    let judge_rel = "judges/quality.md";
    // A pack inside the repository stays where it is; one from elsewhere is copied in.
    let (pack_path, copy_pack) = match &derived {
        Some((_, p)) => match relative_to(p, dir) {
            Some(rel) => (rel, None),
            None => (
                format!("packs/{name}.json"),
                Some(std::fs::read_to_string(p)?),
            ),
        },
        None => (format!("packs/{name}.json"), None),
    };
    let traces_glob = format!("traces/{name}/*.jsonl");
    let ctx = json!({
        "name": name,
        "signature_path": signature_path,
        "metric_path": metric_path,
        "pack_path": pack_path,
        "traces_glob": traces_glob,
        "judge_path": judge_rel,
    });

    let signature_text = match &derived {
        Some((sig, _)) => format!(
            "# Derived by `promptc init` from the signature embedded in {pack_path}.\n{}",
            serde_yaml::to_string(sig)?
        ),
        None => render(SIGNATURE, &ctx)?,
    };
    let signature: Signature = match &derived {
        Some((sig, _)) => sig.clone(),
        None => serde_yaml::from_str(&signature_text)?,
    };
    let description = signature.description.trim().to_string();
    let judge = render(
        JUDGE,
        &json!({"description": description.replace('\n', " ")}),
    )?;

    let mut files: Vec<(String, String)> = vec![
        ("promptc.yaml".into(), render(CONFIG, &ctx)?),
        (signature_path.clone(), signature_text),
        (metric_path.clone(), render(METRIC, &ctx)?),
        (format!("prompts/{name}/{judge_rel}"), judge),
        (".github/workflows/promptc.yml".into(), WORKFLOW.to_string()),
        (format!("traces/{name}/.gitkeep"), String::new()),
    ];
    if let Some(text) = copy_pack {
        files.push((pack_path.clone(), text));
    }
    if derived.is_none() {
        let instructions = render(INSTRUCTIONS, &json!({"description": description}))?;
        let p = Pack::first(
            signature.clone(),
            &instructions,
            format!("promptc {} (init)", crate::VERSION),
        );
        files.push((pack_path.clone(), p.to_json()));
    }

    let mut written = Vec::new();
    let mut kept = Vec::new();
    for (rel, text) in &files {
        let path = dir.join(rel);
        if path.exists() {
            kept.push(rel.clone());
            continue;
        }
        crate::files::write_text(&path, text)?;
        written.push(rel.clone());
    }
    if let Some(w) = ignore_promptc_folder(dir)? {
        written.push(w);
    }

    let mut h = String::new();
    for w in &written {
        let _ = writeln!(h, "wrote {w}");
    }
    for k in &kept {
        let _ = writeln!(h, "kept  {k} (exists; not overwritten)");
    }
    let _ = writeln!(
        h,
        "\nNext: log each call of `{name}` as one JSON line under traces/{name}/ (see the README's trace format), describe the signature in {signature_path}, run `promptc check`, then commit these files. The workflow runs promptc on every push of traces."
    );
    Ok(Output::ok(
        json!({"signature": name, "written": written, "kept": kept}),
        h,
    ))
}

/// `p` relative to `dir` with `/` separators, when it is inside.
fn relative_to(p: &Path, dir: &Path) -> Option<String> {
    let p = p.canonicalize().ok()?;
    let d = dir.canonicalize().ok()?;
    p.strip_prefix(&d)
        .ok()
        .map(|r| r.to_string_lossy().replace('\\', "/"))
}
