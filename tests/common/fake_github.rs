//! A fake GitHub REST API for tests: the endpoints promptc calls, kept in
//! memory, with every request checked against GitHub's published OpenAPI
//! description (the subset in tests/data/github-openapi-subset.json, cut from
//! the npm package @octokit/openapi by scripts/github_openapi_subset.py).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub authorization: Option<String>,
}

/// The fake's state.
#[derive(Debug, Default)]
pub struct State {
    pub requests: Vec<Request>,
    /// Every way a request broke GitHub's OpenAPI description.
    pub violations: Vec<String>,
    pub pulls: Vec<Value>,
    pub comments: Vec<Value>,
    pub next_id: u64,
    /// Create the next pull request, then answer 502 (as a flaky proxy would).
    pub create_then_502: bool,
}

/// A running fake GitHub.
pub struct FakeGithub {
    pub port: u16,
    pub prefix: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeGithub {
    /// Serves under `prefix` (`""` for github.com's layout, `/api/v3` for Enterprise).
    pub fn start(prefix: &str) -> FakeGithub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            next_id: 1,
            ..State::default()
        }));
        let spec: Arc<Value> = Arc::new(
            serde_json::from_str(
                &std::fs::read_to_string(
                    super::root().join("tests/data/github-openapi-subset.json"),
                )
                .unwrap(),
            )
            .unwrap(),
        );
        let (st, pfx) = (state.clone(), prefix.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (st, spec, pfx) = (st.clone(), spec.clone(), pfx.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &st, &spec, &pfx, port);
                });
            }
        });
        FakeGithub {
            port,
            prefix: prefix.into(),
            state,
        }
    }

    /// The API root to give promptc.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.prefix)
    }

    /// Adds an open pull request made by a person (for review tests).
    pub fn add_pull(&self, head: &str) -> u64 {
        let mut st = self.state.lock().unwrap();
        let n = st.next_id;
        st.next_id += 1;
        let pr = pull(self.port, n, "a person's change", "", head, "main", false);
        st.pulls.push(pr);
        n
    }

    pub fn requests(&self, method: &str, path_contains: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path.contains(path_contains))
            .count()
    }
}

fn user(port: u16, login: &str) -> Value {
    let u = format!("http://127.0.0.1:{port}/users/{login}");
    json!({
        "login": login, "id": 41898282, "node_id": "MDM6Qm90NDE4OTgyODI=",
        "avatar_url": format!("http://127.0.0.1:{port}/avatars/{login}"), "gravatar_id": "",
        "url": u, "html_url": format!("http://127.0.0.1:{port}/{login}"),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"), "type": "Bot", "site_admin": false
    })
}

fn pull(port: u16, n: u64, title: &str, body: &str, head: &str, base: &str, draft: bool) -> Value {
    json!({
        "url": format!("http://127.0.0.1:{port}/repos/acme/gossip/pulls/{n}"),
        "id": 1000 + n, "node_id": format!("PR_{n}"),
        "html_url": format!("http://127.0.0.1:{port}/acme/gossip/pull/{n}"),
        "number": n, "state": "open", "locked": false, "title": title, "body": body,
        "draft": draft, "user": user(port, "github-actions[bot]"),
        "labels": [], "requested_reviewers": [],
        "created_at": "2026-11-24T05:00:00Z", "updated_at": "2026-11-24T05:00:00Z",
        "head": {"label": format!("acme:{head}"), "ref": head, "sha": "0000000000000000000000000000000000000001"},
        "base": {"label": format!("acme:{base}"), "ref": base, "sha": "0000000000000000000000000000000000000002"}
    })
}

/// A comment object as GitHub returns it.
pub fn comment(port: u16, id: u64, number: u64, body: &str) -> Value {
    json!({
        "id": id, "node_id": format!("IC_{id}"),
        "url": format!("http://127.0.0.1:{port}/repos/acme/gossip/issues/comments/{id}"),
        "html_url": format!("http://127.0.0.1:{port}/acme/gossip/pull/{number}#issuecomment-{id}"),
        "issue_url": format!("http://127.0.0.1:{port}/repos/acme/gossip/issues/{number}"),
        "body": body, "user": user(port, "github-actions[bot]"),
        "created_at": "2026-11-24T05:00:00Z", "updated_at": "2026-11-24T05:00:00Z",
        "author_association": "NONE"
    })
}

