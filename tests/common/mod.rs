//! Helpers shared by the integration tests: run the binary, copy the example.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled example repository.
pub fn example() -> PathBuf {
    root().join("examples/gossip")
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as the one JSON object `--json` promises.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs `promptc` with `args` in `dir`.
pub fn promptc_in(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_promptc"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("PROMPTC_CONFIG")
        .env_remove("PROMPTC_LOG");
    finish(cmd)
}

/// Runs `promptc` in `dir` with no GitHub Actions variables but `envs`
/// (a test may itself run under Actions).
pub fn promptc_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_promptc"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("PROMPTC_CONFIG")
        .env_remove("PROMPTC_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_") || k == "CI" || k.starts_with("RUNNER_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    finish(cmd)
}

/// Runs the command and checks that promptc did not panic.
fn finish(mut cmd: Command) -> Run {
    let out = cmd.output().expect("the promptc binary runs");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(run.code, 101, "promptc panicked:\n{}", run.stderr);
    assert!(
        !run.stderr.contains("panicked at"),
        "promptc panicked:\n{}",
        run.stderr
    );
    run
}

/// Writes an executable script (a `command:` LM, a flaky judge).
pub fn executable(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Runs `promptc` from the repository root.
pub fn promptc(args: &[&str]) -> Run {
    promptc_in(&root(), args)
}

/// Copies a folder tree (the example, into a temp dir a test may modify).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != ".promptc" {
                copy_tree(&entry.path(), &dest);
            }
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A private copy of the example repository.
pub fn example_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("gossip");
    copy_tree(&example(), &repo);
    (dir, repo)
}

/// An instruction with every element the simulator rewards: clearly better
/// than the example's production instruction.
pub const BETTER: &str = "You are one persona in a working room. Speak as the persona described in persona_brief, in their voice and with their expertise.

Only state facts that appear in `evidence`, and cite each by its id. Never invent numbers, sources or results.

The moves:
- reframe: restate the problem so new options appear.
- steelman: state the strongest form of a view you may not hold.
- probe: ask a pointed question that tests an assumption.
- dissent-on-evidence: disagree, citing evidence by id.
- synthesize: combine positions into one proposal and name what stays open.
- verify: check a claim or the draft against the evidence.

Before you answer:
1. Read the goal.
2. Pick the move the room needs now.
3. Check every claim against the evidence.";
pub mod fake_github;
pub mod git_http;
