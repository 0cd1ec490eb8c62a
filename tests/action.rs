//! The composite action's own steps, run in bash with a simulated GitHub
//! Actions environment: the runner's files (GITHUB_OUTPUT per step,
//! GITHUB_STEP_SUMMARY), event payloads for push, workflow_dispatch and
//! pull_request, and `${{ }}` expressions evaluated only where action.yml
//! uses them (`env:`, `if:`, `outputs:`). `uses:` steps (actions/cache) are
//! the runner's business and are skipped. The install step downloads the
//! locally built binary from a release server the test starts.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::git_http::git;
use common::{copy_tree, example};
use serde_json::{Value, json};

const VERSION: &str = "v9.9.9";
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Serves the files under `root` over HTTP; 404 for anything else.
fn release_server(root: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut r = BufReader::new(stream.try_clone().unwrap());
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let file = root.join(path.trim_start_matches('/'));
            let _ = match std::fs::read(&file) {
                Ok(bytes) if file.is_file() => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        bytes.len()
                    );
                    stream.write_all(&bytes)
                }
                _ => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    format!("http://127.0.0.1:{port}/releases/download")
}

/// A release folder with the local binary packed as the action expects, and
/// its sha256 file (`tamper`: the published sum is for other bytes).
fn release(root: &Path, tamper: bool) -> PathBuf {
    let dir = root.join("releases/download").join(VERSION);
    let stage = root.join("stage");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_promptc"), stage.join("promptc")).unwrap();
    let asset = format!("promptc-{VERSION}-{TARGET}.tar.gz");
    // gzip -1: the debug binary is large, and the level does not matter here.
    let ok = Command::new("sh")
        .arg("-c")
        .arg("tar -C \"$1\" -cf - promptc | gzip -1 > \"$2\"")
        .arg("sh")
        .arg(&stage)
        .arg(dir.join(&asset))
        .status()
        .unwrap();
    assert!(ok.success());
    let sum_of = if tamper {
        let other = root.join("other.tar.gz");
        std::fs::write(&other, b"not the binary that was published").unwrap();
        other
    } else {
        dir.join(&asset)
    };
    let sum = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&sum_of).unwrap()))
    };
    std::fs::write(
        dir.join(format!("{asset}.sha256")),
        format!("{sum}  {asset}\n"),
    )
    .unwrap();
    root.to_path_buf()
}

/// What one simulated run of the action left.
struct ActionRun {
    /// Each step's id (or name) → its outputs.
    steps: BTreeMap<String, BTreeMap<String, String>>,
    /// The action's outputs, from `outputs:` in action.yml.
    outputs: BTreeMap<String, String>,
    /// Steps skipped (`uses:` or a false `if:`), by name.
    skipped: Vec<String>,
    /// The exit code of the last step that ran (the runner stops at a failure).
    code: i32,
    log: String,
    summary: String,
}

