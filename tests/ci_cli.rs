//! `promptc ci` and `promptc review` end to end: the example repository with
//! a commit of new traces, a smart-HTTP git remote with basic auth, a fake
//! GitHub checked against GitHub's OpenAPI description, and the sim LMs.

mod common;

use std::path::{Path, PathBuf};

use common::fake_github::FakeGithub;
use common::git_http::{GitHttp, git};
use common::{BETTER, copy_tree, example, promptc_env, promptc_in};
use serde_json::{Value, json};

const TOKEN: &str = "ghs_e2eToken_0123456789abcdef";

/// The user's repository: a bare remote served over smart HTTP, whose main
/// has the example with last month's traces in a second commit; a checkout
/// of it as actions/checkout leaves one.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    work: PathBuf,
    bare: PathBuf,
    before: String,
    after: String,
    http: GitHttp,
    fake: FakeGithub,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let bare = root.join("gossip.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--bare", "-q", "-b", "main"]);
    let seed = root.join("seed");
    copy_tree(&example(), &seed);
    let november = seed.join("traces/2026-11.jsonl");
    let new_traces = std::fs::read(&november).unwrap();
    std::fs::remove_file(&november).unwrap();
    git(&seed, &["init", "-q", "-b", "main"]);
    git(&seed, &["add", "-A"]);
    git(
        &seed,
        &["commit", "-q", "-m", "the example, September and October"],
    );
    let before = git(&seed, &["rev-parse", "HEAD"]);
    std::fs::write(&november, new_traces).unwrap();
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-q", "-m", "November's traces"]);
    let after = git(&seed, &["rev-parse", "HEAD"]);
    git(&seed, &["push", "-q", bare.to_str().unwrap(), "main"]);

    let http = GitHttp::start(&root, "x-access-token", TOKEN);
    git(
        &root,
        &["clone", "-q", &format!("file://{}", bare.display()), "work"],
    );
    let work = root.join("work");
    git(
        &work,
        &["remote", "set-url", "origin", &http.url("gossip.git")],
    );
    Fixture {
        _dir: dir,
        root,
        work,
        bare,
        before,
        after,
        http,
        fake: FakeGithub::start(""),
    }
}

impl Fixture {
    fn event(&self, name: &str, payload: Value) -> PathBuf {
        let p = self.root.join(format!("{name}-event.json"));
        std::fs::write(&p, payload.to_string()).unwrap();
        p
    }

    /// Runs promptc in `dir` as GitHub Actions would, returning the run and the
    /// outputs and summary files' contents.
    fn run(
        &self,
        dir: &Path,
        args: &[&str],
        event_name: &str,
        event: &Path,
    ) -> (common::Run, String, String) {
        let out = self.root.join(format!("output-{}", fastrand_name()));
        let summary = self.root.join(format!("summary-{}", fastrand_name()));
        let api = self.fake.api_url();
        let run = promptc_env(
            dir,
            args,
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_OUTPUT", out.to_str().unwrap()),
                ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
                ("GITHUB_API_URL", &api),
                ("GITHUB_REPOSITORY", "acme/gossip"),
                ("GITHUB_EVENT_NAME", event_name),
                ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
                ("GITHUB_SHA", &self.after),
                ("GITHUB_REF", "refs/heads/main"),
                ("GITHUB_TOKEN", TOKEN),
            ],
        );
        let o = std::fs::read_to_string(&out).unwrap_or_default();
        let s = std::fs::read_to_string(&summary).unwrap_or_default();
        (run, o, s)
    }
}

fn fastrand_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

