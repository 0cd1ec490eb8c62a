//! `promptc init`: a new repository is ready for `check`, and nothing that
//! exists is overwritten.

mod common;

use common::git_http::git;
use common::{example, promptc_in};
use promptc::signature::Signature;

#[test]
fn init_in_an_empty_repository_then_check_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let run = promptc_in(dir.path(), &["init", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    let written: Vec<&str> = j["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for f in [
        "promptc.yaml",
        "prompts/answer/signature.yaml",
        "prompts/answer/metric.yaml",
        "prompts/answer/judges/quality.md",
        "packs/answer.json",
        ".github/workflows/promptc.yml",
        ".gitignore",
    ] {
        assert!(written.contains(&f), "{f} not written: {written:?}");
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let check = promptc_in(dir.path(), &["check", "--json"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    let c = check.json();
    assert_eq!(c["ok"], true, "{c:#}");
    assert_eq!(c["signatures"], serde_json::json!(["answer"]));
    // No problem at all; a note says where traces go.
    assert_eq!(c["problems"], serde_json::json!([]), "{c:#}");
    let notes = c["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(notes[0].as_str().unwrap().contains("traces/answer/*.jsonl"));
    // The workflow is the documented one, and the pack is valid for the stub.
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".github/workflows/promptc.yml")).unwrap(),
        std::fs::read_to_string(common::root().join("examples/workflows/promptc.yml")).unwrap()
    );
    let v = promptc_in(
        dir.path(),
        &["pack", "validate", "packs/answer.json", "--json"],
    );
    assert_eq!(v.json()["ok"], true, "{}", v.stdout);
    assert!(
        std::fs::read_to_string(dir.path().join(".gitignore"))
            .unwrap()
            .contains(".promptc/")
    );
}

#[test]
fn init_never_overwrites_and_appends_to_gitignore() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("promptc.yaml"), "# mine\n").unwrap();
    std::fs::write(dir.path().join(".gitignore"), "target/").unwrap();
    let run = promptc_in(dir.path(), &["init", "--json", "--name", "summarize"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["kept"], serde_json::json!(["promptc.yaml"]));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("promptc.yaml")).unwrap(),
        "# mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".gitignore")).unwrap(),
        "target/\n# promptc's LM cache and run outputs\n.promptc/\n"
    );
    assert!(
        dir.path()
            .join("prompts/summarize/signature.yaml")
            .is_file()
    );
    // Again: everything exists now, nothing is written.
    let before = std::fs::read_to_string(dir.path().join("packs/summarize.json")).unwrap();
    let again = promptc_in(dir.path(), &["init", "--json", "--name", "summarize"]).json();
    assert_eq!(again["written"], serde_json::json!([]));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("packs/summarize.json")).unwrap(),
        before
    );
    // A name that cannot be a branch or a folder is refused.
    let bad = promptc_in(dir.path(), &["init", "--name", "../x"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn init_derives_the_signature_from_an_existing_pack() {
    let dir = tempfile::tempdir().unwrap();
    let pack = example().join("packs/speak.json");
    let run = promptc_in(
        dir.path(),
        &["init", "--json", "--from-pack", pack.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["signature"], "speak");
    let derived = Signature::load(&dir.path().join("prompts/speak/signature.yaml")).unwrap();
    let original = Signature::load(&example().join("signature.yaml")).unwrap();
    assert_eq!(
        derived.hash(),
        original.hash(),
        "field order and content survive"
    );
    // The pack from outside the repository was copied in, byte for byte.
    assert_eq!(
        std::fs::read(dir.path().join("packs/speak.json")).unwrap(),
        std::fs::read(&pack).unwrap()
    );
    let check = promptc_in(dir.path(), &["check", "--json"]);
    assert_eq!(check.json()["ok"], true, "{}", check.stdout);
}

/// `n` threads of `turns` clean turns each for the init stub plus an
/// `audience` input, spread over days and three workspaces.
fn traces_for_edited_stub(n: usize, turns: usize) -> String {
    let mut out = String::new();
    for t in 0..n {
        for k in 0..turns {
            let line = serde_json::json!({
                "signature": "answer",
                "thread": format!("th_{t:03}"),
                "workspace": format!("ws{}", t % 3),
                "ts": format!("2026-11-{:02}T10:{:02}:00Z", 1 + t % 27, k),
                "inputs": {"question": format!("What is item {t}-{k}?"),
                           "context": format!("Item {t}-{k} is a blue widget."),
                           "audience": "support staff"},
                "outputs": {"answer": format!("Item {t}-{k} is a blue widget.")},
                "status": "ok"
            });
            out.push_str(&format!("{line}\n"));
        }
    }
    out
}

#[test]
fn init_then_edit_the_signature_then_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    assert_eq!(promptc_in(d, &["init"]).code, 0);
    let pack_text = std::fs::read_to_string(d.join("packs/answer.json")).unwrap();
    assert!(
        !pack_text.contains("Replace this"),
        "the first pack ships a placeholder: {pack_text}"
    );

    // The user edits the signature, as the README says to.
    let sig_path = d.join("prompts/answer/signature.yaml");
    let sig = std::fs::read_to_string(&sig_path)
        .unwrap()
        .replace(
            "Answer the user's question from the context the application provides.",
            "Answer a support agent's question about an order from the order record.",
        )
        .replace(
            "outputs:",
            "  audience:\n    desc: \"Who reads the answer\"\noutputs:",
        );
    std::fs::write(&sig_path, sig).unwrap();

    // Every command now names the way out.
    let check = promptc_in(d, &["check", "--json"]);
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("run `promptc pack render` on this pack with --write"),
        "{}",
        check.stdout
    );
    let render = promptc_in(
        d,
        &["pack", "render", "packs/answer.json", "--write", "--json"],
    );
    assert_eq!(render.code, 0, "{}", render.stderr);
    let r = render.json();
    assert_eq!(r["written"], true);
    assert_eq!(
        r["adopted_signature"]["instructions_rederived"], true,
        "{r}"
    );
    let pack_text = std::fs::read_to_string(d.join("packs/answer.json")).unwrap();
    assert!(
        pack_text.contains("Answer a support agent's question"),
        "{pack_text}"
    );
    assert!(pack_text.contains("\"audience\""), "{pack_text}");
    let check = promptc_in(d, &["check", "--json"]);
    assert_eq!(check.json()["ok"], true, "{}", check.stdout);

    // With traces and no pack at all, optimize starts from the signature.
    std::fs::write(
        d.join("traces/answer/2026-11.jsonl"),
        traces_for_edited_stub(40, 6),
    )
    .unwrap();
    std::fs::remove_file(d.join("packs/answer.json")).unwrap();
    let split = promptc_in(d, &["traces", "split", "--json"]);
    assert_eq!(
        split.code, 0,
        "the init config's sizes fit a small repository: {}",
        split.stderr
    );
    let opt = promptc_in(d, &["optimize", "--smoke", "--json"]);
    assert_eq!(opt.code, 0, "{}", opt.stderr);
    assert!(
        opt.stderr
            .contains("no pack yet; starting from the signature's description"),
        "{}",
        opt.stderr
    );
    let written = opt.json()["pack"].as_str().unwrap().to_string();
    let v = promptc_in(d, &["pack", "validate", &written, "--json"]);
    assert_eq!(v.json()["ok"], true, "{}", v.stdout);
}