/// Evaluates the `${{ }}` expressions action.yml uses: dotted context paths,
/// `a || b`, string literals, `x == 'y'` and `always()`.
fn eval(expr: &str, ctx: &Value) -> String {
    let expr = expr.trim();
    if expr == "always()" {
        return "true".into();
    }
    if let Some((l, r)) = expr.split_once("==") {
        return (eval(l, ctx) == eval(r, ctx)).to_string();
    }
    if expr.contains("||") {
        return expr
            .split("||")
            .map(|e| eval(e, ctx))
            .find(|v| !v.is_empty())
            .unwrap_or_default();
    }
    if let Some(lit) = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')) {
        return lit.to_string();
    }
    let mut v = ctx;
    for part in expr.split('.') {
        v = &v[part];
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn substitute(text: &str, ctx: &Value) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${{") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find("}}").map(|e| i + e).unwrap();
        out.push_str(&eval(&rest[i + 3..end], ctx));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some((k, delim)) = l.split_once("<<") {
            let mut v = Vec::new();
            for l2 in lines.by_ref() {
                if l2 == delim {
                    break;
                }
                v.push(l2);
            }
            m.insert(k.to_string(), v.join("\n"));
        } else if let Some((k, v)) = l.split_once('=') {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m
}

/// Runs action.yml's steps in `workspace` with `inputs` for `event_name`.
fn run_action(
    workspace: &Path,
    temp: &Path,
    inputs: &[(&str, &str)],
    event_name: &str,
    event: Value,
    token: &str,
) -> ActionRun {
    let action: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(common::root().join("action.yml")).unwrap())
            .unwrap();
    let action: Value = serde_json::to_value(action).unwrap();
    let mut input_values = serde_json::Map::new();
    for (k, spec) in action["inputs"].as_object().unwrap() {
        input_values.insert(k.clone(), spec["default"].clone());
    }
    input_values.insert("github-token".into(), json!(token));
    for (k, v) in inputs {
        assert!(
            input_values.contains_key(*k),
            "action.yml has no input `{k}`"
        );
        input_values.insert(k.to_string(), json!(v));
    }
    let runner_temp = temp.join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let event_path = temp.join("event.json");
    std::fs::write(&event_path, event.to_string()).unwrap();
    let summary_path = temp.join("step-summary.md");
    let mut ctx = json!({
        "inputs": Value::Object(input_values),
        "github": {
            "action_path": common::root(),
            "action_ref": VERSION,
            "action_repository": "acme/promptc",
            "token": token,
            "run_id": "42",
            "run_attempt": "1",
        },
        "runner": {"temp": runner_temp, "os": "Linux", "arch": "X64"},
        "steps": {},
    });
    let mut run = ActionRun {
        steps: BTreeMap::new(),
        outputs: BTreeMap::new(),
        skipped: Vec::new(),
        code: 0,
        log: String::new(),
        summary: String::new(),
    };
    for (i, step) in action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let name = step["name"].as_str().unwrap_or("?").to_string();
        let id = step["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("step{i}"));
        if let Some(cond) = step["if"].as_str()
            && substitute(&format!("${{{{ {cond} }}}}"), &ctx) != "true"
        {
            run.skipped.push(name);
            continue;
        }
        let Some(script) = step["run"].as_str() else {
            run.skipped.push(name);
            continue;
        };
        assert!(
            !script.contains("${{"),
            "step `{name}`: an expression inside run: (template injection)"
        );
        let output_file = temp.join(format!("output-{id}"));
        std::fs::write(&output_file, "").unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(script).current_dir(workspace).env_clear();
        for k in ["PATH", "HOME", "LANG"] {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        cmd.env("GITHUB_ACTIONS", "true")
            .env("CI", "true")
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_STEP_SUMMARY", &summary_path)
            .env("GITHUB_EVENT_NAME", event_name)
            .env("GITHUB_EVENT_PATH", &event_path)
            .env("GITHUB_WORKSPACE", workspace)
            .env("GITHUB_REPOSITORY", "acme/gossip")
            .env("GITHUB_API_URL", "http://127.0.0.1:9/api")
            .env("GITHUB_SERVER_URL", "http://127.0.0.1:9")
            .env("RUNNER_TEMP", &runner_temp)
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        for (k, v) in step["env"].as_object().into_iter().flatten() {
            cmd.env(k, substitute(v.as_str().unwrap_or(""), &ctx));
        }
        let out = cmd.output().unwrap();
        run.log.push_str(&format!(
            "--- {name}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        let outputs = parse_outputs(&std::fs::read_to_string(&output_file).unwrap());
        ctx["steps"][&id] = json!({"outputs": outputs});
        run.steps.insert(id, outputs);
        run.code = out.status.code().unwrap_or(-1);
        if run.code != 0 {
            break;
        }
    }
    for (k, spec) in action["outputs"].as_object().unwrap() {
        run.outputs
            .insert(k.clone(), substitute(spec["value"].as_str().unwrap(), &ctx));
    }
    run.summary = std::fs::read_to_string(&summary_path).unwrap_or_default();
    run
}

/// The example as a user's repository: the example, then a README commit.
fn user_repo(root: &Path) -> (PathBuf, String, String) {
    let repo = root.join("repo");
    copy_tree(&example(), &repo);
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "example"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("README.md"), "# gossip\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "readme"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    (repo, first, second)
}

#[test]
fn dispatch_installs_the_verified_release_and_reports_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let url = release_server(&release(&dir.path().join("srv"), false));
    let (repo, _, _) = user_repo(dir.path());
    let run = run_action(
        &repo,
        dir.path(),
        &[
            ("dry-run", "true"),
            ("release-url", &url),
            ("lm", "all=sim\n"),
        ],
        "workflow_dispatch",
        json!({"inputs": {"dry-run": true}, "repository": {"default_branch": "main"}}),
        "ghs_actionTestToken0123456789",
    );
    assert_eq!(run.code, 0, "{}", run.log);
    assert_eq!(
        run.steps["install"]["path"],
        dir.path()
            .join("runner-temp/promptc-bin/promptc")
            .to_str()
            .unwrap()
    );
    assert!(
        run.skipped
            .iter()
            .any(|s| s == "Build promptc from the action's source")
    );
    assert!(run.skipped.iter().any(|s| s == "Restore the LM cache"));
    assert_eq!(run.outputs["status"], "dry-run", "{}", run.log);
    assert_eq!(run.outputs["decision"], "open");
    assert!(run.outputs["lift"].parse::<f64>().unwrap() > 0.0);
    assert_eq!(run.outputs["pr-url"], "");
    assert!(run.summary.contains("dry run"), "{}", run.summary);
    assert!(repo.join(".promptc/ci/dry-run/speak/pr-body.md").is_file());
    assert!(
        !run.log.contains("ghs_actionTestToken0123456789")
            || run
                .log
                .contains("::add-mask::ghs_actionTestToken0123456789")
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
}

#[test]
fn a_push_without_trace_changes_and_a_pull_request_review() {
    let dir = tempfile::tempdir().unwrap();
    let url = release_server(&release(&dir.path().join("srv"), false));
    let (repo, first, second) = user_repo(dir.path());
    let run = run_action(
        &repo,
        dir.path(),
        &[
            ("release-url", &url),
            ("lm", "all=sim"),
            ("signature", "speak"),
        ],
        "push",
        json!({"before": first, "after": second, "repository": {"default_branch": "main"}}),
        "ghs_actionTestToken0123456789",
    );
    assert_eq!(run.code, 0, "{}", run.log);
    assert_eq!(run.outputs["status"], "skipped", "{}", run.log);
    assert_eq!(run.outputs["decision"], "");
    assert!(run.summary.contains("changed no trace file"));

    // A pull request that edits the pack, reviewed in dry-run.
    git(&repo, &["checkout", "-q", "-b", "tweak"]);
    let path = repo.join("packs/speak.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let pack: Value = serde_json::from_str(&text).unwrap();
    let old = serde_json::to_string(&pack["instructions"]).unwrap();
    std::fs::write(
        &path,
        text.replacen(&old, &serde_json::to_string(common::BETTER).unwrap(), 1),
    )
    .unwrap();
    git(&repo, &["commit", "-q", "-am", "better instructions"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let run = run_action(
        &repo,
        dir.path(),
        &[
            ("mode", "review"),
            ("dry-run", "true"),
            ("release-url", &url),
            ("lm", "all=sim"),
        ],
        "pull_request",
        json!({"number": 3, "pull_request": {"number": 3, "base": {"sha": second}, "head": {"sha": head}}}),
        "ghs_actionTestToken0123456789",
    );
    assert_eq!(run.code, 0, "{}", run.log);
    assert_eq!(run.outputs["status"], "dry-run", "{}", run.log);
    assert_eq!(run.outputs["decision"], "open");
    assert!(run.outputs["lift"].parse::<f64>().unwrap() > 0.0);
    let comment = std::fs::read_to_string(repo.join(".promptc/ci/review/comment.md")).unwrap();
    assert!(comment.starts_with(promptc::github::REVIEW_MARKER));
}

#[test]
fn a_tampered_release_is_refused_and_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let url = release_server(&release(&dir.path().join("srv"), true));
    let (repo, _, _) = user_repo(dir.path());
    let run = run_action(
        &repo,
        dir.path(),
        &[
            ("dry-run", "true"),
            ("release-url", &url),
            ("lm", "all=sim"),
        ],
        "workflow_dispatch",
        json!({}),
        "ghs_actionTestToken0123456789",
    );
    assert_eq!(run.code, 1, "{}", run.log);
    assert!(run.log.contains("refusing to run it"), "{}", run.log);
    assert!(
        run.log.contains("::error title=promptc install::"),
        "{}",
        run.log
    );
    assert!(!dir.path().join("runner-temp/promptc-bin/promptc").exists());
    // The runner stops at the failed step: promptc never ran.
    assert!(!run.steps.contains_key("run"));
    assert!(!repo.join(".promptc").exists());
}

#[test]
fn no_release_to_download_falls_back_to_a_source_build() {
    let dir = tempfile::tempdir().unwrap();
    let url = release_server(&dir.path().join("empty"));
    // Stop before the (slow) build itself: only the install step's decision is checked.
    let install = |action_ref: &str, output: &str| {
        let out = Command::new("bash")
            .arg(common::root().join("action/install.sh"))
            .env("GITHUB_OUTPUT", dir.path().join(output))
            .env("RUNNER_TEMP", dir.path())
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("ACTION_REF", action_ref)
            .env("PROMPTC_RELEASE_URL", &url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let written = std::fs::read_to_string(dir.path().join(output)).unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), written)
    };
    let (stdout, written) = install("v1.2.3", "out");
    assert!(
        stdout.contains("could not download") && stdout.contains("building promptc"),
        "{stdout}"
    );
    assert_eq!(written, "build=true\n");
    // A branch name is not a release: build too.
    let (stdout, written) = install("main", "out2");
    assert!(stdout.contains("no version to download"), "{stdout}");
    assert_eq!(written, "build=true\n");
}
