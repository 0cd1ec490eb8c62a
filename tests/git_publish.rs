//! Publishing promptc's rolling branch with git2, against real repositories:
//! a bare remote over file:// and over smart HTTP with basic auth.

mod common;

use std::path::{Path, PathBuf};

use common::git_http::{GitHttp, git, repo_with};
use promptc::git::{GitError, Publish, Repo, TRAILER};
use promptc::lm::secret::Secret;

const PACK: &str = "packs/speak.json";

fn publish_req<'a>(files: &'a [(PathBuf, Vec<u8>)], token: Option<&'a Secret>) -> Publish<'a> {
    Publish {
        remote: "origin",
        base_branch: "main",
        branch: "promptc/speak",
        files,
        message: "chore(promptc): update the speak pack\n\nHeld-out A/B: +3.1",
        author_name: "promptc-bot",
        author_email: "bot@example.test",
        token,
        equivalent: None,
        expect: &[],
    }
}

fn files(text: &str) -> Vec<(PathBuf, Vec<u8>)> {
    vec![(PathBuf::from(PACK), text.as_bytes().to_vec())]
}

fn bare(root: &Path) -> PathBuf {
    root.join("remote.git")
}

#[test]
fn publishing_over_file_url_touches_only_promptcs_branch() {
    let dir = tempfile::tempdir().unwrap();
    let work = repo_with(
        dir.path(),
        &[(PACK, "{\"old\": true}\n"), ("README.md", "hi\n")],
    );
    let main_before = git(&bare(dir.path()), &["rev-parse", "main"]);
    let head_before = git(&work, &["rev-parse", "HEAD"]);

    let repo = Repo::discover(&work).unwrap();
    let f = files("{\"new\": true}\n");
    let p = repo.publish(&publish_req(&f, None)).unwrap();
    assert_eq!(p.branch, "promptc/speak");
    assert!(p.pushed);
    assert!(p.moved.is_none());

    let remote = bare(dir.path());
    assert_eq!(git(&remote, &["rev-parse", "promptc/speak"]), p.commit);
    assert_eq!(git(&remote, &["rev-parse", "promptc/speak^"]), main_before);
    assert_eq!(
        git(&remote, &["show", &format!("promptc/speak:{PACK}")]),
        "{\"new\": true}"
    );
    // Only the pack changed; README came along from main.
    assert_eq!(
        git(&remote, &["diff", "--name-only", "main", "promptc/speak"]),
        PACK
    );
    assert_eq!(
        git(
            &remote,
            &["log", "-1", "--format=%an <%ae>|%cn <%ce>", "promptc/speak"]
        ),
        "promptc-bot <bot@example.test>|promptc-bot <bot@example.test>"
    );
    let msg = git(&remote, &["log", "-1", "--format=%B", "promptc/speak"]);
    assert!(
        msg.starts_with("chore(promptc): update the speak pack"),
        "{msg}"
    );
    assert!(msg.trim_end().ends_with(TRAILER), "{msg}");

    // The default branch, the checkout and its files are as they were.
    assert_eq!(git(&remote, &["rev-parse", "main"]), main_before);
    assert_eq!(git(&work, &["rev-parse", "HEAD"]), head_before);
    assert_eq!(git(&work, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(work.join(PACK)).unwrap(),
        "{\"old\": true}\n"
    );
    assert_eq!(git(&work, &["branch", "--list"]), "* main");
}

#[test]
fn reruns_rewrite_promptcs_own_branch_but_never_a_foreign_commit() {
    let dir = tempfile::tempdir().unwrap();
    let work = repo_with(dir.path(), &[(PACK, "v0\n")]);
    let remote = bare(dir.path());
    let repo = Repo::discover(&work).unwrap();

    let first = repo.publish(&publish_req(&files("v1\n"), None)).unwrap();
    // The same change again: nothing to push.
    let same = repo.publish(&publish_req(&files("v1\n"), None)).unwrap();
    assert!(!same.pushed);
    assert_eq!(same.commit, first.commit);
    // A new candidate replaces promptc's own commit: still one commit on main.
    let second = repo.publish(&publish_req(&files("v2\n"), None)).unwrap();
    assert!(second.pushed);
    assert_eq!(second.branch, "promptc/speak");
    assert_ne!(second.commit, first.commit);
    assert_eq!(
        git(&remote, &["rev-list", "--count", "main..promptc/speak"]),
        "1"
    );

    // A person pushes a fix-up onto promptc's branch.
    let human = dir.path().join("human");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "-b",
            "promptc/speak",
            &format!("file://{}", remote.display()),
            "human",
        ],
    );
    std::fs::write(human.join(PACK), "v2 with a human fix\n").unwrap();
    git(&human, &["commit", "-q", "-am", "tweak the pack by hand"]);
    git(&human, &["push", "-q", "origin", "promptc/speak"]);
    let human_tip = git(&remote, &["rev-parse", "promptc/speak"]);

    let third = repo.publish(&publish_req(&files("v3\n"), None)).unwrap();
    assert_eq!(third.branch, "promptc/speak-2");
    let why = third.moved.expect("the move is explained");
    assert!(
        why.contains("promptc/speak") && why.contains("Test Setup"),
        "{why}"
    );
    // The person's work is untouched.
    assert_eq!(git(&remote, &["rev-parse", "promptc/speak"]), human_tip);
    assert_eq!(
        git(&remote, &["show", &format!("promptc/speak-2:{PACK}")]),
        "v3"
    );
    // The next run keeps using the fresh branch, rewriting it in place.
    let fourth = repo.publish(&publish_req(&files("v4\n"), None)).unwrap();
    assert_eq!(fourth.branch, "promptc/speak-2");
    assert_eq!(
        git(&remote, &["rev-list", "--count", "main..promptc/speak-2"]),
        "1"
    );
    assert_eq!(git(&remote, &["rev-parse", "promptc/speak"]), human_tip);
}