fn serve(
    stream: TcpStream,
    state: &Mutex<State>,
    spec: &Value,
    prefix: &str,
    port: u16,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut len = 0usize;
        let mut auth = None;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    len = v.trim().parse().unwrap_or(0);
                } else if k == "authorization" {
                    auth = Some(v.trim().to_string());
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let query: Vec<(String, String)> = query
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (decode(k), decode(v))
            })
            .collect();
        let body_json = if body.is_empty() {
            None
        } else {
            serde_json::from_slice::<Value>(&body).ok()
        };
        let req = Request {
            method: method.clone(),
            path: path.to_string(),
            query,
            body: body_json,
            authorization: auth,
        };
        let graphql_path = format!("{}/graphql", prefix.strip_suffix("/v3").unwrap_or(prefix));
        let (status, resp) = if req.method == "POST" && req.path == graphql_path {
            let mut st = state.lock().unwrap();
            let mut v = validate_graphql(&req);
            st.violations.append(&mut v);
            st.requests.push(req.clone());
            graphql(&mut st, &req)
        } else {
            let mut st = state.lock().unwrap();
            let mut v = validate(spec, prefix, &req, body.len());
            st.violations.append(&mut v);
            st.requests.push(req.clone());
            route(&mut st, prefix, &req, port)
        };
        let text = resp.to_string();
        let reason = match status {
            200 => "OK",
            201 => "Created",
            401 => "Unauthorized",
            404 => "Not Found",
            422 => "Unprocessable Entity",
            502 => "Bad Gateway",
            _ => "Other",
        };
        write!(
            out,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )?;
        out.flush()?;
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(h, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// GraphQL is not in the REST description: a request must be one of the two
/// documented mutations promptc uses, with its `id` variable.
fn validate_graphql(req: &Request) -> Vec<String> {
    let Some(b) = &req.body else {
        return vec!["POST graphql: no body".into()];
    };
    let q = b["query"].as_str().unwrap_or("");
    let known = ["markPullRequestReadyForReview", "convertPullRequestToDraft"];
    let mut out = Vec::new();
    if !known
        .iter()
        .any(|m| q.contains(&format!("{m}(input: {{pullRequestId: $id}})")))
    {
        out.push(format!(
            "POST graphql: not a mutation promptc should send: {q}"
        ));
    }
    if !b["variables"]["id"].is_string() {
        out.push("POST graphql: variables.id must be the pull request's node id".into());
    }
    out
}

fn graphql(st: &mut State, req: &Request) -> (u16, Value) {
    if req
        .authorization
        .as_deref()
        .is_none_or(|a| a.contains("revoked"))
    {
        return (401, json!({"message": "Bad credentials"}));
    }
    let b = req.body.clone().unwrap_or(Value::Null);
    let q = b["query"].as_str().unwrap_or("");
    let id = b["variables"]["id"].clone();
    let draft = q.contains("convertPullRequestToDraft");
    match st.pulls.iter_mut().find(|p| p["node_id"] == id) {
        Some(p) => {
            p["draft"] = Value::Bool(draft);
            (
                200,
                json!({"data": {"m": {"pullRequest": {"isDraft": draft}}}}),
            )
        }
        None => (
            200,
            json!({"data": null, "errors": [{"message": format!("Could not resolve to a node with the global id of '{id}'")}]}),
        ),
    }
}

fn route(st: &mut State, prefix: &str, req: &Request, port: u16) -> (u16, Value) {
    if req
        .authorization
        .as_deref()
        .is_none_or(|a| a.contains("revoked"))
    {
        return (401, json!({"message": "Requires authentication"}));
    }
    let path = req.path.strip_prefix(prefix).unwrap_or(&req.path);
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let body = req.body.clone().unwrap_or(Value::Null);
    match (req.method.as_str(), seg.as_slice()) {
        ("GET", ["repos", _, _, "pulls"]) => {
            let head = req
                .query
                .iter()
                .find(|(k, _)| k == "head")
                .map(|(_, v)| v.clone());
            let state = req
                .query
                .iter()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "open".into());
            let list: Vec<Value> = st
                .pulls
                .iter()
                .filter(|p| state == "all" || p["state"] == state.as_str())
                // GitHub ignores a head filter without `owner:`.
                .filter(|p| match head.as_deref() {
                    Some(h) if h.contains(':') => p["head"]["label"] == h,
                    _ => true,
                })
                .cloned()
                .collect();
            (200, Value::Array(list))
        }
        ("POST", ["repos", _, _, "pulls"]) => {
            let head = body["head"].as_str().unwrap_or("").to_string();
            let label = if head.contains(':') {
                head.clone()
            } else {
                format!("acme:{head}")
            };
            if st
                .pulls
                .iter()
                .any(|p| p["state"] == "open" && p["head"]["label"] == label)
            {
                return (
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {label}.")}], "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", "status": "422"}),
                );
            }
            let n = st.next_id;
            st.next_id += 1;
            let pr = pull(
                port,
                n,
                body["title"].as_str().unwrap_or(""),
                body["body"].as_str().unwrap_or(""),
                &head,
                body["base"].as_str().unwrap_or(""),
                body["draft"].as_bool().unwrap_or(false),
            );
            st.pulls.push(pr.clone());
            if st.create_then_502 {
                st.create_then_502 = false;
                return (502, json!({"message": "Server Error"}));
            }
            (201, pr)
        }
        ("PATCH", ["repos", _, _, "pulls", n]) => {
            let n: u64 = n.parse().unwrap_or(0);
            match st.pulls.iter_mut().find(|p| p["number"] == n) {
                Some(p) => {
                    for k in ["title", "body", "state"] {
                        if let Some(v) = body.get(k) {
                            p[k] = v.clone();
                        }
                    }
                    (200, p.clone())
                }
                None => (404, json!({"message": "Not Found"})),
            }
        }
        ("POST", ["repos", _, _, "issues", n, "labels"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            match st.pulls.iter_mut().find(|p| p["number"] == n) {
                Some(p) => {
                    let mut labels: Vec<Value> =
                        p["labels"].as_array().cloned().unwrap_or_default();
                    for l in body["labels"].as_array().cloned().unwrap_or_default() {
                        let name = l.as_str().unwrap_or("").to_string();
                        if !labels.iter().any(|x| x["name"] == name) {
                            labels.push(json!({"id": labels.len() + 1, "node_id": "L", "url": "http://x/l", "name": name, "color": "ededed", "default": false, "description": null}));
                        }
                    }
                    p["labels"] = Value::Array(labels.clone());
                    (200, Value::Array(labels))
                }
                None => (404, json!({"message": "Not Found"})),
            }
        }
        ("POST", ["repos", _, _, "pulls", n, "requested_reviewers"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            match st.pulls.iter_mut().find(|p| p["number"] == n) {
                Some(p) => {
                    let users: Vec<Value> = body["reviewers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|l| user(port, l.as_str().unwrap_or("")))
                        .collect();
                    p["requested_reviewers"] = Value::Array(users);
                    (201, p.clone())
                }
                None => (404, json!({"message": "Not Found"})),
            }
        }
        ("GET", ["repos", _, _, "issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let list: Vec<Value> = st
                .comments
                .iter()
                .filter(|c| {
                    c["issue_url"]
                        .as_str()
                        .is_some_and(|u| u.ends_with(&format!("/issues/{n}")))
                })
                .cloned()
                .collect();
            (200, Value::Array(list))
        }
        ("POST", ["repos", _, _, "issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let id = 5000 + st.next_id;
            st.next_id += 1;
            let c = comment(port, id, n, body["body"].as_str().unwrap_or(""));
            st.comments.push(c.clone());
            (201, c)
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match st.comments.iter_mut().find(|c| c["id"] == id) {
                Some(c) => {
                    c["body"] = body["body"].clone();
                    (200, c.clone())
                }
                None => (404, json!({"message": "Not Found"})),
            }
        }
        _ => (
            404,
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
        ),
    }
}

/// Every way `req` breaks the OpenAPI description: an undocumented path or
/// method, a bad path or query parameter, a body that breaks the schema.
pub fn validate(spec: &Value, prefix: &str, req: &Request, body_len: usize) -> Vec<String> {
    let mut out = Vec::new();
    let what = format!("{} {}", req.method, req.path);
    let Some(path) = req.path.strip_prefix(prefix) else {
        return vec![format!("{what}: outside the API root {prefix}")];
    };
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let paths = spec["paths"].as_object().unwrap();
    let found = paths.iter().find_map(|(template, item)| {
        let t: Vec<&str> = template.trim_matches('/').split('/').collect();
        if t.len() != segs.len() {
            return None;
        }
        let mut params = Vec::new();
        for (a, b) in t.iter().zip(&segs) {
            if a.starts_with('{') {
                params.push((
                    a.trim_matches(|c| c == '{' || c == '}').to_string(),
                    b.to_string(),
                ));
            } else if a != b {
                return None;
            }
        }
        Some((template.clone(), item, params))
    });
    let Some((template, item, path_params)) = found else {
        return vec![format!("{what}: no such path in GitHub's API description")];
    };
    let Some(op) = item.get(req.method.to_ascii_lowercase()) else {
        let documented: Vec<&String> = item.as_object().unwrap().keys().collect();
        return vec![format!(
            "{what}: GitHub documents no {} on {template} (only {documented:?})",
            req.method
        )];
    };
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    for (name, value) in &path_params {
        if let Some(p) = params
            .iter()
            .find(|p| p["in"] == "path" && p["name"] == *name)
        {
            let v = coerce(value, &p["schema"]);
            check(
                &p["schema"],
                &v,
                &format!("{what}: path parameter {name}"),
                &mut out,
            );
        }
    }
    for (name, value) in &req.query {
        match params
            .iter()
            .find(|p| p["in"] == "query" && p["name"] == *name)
        {
            Some(p) => {
                let v = coerce(value, &p["schema"]);
                check(
                    &p["schema"],
                    &v,
                    &format!("{what}: query parameter {name}"),
                    &mut out,
                );
            }
            None => out.push(format!("{what}: undocumented query parameter `{name}`")),
        }
    }
    match (&op["requestBody"], &req.body) {
        (Value::Null, Some(_)) => out.push(format!("{what}: a body where none is documented")),
        (Value::Null, None) => {
            if body_len > 0 {
                out.push(format!("{what}: a body where none is documented"));
            }
        }
        (rb, None) => {
            if rb["required"] == true {
                out.push(format!("{what}: the documented body is missing"));
            }
        }
        (rb, Some(b)) => {
            check(
                &rb["content"]["application/json"]["schema"],
                b,
                &format!("{what}: body"),
                &mut out,
            );
        }
    }
    out
}

fn coerce(raw: &str, schema: &Value) -> Value {
    match schema["type"].as_str() {
        Some("integer") => raw
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::String(raw.into())),
        Some("boolean") => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(raw.into()),
        },
        _ => Value::String(raw.into()),
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// A JSON Schema check for the keywords GitHub's description uses on these
/// operations.
pub fn check(schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    if v.is_null() && schema["nullable"] == true {
        return;
    }
    match &schema["type"] {
        Value::String(t) if !type_ok(t, v) => {
            out.push(format!("{at}: expected {t}, got {v}"));
            return;
        }
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)) => {
            out.push(format!("{at}: expected one of {ts:?}, got {v}"));
            return;
        }
        _ => {}
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(v)
    {
        out.push(format!("{at}: {v} is not one of {e:?}"));
    }
    for (kw, need) in [("oneOf", Some(1usize)), ("anyOf", None)] {
        if let Some(alts) = schema[kw].as_array() {
            let ok = alts
                .iter()
                .filter(|s| {
                    let mut sub = Vec::new();
                    check(s, v, at, &mut sub);
                    sub.is_empty()
                })
                .count();
            let good = match need {
                Some(n) => ok == n,
                None => ok >= 1,
            };
            if !good {
                out.push(format!("{at}: matches {ok} of the {kw} alternatives"));
            }
        }
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            check(s, v, at, out);
        }
    }
    if let Some(obj) = v.as_object() {
        let props = schema["properties"].as_object();
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap_or("");
            if !obj.contains_key(r) {
                out.push(format!("{at}: required property `{r}` is missing"));
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(s, val, &format!("{at}.{k}"), out),
                None if schema["additionalProperties"] == false => {
                    out.push(format!("{at}: property `{k}` is not allowed"))
                }
                None => {}
            }
        }
    }
    if let Some(items) = v.as_array() {
        if let Some(min) = schema["minItems"].as_u64()
            && (items.len() as u64) < min
        {
            out.push(format!("{at}: fewer than {min} items"));
        }
        if let Some(max) = schema["maxItems"].as_u64()
            && (items.len() as u64) > max
        {
            out.push(format!("{at}: more than {max} items"));
        }
        if schema["items"].is_object() {
            for (i, it) in items.iter().enumerate() {
                check(&schema["items"], it, &format!("{at}[{i}]"), out);
            }
        }
    }
}
