//! promptc's GitHub client against a fake GitHub whose every request is
//! checked against GitHub's OpenAPI description.

mod common;

use common::fake_github::{FakeGithub, Request, validate};
use promptc::github::{Github, PrContent, REVIEW_MARKER};
use promptc::lm::secret::Secret;
use serde_json::{Value, json};

fn spec() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(common::root().join("tests/data/github-openapi-subset.json"))
            .unwrap(),
    )
    .unwrap()
}

fn req(method: &str, path: &str, query: &[(&str, &str)], body: Option<Value>) -> Request {
    Request {
        method: method.into(),
        path: path.into(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body,
        authorization: Some("Bearer x".into()),
    }
}

#[test]
fn the_validator_rejects_what_github_does_not_document() {
    let s = spec();
    // octocrab's update_comment: POST where GitHub documents PATCH.
    let v = validate(
        &s,
        "",
        &req(
            "POST",
            "/repos/acme/gossip/issues/comments/5",
            &[],
            Some(json!({"body": "x"})),
        ),
        10,
    );
    assert!(v.len() == 1 && v[0].contains("documents no POST"), "{v:?}");
    // A create without `head`.
    let v = validate(
        &s,
        "",
        &req(
            "POST",
            "/repos/acme/gossip/pulls",
            &[],
            Some(json!({"title": "t", "base": "main"})),
        ),
        10,
    );
    assert!(v.iter().any(|m| m.contains("`head` is missing")), "{v:?}");
    // A bad enum in the query, an unknown query key, a non-integer number.
    let v = validate(
        &s,
        "",
        &req(
            "GET",
            "/repos/acme/gossip/pulls",
            &[("state", "opened"), ("hed", "x")],
            None,
        ),
        0,
    );
    assert_eq!(v.len(), 2, "{v:?}");
    let v = validate(
        &s,
        "",
        &req(
            "PATCH",
            "/repos/acme/gossip/pulls/abc",
            &[],
            Some(json!({})),
        ),
        2,
    );
    assert!(v.iter().any(|m| m.contains("pull_number")), "{v:?}");
    // An empty label list, and a path GitHub does not have.
    let v = validate(
        &s,
        "",
        &req(
            "POST",
            "/repos/acme/gossip/issues/3/labels",
            &[],
            Some(json!({"labels": []})),
        ),
        13,
    );
    assert!(!v.is_empty(), "{v:?}");
    let v = validate(
        &s,
        "",
        &req("GET", "/repos/acme/gossip/pulls/3/commentz", &[], None),
        0,
    );
    assert!(v[0].contains("no such path"), "{v:?}");
    // What promptc sends is fine.
    let v = validate(
        &s,
        "/api/v3",
        &req(
            "GET",
            "/api/v3/repos/acme/gossip/pulls",
            &[
                ("state", "open"),
                ("head", "acme:promptc/speak"),
                ("per_page", "100"),
            ],
            None,
        ),
        0,
    );
    assert!(v.is_empty(), "{v:?}");
}

fn content<'a>(
    title: &'a str,
    body: &'a str,
    labels: &'a [String],
    reviewers: &'a [String],
) -> PrContent<'a> {
    PrContent {
        head_branch: "promptc/speak",
        base_branch: "main",
        title,
        body,
        draft: false,
        labels,
        reviewers,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_pull_request_per_branch_created_then_updated_on_enterprise_paths() {
    let fake = FakeGithub::start("/api/v3");
    // A person's open PR: a head filter GitHub ignored would return it.
    fake.add_pull("feature/tweak");
    let gh = Github::new(
        &fake.api_url(),
        "acme/gossip",
        &Secret::new("ghs_fakeToken000111".into()),
    )
    .unwrap();
    let labels = vec!["promptc".to_string(), "prompts".to_string()];
    let reviewers = vec!["octocat".to_string()];

    let pr = gh
        .upsert_pr(&content(
            "speak: +1.3 on 64 fresh turns",
            "body one",
            &labels,
            &reviewers,
        ))
        .await
        .unwrap();
    assert!(pr.created);
    let again = gh
        .upsert_pr(&content(
            "speak: +2.0 on 70 fresh turns",
            "body two",
            &labels,
            &reviewers,
        ))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.number, pr.number);
    assert_eq!(again.url, pr.url);

    let st = fake.state.lock().unwrap();
    assert!(st.violations.is_empty(), "{:#?}", st.violations);
    let ours: Vec<&Value> = st
        .pulls
        .iter()
        .filter(|p| p["head"]["ref"] == "promptc/speak")
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0]["title"], "speak: +2.0 on 70 fresh turns");
    assert_eq!(ours[0]["body"], "body two");
    assert_eq!(ours[0]["labels"].as_array().unwrap().len(), 2);
    assert_eq!(ours[0]["requested_reviewers"][0]["login"], "octocat");
    // The person's PR was not touched.
    assert_eq!(st.pulls[0]["title"], "a person's change");
    // Updates went out as PATCH, the list calls carried `owner:branch`.
    assert!(st.requests.iter().all(|r| r.path.starts_with("/api/v3/")));
    assert_eq!(
        st.requests.iter().filter(|r| r.method == "PATCH").count(),
        1
    );
    let heads: Vec<&String> = st
        .requests
        .iter()
        .flat_map(|r| r.query.iter().filter(|(k, _)| k == "head").map(|(_, v)| v))
        .collect();
    assert!(
        !heads.is_empty() && heads.iter().all(|h| *h == "acme:promptc/speak"),
        "{heads:?}"
    );
    assert!(st.requests.iter().all(|r| {
        r.authorization
            .as_deref()
            .is_some_and(|a| a.contains("ghs_fakeToken000111"))
    }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_that_succeeded_behind_a_5xx_is_found_and_updated() {
    let fake = FakeGithub::start("");
    fake.state.lock().unwrap().create_then_502 = true;
    let gh = Github::new(
        &fake.api_url(),
        "acme/gossip",
        &Secret::new("ghs_fakeToken000111".into()),
    )
    .unwrap();
    let pr = gh
        .upsert_pr(&content(
            "speak: +1.3 on 64 fresh turns",
            "the body",
            &[],
            &[],
        ))
        .await
        .unwrap();
    let st = fake.state.lock().unwrap();
    assert!(st.violations.is_empty(), "{:#?}", st.violations);
    assert_eq!(st.pulls.len(), 1, "a second pull request was made");
    assert_eq!(pr.number, st.pulls[0]["number"].as_u64().unwrap());
    assert_eq!(st.pulls[0]["body"], "the body");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_review_comment_is_sticky() {
    let fake = FakeGithub::start("");
    let n = fake.add_pull("feature/tweak");
    let gh = Github::new(
        &fake.api_url(),
        "acme/gossip",
        &Secret::new("ghs_fakeToken000111".into()),
    )
    .unwrap();
    // Someone else's comment first.
    fake.state
        .lock()
        .unwrap()
        .comments
        .push(common::fake_github::comment(fake.port, 1, n, "looks good"));
    let first = gh.upsert_sticky_comment(n, "## review one").await.unwrap();
    let second = gh.upsert_sticky_comment(n, "## review two").await.unwrap();
    assert_eq!(first, second);
    let st = fake.state.lock().unwrap();
    assert!(st.violations.is_empty(), "{:#?}", st.violations);
    let ours: Vec<&Value> = st
        .comments
        .iter()
        .filter(|c| c["body"].as_str().unwrap_or("").contains(REVIEW_MARKER))
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(ours[0]["body"].as_str().unwrap().contains("## review two"));
    assert_eq!(st.comments.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_errors_say_what_to_check_and_hide_the_token() {
    let fake = FakeGithub::start("");
    let gh = Github::new(
        &fake.api_url(),
        "acme/gossip",
        &Secret::new("ghs_fakeToken000111".into()),
    )
    .unwrap();
    drop(gh);
    let revoked = Github::new(
        &fake.api_url(),
        "acme/gossip",
        &Secret::new("ghs_revokedToken000222".into()),
    )
    .unwrap();
    let msg = match revoked.upsert_sticky_comment(1, "x").await {
        Err(e) => e.to_string(),
        Ok(u) => panic!("commented with a revoked token: {u}"),
    };
    assert!(
        msg.contains("401") && msg.contains("is the token valid"),
        "{msg}"
    );
    assert!(!msg.contains("ghs_revoked"), "{msg}");
    let bad = Github::new(
        &fake.api_url(),
        "acme",
        &Secret::new("ghs_fakeToken000111".into()),
    );
    let msg = match bad {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted a repository without an owner"),
    };
    assert!(msg.contains("OWNER/NAME"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_draft_state_follows_the_verdict_on_a_rerun() {
    let fake = FakeGithub::start("/api/v3");
    let gh = Github::new(
        &fake.api_url(),
        "acme/gossip",
        &Secret::new("ghs_fakeToken000111".into()),
    )
    .unwrap();
    let mut c = content("speak: +0.8 on 40 fresh turns", "promising", &[], &[]);
    c.draft = true;
    let pr = gh.upsert_pr(&c).await.unwrap();
    assert_eq!(fake.state.lock().unwrap().pulls[0]["draft"], true);
    // Proven on the next run: ready for review, the same PR.
    c.draft = false;
    let again = gh.upsert_pr(&c).await.unwrap();
    assert_eq!(again.number, pr.number);
    assert_eq!(fake.state.lock().unwrap().pulls[0]["draft"], false);
    // And back, when a later run is only promising.
    c.draft = true;
    gh.upsert_pr(&c).await.unwrap();
    // Unchanged state: no GraphQL call.
    gh.upsert_pr(&c).await.unwrap();
    let st = fake.state.lock().unwrap();
    assert!(st.violations.is_empty(), "{:#?}", st.violations);
    assert_eq!(st.pulls.len(), 1);
    assert_eq!(st.pulls[0]["draft"], true);
    // Enterprise's GraphQL endpoint is /api/graphql, not under /api/v3.
    let graphql: Vec<&String> = st
        .requests
        .iter()
        .filter(|r| r.path.ends_with("graphql"))
        .map(|r| &r.path)
        .collect();
    assert_eq!(graphql, ["/api/graphql", "/api/graphql"]);
}