#[test]
fn publishing_over_smart_http_authenticates_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let work = repo_with(dir.path(), &[(PACK, "v0\n")]);
    let token = "ghs_smartHttpToken0123456789";
    let server = GitHttp::start(dir.path(), "x-access-token", token);
    git(
        &work,
        &["remote", "set-url", "origin", &server.url("remote.git")],
    );
    let repo = Repo::discover(&work).unwrap();

    // No token: a clear error, nothing pushed.
    let err = match repo.publish(&publish_req(&files("v1\n"), None)) {
        Err(e) => e.to_string(),
        Ok(p) => panic!("pushed without a token: {p:?}"),
    };
    assert!(err.contains("no token was given"), "{err}");

    // A wrong token: refused once, not retried forever, and never printed.
    let wrong = Secret::new("ghs_wrongToken9876543210".into());
    let err = match repo.publish(&publish_req(&files("v1\n"), Some(&wrong))) {
        Err(e) => e.to_string(),
        Ok(p) => panic!("pushed with a wrong token: {p:?}"),
    };
    assert!(err.contains("refused the token"), "{err}");
    assert!(!err.contains("ghs_wrongToken"), "{err}");
    let refusals = server.refused.load(std::sync::atomic::Ordering::SeqCst);
    assert!(refusals <= 3, "{refusals} refused requests: a retry loop");

    let good = Secret::new(token.into());
    let p = repo
        .publish(&publish_req(&files("v1\n"), Some(&good)))
        .unwrap();
    assert!(p.pushed);
    let remote = bare(dir.path());
    assert_eq!(git(&remote, &["rev-parse", "promptc/speak"]), p.commit);
    assert_eq!(
        git(&remote, &["log", "-1", "--format=%an", "promptc/speak"]),
        "promptc-bot"
    );
    assert_eq!(
        git(&remote, &["rev-list", "--count", "main..promptc/speak"]),
        "1"
    );
    let expected = format!(
        "Basic {}",
        common::git_http::base64(format!("x-access-token:{token}").as_bytes())
    );
    assert!(server.auth_headers.lock().unwrap().contains(&expected));
}

#[test]
fn a_depth_one_checkout_has_no_push_range_but_still_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let _full = repo_with(dir.path(), &[(PACK, "v0\n")]);
    let remote = bare(dir.path());
    // A second commit on main, so a push range exists upstream.
    let extra = dir.path().join("extra");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            &format!("file://{}", remote.display()),
            "extra",
        ],
    );
    std::fs::write(extra.join("traces.jsonl"), "{}\n").unwrap();
    git(&extra, &["add", "-A"]);
    git(&extra, &["commit", "-q", "-m", "new traces"]);
    git(&extra, &["push", "-q", "origin", "main"]);
    let before = git(&extra, &["rev-parse", "HEAD^"]);
    let after = git(&extra, &["rev-parse", "HEAD"]);

    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &format!("file://{}", remote.display()),
            "shallow",
        ],
    );
    let shallow = dir.path().join("shallow");
    let repo = Repo::discover(&shallow).unwrap();
    match repo.changed_files(&before, &after) {
        Err(GitError::MissingHistory { rev }) => assert_eq!(rev, before),
        other => panic!("expected missing history, got {other:?}"),
    }
    // With history the same question has an answer.
    let full = Repo::discover(&extra).unwrap();
    assert_eq!(
        full.changed_files(&before, &after).unwrap(),
        vec![PathBuf::from("traces.jsonl")]
    );

    let p = repo.publish(&publish_req(&files("v1\n"), None)).unwrap();
    assert_eq!(git(&remote, &["rev-parse", "promptc/speak^"]), after);
    assert_eq!(p.base_commit, after);
}

#[test]
fn a_pack_changed_on_main_since_the_run_read_it_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let work = repo_with(dir.path(), &[(PACK, "v0\n")]);
    let remote = bare(dir.path());
    // Someone edits the pack on main after this checkout was made.
    let other = dir.path().join("other");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            &format!("file://{}", remote.display()),
            "other",
        ],
    );
    std::fs::write(other.join(PACK), "v0 edited by a person\n").unwrap();
    git(&other, &["commit", "-q", "-am", "edit the pack"]);
    git(&other, &["push", "-q", "origin", "main"]);

    let repo = Repo::discover(&work).unwrap();
    let f = files("v1\n");
    let read = vec![(PathBuf::from(PACK), Some(b"v0\n".to_vec()))];
    let req = Publish {
        expect: &read,
        ..publish_req(&f, None)
    };
    match repo.publish(&req) {
        Err(GitError::Stale { path, branch }) => {
            assert_eq!(path, PathBuf::from(PACK));
            assert_eq!(branch, "main");
        }
        other => panic!("expected a stale pack, got {other:?}"),
    }
    assert!(git(&remote, &["branch", "--list", "promptc/*"]).is_empty());
    // As read, it publishes.
    let fresh = vec![(
        PathBuf::from(PACK),
        Some(b"v0 edited by a person\n".to_vec()),
    )];
    let req = Publish {
        expect: &fresh,
        ..publish_req(&f, None)
    };
    assert!(repo.publish(&req).unwrap().pushed);
}