fn output(outputs: &str, key: &str) -> String {
    outputs
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_push_of_new_traces_opens_one_pull_request_and_a_rerun_updates_it() {
    let f = fixture();
    let push = f.event(
        "push",
        json!({"before": f.before, "after": f.after, "ref": "refs/heads/main",
               "repository": {"default_branch": "main", "full_name": "acme/gossip"}}),
    );
    let main_before = git(&f.bare, &["rev-parse", "main"]);

    let (run, outputs, summary) =
        f.run(&f.work, &["ci", "--json", "--lm", "all=sim"], "push", &push);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let j = run.json();
    let s = &j["signatures"][0];
    assert_eq!(s["name"], "speak");
    assert_eq!(s["status"], "opened", "{s:#}");
    assert_eq!(s["decision"], "open");
    assert_eq!(s["branch"], "promptc/speak");
    let lift = s["lift"].as_f64().unwrap();
    assert!(s["ci95"][0].as_f64().unwrap() > 0.0, "{s:#}");
    assert!(
        s["notes"][0]
            .as_str()
            .unwrap()
            .contains("traces/2026-11.jsonl"),
        "{s:#}"
    );

    // The branch: one commit on main's head, by the configured author, the pack only.
    assert_eq!(git(&f.bare, &["rev-parse", "main"]), main_before);
    assert_eq!(git(&f.bare, &["rev-parse", "promptc/speak^"]), main_before);
    assert_eq!(
        git(
            &f.bare,
            &["log", "-1", "--format=%an <%ae>", "promptc/speak"]
        ),
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
    );
    assert_eq!(
        git(&f.bare, &["diff", "--name-only", "main", "promptc/speak"]),
        "packs/speak.json"
    );
    let pushed: Value =
        serde_json::from_str(&git(&f.bare, &["show", "promptc/speak:packs/speak.json"])).unwrap();
    assert_eq!(pushed["format"], "promptc.pack/v2");
    assert_eq!(pushed["provenance"]["ab"]["decision"], "open");
    assert_eq!(pushed["provenance"]["ab"]["lift"].as_f64().unwrap(), lift);
    // The checkout is as it was.
    assert_eq!(git(&f.work, &["status", "--porcelain"]), "");

    // One PR, with the lift in its title, the score table and the diff in its body.
    {
        let st = f.fake.state.lock().unwrap();
        assert!(st.violations.is_empty(), "{:#?}", st.violations);
        assert_eq!(st.pulls.len(), 1);
        let pr = &st.pulls[0];
        assert_eq!(pr["head"]["ref"], "promptc/speak");
        assert_eq!(pr["base"]["ref"], "main");
        assert_eq!(pr["draft"], false);
        let title = pr["title"].as_str().unwrap();
        assert_eq!(
            title,
            format!("speak: {lift:+.1} on {} fresh turns", s["n"])
        );
        let body = pr["body"].as_str().unwrap();
        assert!(body.contains("| **overall** |"), "{body}");
        assert!(body.contains("```diff"), "{body}");
        assert!(body.contains("simulated scores"), "{body}");
        assert!(
            body.contains("git show origin/promptc/speak:packs/speak.json"),
            "{body}"
        );
        let labels: Vec<&str> = pr["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["promptc", "prompts"]);
        assert_eq!(s["pr_url"], pr["html_url"]);
    }

    // Actions: outputs, summary, the token masked before anything else.
    assert_eq!(output(&outputs, "status"), "opened");
    assert_eq!(output(&outputs, "decision"), "open");
    assert_eq!(output(&outputs, "lift"), format!("{lift:.2}"));
    assert_eq!(output(&outputs, "pr-url"), s["pr_url"].as_str().unwrap());
    assert!(
        summary.contains("speak: ") && summary.contains("opened"),
        "{summary}"
    );
    assert!(
        run.stderr.starts_with(&format!("::add-mask::{TOKEN}")),
        "{}",
        run.stderr
    );
    let shown = run.stderr.replacen(&format!("::add-mask::{TOKEN}"), "", 1);
    for text in [&run.stdout, &shown, &outputs, &summary] {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
    }
    assert!(!git(&f.bare, &["log", "-p", "--all"]).contains(TOKEN));

    // Again: the same PR updated, no second one, the branch not rewritten.
    let tip = git(&f.bare, &["rev-parse", "promptc/speak"]);
    let (run2, outputs2, _) = f.run(&f.work, &["ci", "--json", "--lm", "all=sim"], "push", &push);
    assert_eq!(run2.code, 0, "{}", run2.stderr);
    assert_eq!(run2.json()["signatures"][0]["status"], "updated");
    assert_eq!(output(&outputs2, "status"), "updated");
    assert_eq!(git(&f.bare, &["rev-parse", "promptc/speak"]), tip);
    let st = f.fake.state.lock().unwrap();
    assert!(st.violations.is_empty(), "{:#?}", st.violations);
    assert_eq!(st.pulls.len(), 1);
    assert_eq!(f.fake_patch_count(&st), 1);
    assert!(
        f.http
            .auth_headers
            .lock()
            .unwrap()
            .iter()
            .all(|h| h.starts_with("Basic "))
    );
}

impl Fixture {
    /// Replaces `from` with `to`, once, in the checkout's promptc.yaml.
    fn edit_config(&self, from: &str, to: &str) {
        let path = self.work.join("promptc.yaml");
        let cfg = std::fs::read_to_string(&path).unwrap();
        assert!(cfg.contains(from), "promptc.yaml has no `{from}`");
        std::fs::write(path, cfg.replacen(from, to, 1)).unwrap();
    }

    /// `ci` on a workflow_dispatch event with the simulator; exit 0 asserted.
    /// Returns the first signature's result.
    fn ci_sim(&self) -> Value {
        let (run, _, _) = self.dispatch(&["ci", "--json", "--lm", "all=sim"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.json()["signatures"][0].clone()
    }

    /// Runs promptc in the checkout on a workflow_dispatch event.
    fn dispatch(&self, args: &[&str]) -> (common::Run, String, String) {
        let event = self.event(
            "dispatch",
            json!({"inputs": {}, "repository": {"default_branch": "main"}}),
        );
        self.run(&self.work, args, "workflow_dispatch", &event)
    }

    fn fake_patch_count(&self, st: &common::fake_github::State) -> usize {
        st.requests.iter().filter(|r| r.method == "PATCH").count()
    }
}

#[test]
fn a_push_without_trace_changes_or_history_is_handled() {
    let f = fixture();
    // A push that touched only the README: a normal, quiet outcome.
    std::fs::write(f.work.join("README.md"), "# gossip\n").unwrap();
    git(&f.work, &["add", "README.md"]);
    git(&f.work, &["commit", "-q", "-m", "readme"]);
    let readme = git(&f.work, &["rev-parse", "HEAD"]);
    let push = f.event(
        "push",
        json!({"before": f.after, "after": readme, "repository": {"default_branch": "main"}}),
    );
    let (run, outputs, summary) =
        f.run(&f.work, &["ci", "--json", "--lm", "all=sim"], "push", &push);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = &run.json()["signatures"][0];
    assert_eq!(s["status"], "skipped");
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .contains("changed no trace file"),
        "{s}"
    );
    assert_eq!(output(&outputs, "status"), "skipped");
    assert!(summary.contains("changed no trace file"));
    assert!(f.fake.state.lock().unwrap().requests.is_empty());

    // A depth-1 checkout: the push range is not there, the pack's cutoff decides.
    git(
        &f.root,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &format!("file://{}", f.bare.display()),
            "shallow",
        ],
    );
    let shallow = f.root.join("shallow");
    git(
        &shallow,
        &["remote", "set-url", "origin", &f.http.url("gossip.git")],
    );
    let push = f.event(
        "push2",
        json!({"before": f.before, "after": f.after, "repository": {"default_branch": "main"}}),
    );
    let (run, outputs, _) = f.run(
        &shallow,
        &["ci", "--json", "--lm", "all=sim"],
        "push",
        &push,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = &run.json()["signatures"][0];
    assert_eq!(s["status"], "opened", "{s:#}");
    assert!(s["notes"][0].as_str().unwrap().contains("depth-1"), "{s}");
    assert_eq!(output(&outputs, "status"), "opened");
    assert_eq!(git(&shallow, &["status", "--porcelain"]), "");
}

#[test]
fn the_gate_not_met_is_a_normal_outcome() {
    let f = fixture();
    f.edit_config("min_threads: 48", "min_threads: 480");
    let (run, outputs, summary) = f.dispatch(&["ci", "--json", "--lm", "all=sim"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = &run.json()["signatures"][0];
    assert_eq!(s["status"], "gated");
    assert!(s["reason"].as_str().unwrap().contains("480"), "{s}");
    assert_eq!(output(&outputs, "status"), "gated");
    assert!(summary.contains("gated"));
    assert!(
        run.stderr.contains("::notice title=promptc"),
        "{}",
        run.stderr
    );
    // Before the gate it looked for an open pull request built on another
    // pack, and changed nothing.
    let st = f.fake.state.lock().unwrap();
    assert!(
        st.requests.iter().all(|r| r.method == "GET"),
        "{:?}",
        st.requests
    );
}

#[test]
fn dry_run_writes_the_plan_and_leaves_everything_as_it_was() {
    let f = fixture();
    let out = f.root.join("plan");
    let (run, _, _) = f.dispatch(&[
        "ci",
        "--json",
        "--dry-run",
        "--out",
        out.to_str().unwrap(),
        "--lm",
        "all=sim",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = &run.json()["signatures"][0];
    assert_eq!(s["status"], "dry-run");
    let plan: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("dry-run/speak/branch-plan.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(plan["git"]["branch"], "promptc/speak");
    assert_eq!(plan["git"]["files"], json!(["packs/speak.json"]));
    assert_eq!(
        plan["pull_request"]["title"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("speak")
    );
    let body = std::fs::read_to_string(out.join("dry-run/speak/pr-body.md")).unwrap();
    assert!(body.contains("| **overall** |"));
    // The body names the id of the pack it would ship, as `pack validate` computes it.
    let planned = out.join("dry-run/speak/files/packs/speak.json");
    let v = promptc_in(
        &f.work,
        &["pack", "validate", planned.to_str().unwrap(), "--json"],
    );
    let id = v.json()["id"].as_str().unwrap().to_string();
    assert!(body.contains(&format!("Pack id `{id}`")), "{id}\n{body}");
    // Nothing pushed, nothing posted, the checkout untouched.
    assert!(git(&f.bare, &["branch", "--list", "promptc/*"]).is_empty());
    assert!(f.fake.state.lock().unwrap().requests.is_empty());
    assert_eq!(git(&f.work, &["status", "--porcelain"]), "");
}

#[test]
fn review_posts_one_sticky_comment_and_updates_it() {
    let f = fixture();
    let base = git(&f.work, &["rev-parse", "HEAD"]);
    git(&f.work, &["checkout", "-q", "-b", "tweak"]);
    let path = f.work.join("packs/speak.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let pack: Value = serde_json::from_str(&text).unwrap();
    let old = serde_json::to_string(&pack["instructions"]).unwrap();
    std::fs::write(
        &path,
        text.replacen(&old, &serde_json::to_string(BETTER).unwrap(), 1),
    )
    .unwrap();
    git(
        &f.work,
        &["commit", "-q", "-am", "a better instruction, by hand"],
    );
    let head = git(&f.work, &["rev-parse", "HEAD"]);
    let number = f.fake.add_pull("tweak");
    let event = f.event(
        "pr",
        json!({"number": number, "pull_request": {"number": number, "base": {"sha": base, "ref": "main"}, "head": {"sha": head, "ref": "tweak"}},
               "repository": {"default_branch": "main"}}),
    );
    let (run, outputs, _) = f.run(
        &f.work,
        &["review", "--json", "--lm", "all=sim"],
        "pull_request",
        &event,
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let j = run.json();
    let p = &j["packs"][0];
    assert_eq!(p["path"], "packs/speak.json");
    assert!(p["lift"].as_f64().unwrap() > 0.0, "{p}");
    let url = p["comment_url"].as_str().unwrap().to_string();
    assert_eq!(output(&outputs, "comment-url"), url);

    let (run2, _, _) = f.run(
        &f.work,
        &[
            "review",
            "--json",
            "--base",
            &base,
            "--head",
            &head,
            "--pr",
            &number.to_string(),
            "--lm",
            "all=sim",
        ],
        "workflow_dispatch",
        &f.event("none", json!({})),
    );
    assert_eq!(run2.code, 0, "{}", run2.stderr);
    assert_eq!(run2.json()["packs"][0]["comment_url"], url.as_str());
    let st = f.fake.state.lock().unwrap();
    assert!(st.violations.is_empty(), "{:#?}", st.violations);
    assert_eq!(st.comments.len(), 1, "one sticky comment");
    let body = st.comments[0]["body"].as_str().unwrap();
    assert!(body.starts_with(promptc::github::REVIEW_MARKER));
    assert!(
        body.contains("| **overall** |") && body.contains("```diff"),
        "{body}"
    );
    assert_eq!(
        st.requests.iter().filter(|r| r.method == "PATCH").count(),
        1
    );
    assert_eq!(st.requests.iter().filter(|r| r.method == "POST").count(), 1);
}

#[test]
fn an_ab_skip_is_a_normal_outcome_with_its_reason() {
    let f = fixture();
    // The candidate is better, but not by the 50 points this policy demands.
    f.edit_config("min_lift: 0.0", "min_lift: 50.0");
    let (run, outputs, summary) = f.dispatch(&["ci", "--json", "--lm", "all=sim"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = &run.json()["signatures"][0];
    assert_eq!(s["status"], "skipped", "{s:#}");
    assert_eq!(s["decision"], "skip");
    assert!(
        s["lift"].as_f64().unwrap() > 0.0,
        "the measured lift is still reported"
    );
    assert!(
        s["reason"].as_str().unwrap().contains("A/B decided skip"),
        "{s}"
    );
    assert_eq!(output(&outputs, "decision"), "skip");
    assert!(summary.contains("The A/B report"), "{summary}");
    assert!(git(&f.bare, &["branch", "--list", "promptc/*"]).is_empty());
    // It looked for an open pull request to withdraw, and changed nothing.
    let st = f.fake.state.lock().unwrap();
    assert!(
        st.requests.iter().all(|r| r.method == "GET"),
        "{:?}",
        st.requests
    );
    assert!(st.pulls.is_empty() && st.comments.is_empty());
}

#[test]
fn a_skip_after_an_open_turns_the_pull_request_into_a_draft_with_the_new_evidence() {
    let f = fixture();
    let (run, _, _) = f.dispatch(&["ci", "--json", "--lm", "all=sim"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["signatures"][0]["status"], "opened");
    // The next run asks for more than the candidate gives: it no longer supports the PR.
    f.edit_config("min_lift: 0.0", "min_lift: 50.0");
    let (run, outputs, _) = f.dispatch(&["ci", "--json", "--lm", "all=sim"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = &run.json()["signatures"][0];
    assert_eq!(s["status"], "skipped", "{s:#}");
    assert!(s["notes"].to_string().contains("is a draft now"), "{s:#}");
    assert!(!output(&outputs, "pr-url").is_empty());
    let st = f.fake.state.lock().unwrap();
    assert_eq!(st.pulls.len(), 1, "the same pull request, not a new one");
    let pr = &st.pulls[0];
    assert_eq!(pr["draft"], true, "{pr:#}");
    assert!(
        pr["title"]
            .as_str()
            .unwrap()
            .starts_with("[not supported] speak:"),
        "{pr:#}"
    );
    let body = pr["body"].as_str().unwrap();
    assert!(
        body.contains("no longer supports this pull request: A/B decided skip"),
        "{body}"
    );
    let stale: Vec<_> = st
        .comments
        .iter()
        .filter(|c| {
            c["body"]
                .as_str()
                .unwrap_or("")
                .contains("<!-- promptc:stale -->")
        })
        .collect();
    assert_eq!(stale.len(), 1, "{:?}", st.comments);
    assert!(st.violations.is_empty(), "{:?}", st.violations);
}

#[test]
fn publishing_without_a_token_or_from_another_branch_says_why() {
    let f = fixture();
    let push = f.event(
        "push",
        json!({"before": f.before, "after": f.after, "repository": {"default_branch": "main"}}),
    );
    // No token: a usage error (exit 2) that names the variable, before any work.
    let run = promptc_env(
        &f.work,
        &["ci", "--lm", "all=sim", "--repository", "acme/gossip"],
        &[
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_EVENT_PATH", push.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("GITHUB_TOKEN"), "{}", run.stderr);
    assert!(!f.work.join(".promptc").exists(), "no work was done");

    // A push to a feature branch: the default branch's traces are what count.
    let (run, outputs, _) = f.run(
        &f.work,
        &[
            "ci",
            "--json",
            "--lm",
            "all=sim",
            "--ref",
            "refs/heads/feature",
        ],
        "push",
        &push,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = &run.json()["signatures"][0];
    assert_eq!(s["status"], "skipped");
    assert!(
        s["reason"].as_str().unwrap().contains("refs/heads/feature"),
        "{s}"
    );
    assert_eq!(output(&outputs, "status"), "skipped");
    assert!(f.fake.state.lock().unwrap().requests.is_empty());
}

#[test]
fn one_budget_covers_the_optimizer_and_the_ab() {
    let (_d, repo) = common::example_copy();
    // Enough for the optimizer (about 3,000 calls here), not for the A/B after it.
    let run = promptc_env(
        &repo,
        &[
            "ci",
            "--json",
            "--dry-run",
            "--lm",
            "all=sim",
            "--max-calls",
            "3100",
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let s = &run.json()["signatures"][0];
    assert_eq!(s["status"], "failed");
    let reason = s["reason"].as_str().unwrap();
    assert!(
        reason.contains("budget exhausted") && reason.contains("3100"),
        "{reason}"
    );
    assert!(
        !repo.join(".promptc/ci/dry-run").exists(),
        "no plan without an A/B"
    );
}

#[test]
fn review_reports_a_pack_that_does_not_load_instead_of_failing() {
    let f = fixture();
    let base = git(&f.work, &["rev-parse", "HEAD"]);
    git(&f.work, &["checkout", "-q", "-b", "broken"]);
    let path = f.work.join("packs/speak.json");
    let text = std::fs::read_to_string(&path).unwrap();
    // A demo tagged with a move the signature does not have.
    let broken = text.replacen(
        "\"rhetorical_move\": \"probe\"",
        "\"rhetorical_move\": \"filibuster\"",
        1,
    );
    assert_ne!(broken, text, "the example pack has a probe demo");
    std::fs::write(&path, broken).unwrap();
    git(&f.work, &["commit", "-q", "-am", "a demo with a bad move"]);
    let head = git(&f.work, &["rev-parse", "HEAD"]);
    let out = f.root.join("review-out");
    let run = promptc_env(
        &f.work,
        &[
            "review",
            "--json",
            "--dry-run",
            "--base",
            &base,
            "--head",
            &head,
            "--out",
            out.to_str().unwrap(),
            "--lm",
            "all=sim",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let p = &run.json()["packs"][0];
    assert!(p["lift"].is_null());
    let note = p["note"].as_str().unwrap();
    assert!(
        note.contains("filibuster") && note.contains("packs/speak.json @"),
        "{note}"
    );
    assert!(
        !note.contains("head.json"),
        "the temp file is not named: {note}"
    );
    let comment = std::fs::read_to_string(out.join("review/comment.md")).unwrap();
    assert!(
        comment.contains("Not compared") && comment.contains("filibuster"),
        "{comment}"
    );
}

#[test]
fn the_report_is_committed_beside_the_pack_when_configured() {
    let f = fixture();
    f.edit_config("github:\n", "github:\n  report_path: reports/{signature}.md\n  author_name: prompt-bot\n  author_email: prompt-bot@example.test\n  draft: always\n");
    let (run, _, _) = f.dispatch(&["ci", "--json", "--lm", "all=sim"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["signatures"][0]["status"], "opened");
    assert_eq!(
        git(&f.bare, &["diff", "--name-only", "main", "promptc/speak"]),
        "packs/speak.json\nreports/speak.md"
    );
    let report = git(&f.bare, &["show", "promptc/speak:reports/speak.md"]);
    assert!(report.contains("| **overall** |"), "{report}");
    assert_eq!(
        git(
            &f.bare,
            &["log", "-1", "--format=%an <%ae>", "promptc/speak"]
        ),
        "prompt-bot <prompt-bot@example.test>"
    );
    assert_eq!(
        f.fake.state.lock().unwrap().pulls[0]["draft"],
        true,
        "github.draft: always"
    );
    // A re-run with the same result: the report alone does not move the branch.
    let tip = git(&f.bare, &["rev-parse", "promptc/speak"]);
    let (run, _, _) = f.dispatch(&["ci", "--json", "--lm", "all=sim"]);
    assert_eq!(run.json()["signatures"][0]["status"], "updated");
    assert_eq!(git(&f.bare, &["rev-parse", "promptc/speak"]), tip);
}

#[test]
fn a_broken_pack_fails_its_signature_as_an_input_error() {
    let (_d, repo) = common::example_copy();
    let pack = repo.join("packs/speak.json");
    let text = std::fs::read_to_string(&pack).unwrap();
    std::fs::write(&pack, &text[..text.len() / 2]).unwrap();
    let run = promptc_env(
        &repo,
        &["ci", "--json", "--dry-run", "--lm", "all=sim"],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let s = &run.json()["signatures"][0];
    assert_eq!(s["status"], "failed");
    assert!(
        s["reason"].as_str().unwrap().contains("packs/speak.json"),
        "{s}"
    );
}

#[test]
fn each_signature_runs_on_its_own_and_the_outputs_name_the_pr() {
    let f = fixture();
    // A second signature, started with `init`, that has no traces yet.
    let init = common::promptc_in(&f.work, &["init", "--name", "answer"]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    f.edit_config("signatures:\n", "signatures:\n  answer:\n    signature: prompts/answer/signature.yaml\n    pack: packs/answer.json\n    traces: [\"traces/answer/*.jsonl\"]\n    metric: prompts/answer/metric.yaml\n");
    let (run, outputs, summary) = f.dispatch(&["ci", "--json", "--lm", "all=sim"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sigs = run.json()["signatures"].clone();
    assert_eq!(sigs[0]["name"], "answer");
    assert_eq!(sigs[0]["status"], "gated");
    assert!(
        sigs[0]["reason"]
            .as_str()
            .unwrap()
            .contains("traces/answer/*.jsonl")
    );
    assert_eq!(sigs[1]["name"], "speak");
    assert_eq!(sigs[1]["status"], "opened");
    // The single-valued outputs describe the pull request; all results are in `signatures`.
    assert_eq!(output(&outputs, "status"), "opened");
    assert_eq!(
        output(&outputs, "pr-url"),
        sigs[1]["pr_url"].as_str().unwrap()
    );
    let all: Value = serde_json::from_str(&output(&outputs, "signatures")).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert!(
        summary.contains("`answer`: gated") && summary.contains("`speak`: ["),
        "{summary}"
    );
}

#[test]
fn a_candidate_a_person_closed_unmerged_is_not_proposed_again() {
    let f = fixture();
    assert_eq!(f.ci_sim()["status"], "opened");
    let tip = git(&f.bare, &["rev-parse", "promptc/speak"]);
    // A reviewer closes it without merging.
    f.fake.state.lock().unwrap().pulls[0]["state"] = json!("closed");
    let s = &f.ci_sim();
    assert_eq!(s["status"], "skipped", "{s:#}");
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .contains("without merging it; promptc does not propose it again"),
        "{s:#}"
    );
    let st = f.fake.state.lock().unwrap();
    assert_eq!(st.pulls.len(), 1, "no new pull request");
    assert_eq!(
        git(&f.bare, &["rev-parse", "promptc/speak"]),
        tip,
        "nothing pushed"
    );
    assert!(st.violations.is_empty(), "{:?}", st.violations);
}

#[test]
fn a_pull_request_built_on_a_pack_changed_since_is_closed() {
    let f = fixture();
    assert_eq!(f.ci_sim()["status"], "opened");
    {
        let st = f.fake.state.lock().unwrap();
        assert!(
            st.pulls[0]["body"]
                .as_str()
                .unwrap()
                .contains("<!-- promptc:base-pack ")
        );
    }
    // Someone changes today's pack on the default branch (here: its bytes only).
    let pack = f.work.join("packs/speak.json");
    let text = std::fs::read_to_string(&pack).unwrap();
    std::fs::write(&pack, format!("{text}\n")).unwrap();
    git(&f.work, &["commit", "-q", "-am", "a hand edit to the pack"]);
    // The next run would not publish anything (the policy asks for +50), but
    // the open pull request is built on the old pack: it is closed, with why.
    f.edit_config("min_lift: 0.0", "min_lift: 50.0");
    let s = &f.ci_sim();
    assert!(
        s["notes"]
            .to_string()
            .contains("built against another version of today's pack"),
        "{s:#}"
    );
    let st = f.fake.state.lock().unwrap();
    assert_eq!(st.pulls[0]["state"], "closed", "{:#}", st.pulls[0]);
    assert!(
        st.comments.iter().any(|c| c["body"]
            .as_str()
            .unwrap_or("")
            .contains("would undo that change")),
        "{:?}",
        st.comments
    );
    assert!(st.violations.is_empty(), "{:?}", st.violations);
}

#[test]
fn an_unchanged_pack_leaves_the_open_pull_request_alone() {
    let f = fixture();
    assert_eq!(f.ci_sim()["status"], "opened");
    assert_eq!(f.ci_sim()["status"], "updated");
    let st = f.fake.state.lock().unwrap();
    assert_eq!(st.pulls.len(), 1);
    assert_eq!(st.pulls[0]["state"], "open");
}

/// The look ledger's lines for `speak` on the remote.
fn ledger(bare: &Path) -> Vec<Value> {
    git(bare, &["show", "refs/promptc/looks:speak.jsonl"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn each_run_is_counted_as_a_look_and_a_changed_pack_restarts_the_count() {
    let f = fixture();
    let first = f.ci_sim();
    assert_eq!(first["status"], "opened");
    assert_eq!(first["look"], 1);
    let looks = ledger(&f.bare);
    assert_eq!(looks.len(), 1, "{looks:?}");
    assert_eq!(looks[0]["look"], 1);
    assert_eq!(looks[0]["decision"], "open");
    let base = looks[0]["base_pack"].as_str().unwrap().to_string();
    assert!(
        base.len() == 64 && base.bytes().all(|b| b.is_ascii_hexdigit()),
        "the pack file's sha256: {base}"
    );

    // A re-run (the same candidate on the same traces) is the same look again.
    let again = f.ci_sim();
    assert_eq!(again["look"], 1, "{again:#}");
    assert!(
        again["notes"].to_string().contains("the same look again"),
        "{again:#}"
    );
    assert_eq!(ledger(&f.bare).len(), 1);

    // Another candidate is a second look: it needs the wider interval, and its report says so.
    f.edit_config("name: mipro\n  seed: 7", "name: mipro\n  seed: 8");
    let second = f.ci_sim();
    assert_eq!(second["look"], 2, "{second:#}");
    let looks = ledger(&f.bare);
    assert_eq!(looks.len(), 2);
    assert_eq!(looks[1]["look"], 2);
    assert_eq!(looks[1]["base_pack"], base.as_str());
    {
        let st = f.fake.state.lock().unwrap();
        let body = st.pulls[0]["body"].as_str().unwrap();
        assert!(body.contains("the 99.24% interval"), "{body}");
        assert!(body.contains("look 2 at today"), "{body}");
    }
    // The ledger is a ref of its own: no branch, and main untouched.
    assert!(!git(&f.bare, &["branch", "--list"]).contains("looks"));
    assert_eq!(
        git(&f.bare, &["log", "-1", "--format=%B", "refs/promptc/looks"])
            .lines()
            .last(),
        Some("Generated-by: promptc")
    );

    // Today's pack changes: the looks at the old one no longer count.
    let pack = f.work.join("packs/speak.json");
    let text = std::fs::read_to_string(&pack).unwrap();
    std::fs::write(&pack, format!("{text}\n")).unwrap();
    git(&f.work, &["commit", "-q", "-am", "a hand edit to the pack"]);
    let third = f.ci_sim();
    assert_eq!(third["look"], 1, "{third:#}");
    let looks = ledger(&f.bare);
    assert_eq!(looks.len(), 1, "{looks:?}");
    assert_ne!(looks[0]["base_pack"], base.as_str());
}

#[test]
fn a_ledger_that_does_not_parse_stops_the_decision_and_names_the_line() {
    let f = fixture();
    // Someone wrote to promptc's ref by hand.
    let blob = {
        let path = f.root.join("bad.jsonl");
        std::fs::write(&path, "{\"look\": \"many\"}\n").unwrap();
        git(&f.bare, &["hash-object", "-w", path.to_str().unwrap()])
    };
    let tree = {
        let mut cmd = std::process::Command::new("git");
        cmd.args(["mktree"]).current_dir(&f.bare);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write as _;
        writeln!(
            child.stdin.take().unwrap(),
            "100644 blob {blob}\tspeak.jsonl"
        )
        .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string()
    };
    let commit = git(&f.bare, &["commit-tree", &tree, "-m", "by hand"]);
    git(&f.bare, &["update-ref", "refs/promptc/looks", &commit]);

    let (run, _, _) = f.dispatch(&["ci", "--json", "--lm", "all=sim"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    let s = &run.json()["signatures"][0];
    assert_eq!(s["status"], "failed", "{s:#}");
    let reason = s["reason"].as_str().unwrap();
    assert!(
        reason.contains("refs/promptc/looks:speak.jsonl line 1:"),
        "{reason}"
    );
    let st = f.fake.state.lock().unwrap();
    assert!(st.pulls.is_empty(), "nothing is published");
    assert_eq!(git(&f.bare, &["rev-parse", "refs/promptc/looks"]), commit);
}

#[test]
fn after_a_merge_the_realized_lift_is_in_the_summary_and_on_the_pull_request_once() {
    let f = fixture();
    assert_eq!(f.ci_sim()["status"], "opened");
    // A person merges it: main now serves the candidate.
    f.fake.state.lock().unwrap().pulls[0]["state"] = json!("closed");
    f.fake.state.lock().unwrap().pulls[0]["merged_at"] = json!("2026-11-30T12:00:00Z");
    git(
        &f.bare,
        &["update-ref", "refs/heads/main", "refs/heads/promptc/speak"],
    );
    let bare_url = format!("file://{}", f.bare.display());
    git(&f.work, &["pull", "-q", "--ff-only", &bare_url, "main"]);
    // December's traffic, served by the merged pack (its id in every line's `pack`).
    let merged = promptc::pack::load(&f.work.join("packs/speak.json"), None)
        .unwrap()
        .pack
        .id()
        .0;
    let december =
        std::fs::read_to_string(example().join("deployed/traces/2026-12.jsonl")).unwrap();
    let served: String = december
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v["pack"] = Value::String(merged.clone());
            format!("{v}\n")
        })
        .collect();
    std::fs::write(f.work.join("traces/2026-12.jsonl"), served).unwrap();
    git(&f.work, &["add", "-A"]);
    git(&f.work, &["commit", "-q", "-m", "December's traces"]);

    let (run, _, summary) = f.dispatch(&["ci", "--json", "--lm", "all=sim"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = &run.json()["signatures"][0];
    let realized = &s["realized"];
    assert_eq!(realized["current"], merged.as_str(), "{s:#}");
    assert!(realized["adjusted"]["lift"].as_f64().is_some(), "{s:#}");
    assert_eq!(realized["verdict"], "below_prediction", "{s:#}");
    assert!(summary.contains("### Realized lift · `speak`"), "{summary}");
    assert!(summary.contains("predicted +"), "{summary}");
    let comments = |st: &common::fake_github::State| -> Vec<Value> {
        st.comments
            .iter()
            .filter(|c| {
                c["body"]
                    .as_str()
                    .unwrap_or("")
                    .contains("<!-- promptc:realized -->")
            })
            .cloned()
            .collect()
    };
    {
        let st = f.fake.state.lock().unwrap();
        let found = comments(&st);
        assert_eq!(found.len(), 1, "{:?}", st.comments);
        assert!(found[0]["body"].as_str().unwrap().contains("Realized lift"));
        assert!(st.violations.is_empty(), "{:?}", st.violations);
    }
    // The next run updates the same comment.
    let (run, _, _) = f.dispatch(&["ci", "--json", "--lm", "all=sim"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let st = f.fake.state.lock().unwrap();
    assert_eq!(comments(&st).len(), 1, "{:?}", st.comments);
}
