//! GitHub through octocrab: promptc's pull request (found, created or
//! updated, never duplicated) and the sticky review comment.
//!
//! octocrab 0.54 has quirks this module works around:
//! - `issues().update_comment` sends POST where GitHub documents PATCH, and the
//!   pull request update builder puts `pull_number` in the body: both updates
//!   are raw PATCH requests here.
//! - It retries a POST that got a 5xx, so a create that really succeeded can
//!   come back as 422 "A pull request already exists": that means "find it and
//!   update it".
//! - A `head` filter must be `owner:branch`; a bare branch name is ignored by
//!   GitHub and every open pull request comes back.
//!
//! REST cannot turn an open pull request into a draft or back; the two
//! GraphQL mutations for that are the only GraphQL promptc sends.

use octocrab::Octocrab;
use octocrab::models::pulls::PullRequest;
use octocrab::params;
use serde_json::{Value, json};

use crate::lm::secret::Secret;

/// The hidden marker that makes promptc's review comment findable again.
pub const REVIEW_MARKER: &str = "<!-- promptc:review -->";

/// The hidden line that records which version of today's pack a pull
/// request's candidate was built against.
pub fn base_marker(base_sha256: &str) -> String {
    format!("{BASE_MARKER}{base_sha256} -->")
}

/// How [`base_marker`] starts.
pub const BASE_MARKER: &str = "<!-- promptc:base-pack ";

/// The base pack a pull request body records, if it records one.
pub fn recorded_base(body: &str) -> Option<&str> {
    let rest = &body[body.find(BASE_MARKER)? + BASE_MARKER.len()..];
    Some(rest[..rest.find(" -->")?].trim())
}

/// The hidden marker of the comment promptc keeps on a pull request that its
/// latest run no longer supports.
pub const STALE_MARKER: &str = "<!-- promptc:stale -->";

/// The hidden line that marks promptc's realized-lift comment on the pull
/// request that introduced a pack.
pub const REALIZED_MARKER: &str = "<!-- promptc:realized -->";

/// A GitHub API failure, with the request that failed.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// The API answered with an error.
    #[error("GitHub API: {what}: {status} {message}{hint}")]
    Api {
        /// What promptc was doing.
        what: String,
        /// HTTP status.
        status: u16,
        /// GitHub's message and error details.
        message: String,
        /// What to check, when the status says.
        hint: &'static str,
    },
    /// The request did not get an answer.
    #[error("GitHub API: {what}: {message}")]
    Transport {
        /// What promptc was doing.
        what: String,
        /// The client's reason.
        message: String,
    },
    /// Setup: a bad base URL or repository name.
    #[error("GitHub: {0}")]
    Setup(String),
}

/// A repository on a GitHub (github.com or Enterprise) API.
pub struct Github {
    client: Octocrab,
    /// GraphQL lives at `/graphql` on github.com but at `/api/graphql` (not
    /// under `/api/v3`) on Enterprise, so it gets its own base.
    graphql: Octocrab,
    owner: String,
    repo: String,
}

/// A pull request promptc made or found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pr {
    /// Its number.
    pub number: u64,
    /// Where a person opens it.
    pub url: String,
    /// False when an open one for the branch was updated.
    pub created: bool,
}

/// What promptc's pull request says.
pub struct PrContent<'a> {
    /// The branch promptc pushed.
    pub head_branch: &'a str,
    /// The branch it targets.
    pub base_branch: &'a str,
    /// The title (carries the lift).
    pub title: &'a str,
    /// The markdown body.
    pub body: &'a str,
    /// A draft (at creation through REST; later changes through GraphQL).
    pub draft: bool,
    /// Labels to put on it.
    pub labels: &'a [String],
    /// Reviewers to request when it is created.
    pub reviewers: &'a [String],
}

fn api_error(what: &str, e: octocrab::Error) -> GithubError {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let mut message = source.message.clone();
            for detail in source.errors.iter().flatten() {
                if let Some(m) = detail.get("message").and_then(Value::as_str) {
                    message.push_str(&format!("; {m}"));
                } else if let Some(c) = detail.get("code").and_then(Value::as_str) {
                    let field = detail.get("field").and_then(Value::as_str).unwrap_or("?");
                    message.push_str(&format!("; {field}: {c}"));
                }
            }
            let hint = match status {
                401 => " (is the token valid? promptc reads GITHUB_TOKEN or --token)",
                403 | 429 if message.to_ascii_lowercase().contains("rate limit") => {
                    " (GitHub's rate limit: re-run the job later)"
                }
                403 => {
                    " (does the token have contents: write and pull-requests: write? the workflow's `permissions:` must grant them)"
                }
                404 => " (check --repository / GITHUB_REPOSITORY and --api-url / GITHUB_API_URL)",
                _ => "",
            };
            GithubError::Api {
                what: what.into(),
                status,
                message: crate::lm::secret::redact(&message),
                hint,
            }
        }
        other => GithubError::Transport {
            what: what.into(),
            message: crate::lm::secret::redact(&other.to_string()),
        },
    }
}

fn is_already_exists(e: &GithubError) -> bool {
    matches!(e, GithubError::Api { status: 422, message, .. } if message.contains("already exists"))
}

impl Github {
    /// A client for `owner/repo` on the API at `api_url` (`https://api.github.com`,
    /// or `https://HOST/api/v3` on Enterprise).
    pub fn new(api_url: &str, repository: &str, token: &Secret) -> Result<Github, GithubError> {
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| {
                GithubError::Setup(format!(
                    "repository `{repository}` is not OWNER/NAME (set GITHUB_REPOSITORY or --repository)"
                ))
            })?;
        // Rustls needs a process-wide provider; reqwest's LM client installs the same one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let build = |base: &str| {
            Octocrab::builder()
                .base_uri(base)
                .map_err(|e| GithubError::Setup(format!("API URL `{base}`: {e}")))?
                .personal_token(token.expose().to_string())
                .build()
                .map_err(|e| GithubError::Setup(format!("client: {e}")))
        };
        let api_url = api_url.trim_end_matches('/');
        let graphql_base = api_url.strip_suffix("/v3").unwrap_or(api_url);
        Ok(Github {
            client: build(api_url)?,
            graphql: build(graphql_base)?,
            owner: owner.into(),
            repo: repo.into(),
        })
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}{rest}", self.owner, self.repo)
    }

    /// The open pull request whose head is `branch` in this repository.
    pub async fn find_open_pr(&self, branch: &str) -> Result<Option<PullRequest>, GithubError> {
        let page = self
            .client
            .pulls(&self.owner, &self.repo)
            .list()
            .state(params::State::Open)
            .head(format!("{}:{branch}", self.owner))
            .per_page(100)
            .send()
            .await
            .map_err(|e| api_error("listing open pull requests", e))?;
        // Belt and braces: a server that ignored the filter returns them all.
        Ok(page.items.into_iter().find(|p| p.head.ref_field == branch))
    }

    /// Closes the open pull request of `branch` with `comment` when its body
    /// records a base pack other than `base_sha256` (a body without the
    /// record is left alone).
    pub async fn close_if_based_elsewhere(
        &self,
        branch: &str,
        base_sha256: &str,
        comment: &str,
    ) -> Result<Option<Pr>, GithubError> {
        let Some(pr) = self.find_open_pr(branch).await? else {
            return Ok(None);
        };
        let recorded = pr.body.as_deref().and_then(recorded_base);
        if recorded.is_none_or(|b| b == base_sha256) {
            return Ok(None);
        }
        self.upsert_marked_comment(pr.number, STALE_MARKER, comment)
            .await?;
        let number = pr.number;
        let _: Value = self
            .client
            .patch(
                self.route(&format!("/pulls/{number}")),
                Some(&json!({"state": "closed"})),
            )
            .await
            .map_err(|e| api_error(&format!("closing pull request #{number}"), e))?;
        Ok(Some(Pr {
            number,
            url: html_url(&pr),
            created: false,
        }))
    }

    /// A pull request of `branch` that was closed without being merged and
    /// whose body contains `needle` (a candidate's pack id).
    pub async fn closed_unmerged(
        &self,
        branch: &str,
        needle: &str,
    ) -> Result<Option<Pr>, GithubError> {
        self.closed_with(branch, needle, false).await
    }

    /// The merged pull request of `branch` whose body contains `needle`
    /// (the pack id it proposed): the one that introduced that pack.
    pub async fn merged_with(&self, branch: &str, needle: &str) -> Result<Option<Pr>, GithubError> {
        self.closed_with(branch, needle, true).await
    }

    /// A closed pull request of `branch`, merged or not as asked, whose body
    /// contains `needle`.
    async fn closed_with(
        &self,
        branch: &str,
        needle: &str,
        merged: bool,
    ) -> Result<Option<Pr>, GithubError> {
        let page = self
            .client
            .pulls(&self.owner, &self.repo)
            .list()
            .state(params::State::Closed)
            .head(format!("{}:{branch}", self.owner))
            .per_page(100)
            .send()
            .await
            .map_err(|e| api_error("listing closed pull requests", e))?;
        Ok(page
            .items
            .into_iter()
            .filter(|p| p.head.ref_field == branch && p.merged_at.is_some() == merged)
            .find(|p| p.body.as_deref().is_some_and(|b| b.contains(needle)))
            .map(|p| Pr {
                number: p.number,
                url: html_url(&p),
                created: false,
            }))
    }

    /// Creates or updates promptc's realized-lift comment on `number`.
    pub async fn upsert_realized_comment(
        &self,
        number: u64,
        body: &str,
    ) -> Result<String, GithubError> {
        self.upsert_marked_comment(number, REALIZED_MARKER, body)
            .await
    }

    /// Creates the pull request for `c.head_branch`, or updates the open one.
    pub async fn upsert_pr(&self, c: &PrContent<'_>) -> Result<Pr, GithubError> {
        let pr = match self.find_open_pr(c.head_branch).await? {
            Some(existing) => {
                self.update_pr(existing.number, c.title, c.body).await?;
                self.set_draft(&existing, c.draft).await?;
                Pr {
                    number: existing.number,
                    url: html_url(&existing),
                    created: false,
                }
            }
            None => match self.create_pr(c).await {
                Ok(p) => p,
                Err(e) if is_already_exists(&e) => {
                    // A retried create that had succeeded: update what it made.
                    let existing = self.find_open_pr(c.head_branch).await?.ok_or(e)?;
                    self.update_pr(existing.number, c.title, c.body).await?;
                    Pr {
                        number: existing.number,
                        url: html_url(&existing),
                        created: false,
                    }
                }
                Err(e) => return Err(e),
            },
        };
        if !c.labels.is_empty() {
            self.client
                .issues(&self.owner, &self.repo)
                .add_labels(pr.number, c.labels)
                .await
                .map_err(|e| api_error("adding labels", e))?;
        }
        if pr.created && !c.reviewers.is_empty() {
            self.client
                .pulls(&self.owner, &self.repo)
                .request_reviews(pr.number, c.reviewers.to_vec(), Vec::<String>::new())
                .await
                .map_err(|e| api_error("requesting reviewers", e))?;
        }
        Ok(pr)
    }

    async fn create_pr(&self, c: &PrContent<'_>) -> Result<Pr, GithubError> {
        let p = self
            .client
            .pulls(&self.owner, &self.repo)
            .create(c.title, c.head_branch, c.base_branch)
            .body(c.body)
            .draft(Some(c.draft))
            .maintainer_can_modify(true)
            .send()
            .await
            .map_err(|e| api_error("creating the pull request", e))?;
        Ok(Pr {
            number: p.number,
            url: html_url(&p),
            created: true,
        })
    }

    /// Turns an open pull request into a draft or back, as the verdict now
    /// says. REST cannot change it; GraphQL can.
    async fn set_draft(&self, pr: &PullRequest, draft: bool) -> Result<(), GithubError> {
        if pr.draft == Some(draft) {
            return Ok(());
        }
        let Some(node_id) = pr.node_id.as_deref() else {
            return Ok(());
        };
        let mutation = if draft {
            "mutation($id: ID!) { convertPullRequestToDraft(input: {pullRequestId: $id}) { pullRequest { isDraft } } }"
        } else {
            "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } } }"
        };
        let what = format!(
            "marking pull request #{} {}",
            pr.number,
            if draft {
                "as a draft"
            } else {
                "ready for review"
            }
        );
        let answer: Value = self
            .graphql
            .post(
                "/graphql",
                Some(&json!({"query": mutation, "variables": {"id": node_id}})),
            )
            .await
            .map_err(|e| api_error(&what, e))?;
        // GraphQL reports failures in a 200 body.
        if let Some(errors) = answer.get("errors").and_then(Value::as_array)
            && !errors.is_empty()
        {
            let message: Vec<&str> = errors
                .iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect();
            return Err(GithubError::Api {
                what,
                status: 200,
                message: message.join("; "),
                hint: " (GraphQL)",
            });
        }
        Ok(())
    }

    async fn update_pr(&self, number: u64, title: &str, body: &str) -> Result<(), GithubError> {
        let _: Value = self
            .client
            .patch(
                self.route(&format!("/pulls/{number}")),
                Some(&json!({"title": title, "body": body})),
            )
            .await
            .map_err(|e| api_error(&format!("updating pull request #{number}"), e))?;
        Ok(())
    }

    /// Creates promptc's comment on issue or pull request `number`, or
    /// updates the one that carries [`REVIEW_MARKER`]. Returns its URL.
    pub async fn upsert_sticky_comment(
        &self,
        number: u64,
        body: &str,
    ) -> Result<String, GithubError> {
        self.upsert_marked_comment(number, REVIEW_MARKER, body)
            .await
    }

    /// The open pull request of `branch`, when there is one, updated to what
    /// the latest run found (`title`, `body`), turned into a draft, with a
    /// comment (kept under [`STALE_MARKER`]) saying why.
    pub async fn mark_stale(
        &self,
        branch: &str,
        title: &str,
        body: &str,
        comment: &str,
    ) -> Result<Option<Pr>, GithubError> {
        let Some(pr) = self.find_open_pr(branch).await? else {
            return Ok(None);
        };
        self.update_pr(pr.number, title, body).await?;
        self.set_draft(&pr, true).await?;
        self.upsert_marked_comment(pr.number, STALE_MARKER, comment)
            .await?;
        Ok(Some(Pr {
            number: pr.number,
            url: html_url(&pr),
            created: false,
        }))
    }

    /// Creates a comment on `number` carrying `marker`, or updates the one
    /// that carries it. Returns its URL.
    async fn upsert_marked_comment(
        &self,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<String, GithubError> {
        let body = if body.contains(marker) {
            body.to_string()
        } else {
            format!("{marker}\n{body}")
        };
        let mut page_no = 1u32;
        loop {
            let page = self
                .client
                .issues(&self.owner, &self.repo)
                .list_comments(number)
                .per_page(100)
                .page(page_no)
                .send()
                .await
                .map_err(|e| api_error(&format!("listing comments on #{number}"), e))?;
            let n = page.items.len();
            if let Some(c) = page
                .items
                .into_iter()
                .find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)))
            {
                let updated: Value = self
                    .client
                    .patch(
                        self.route(&format!("/issues/comments/{}", c.id)),
                        Some(&json!({"body": body})),
                    )
                    .await
                    .map_err(|e| api_error(&format!("updating comment {}", c.id), e))?;
                return Ok(updated["html_url"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| c.html_url.to_string()));
            }
            if n < 100 || page_no >= 50 {
                break;
            }
            page_no += 1;
        }
        let c = self
            .client
            .issues(&self.owner, &self.repo)
            .create_comment(number, body)
            .await
            .map_err(|e| api_error(&format!("commenting on #{number}"), e))?;
        Ok(c.html_url.to_string())
    }
}

fn html_url(p: &PullRequest) -> String {
    p.html_url
        .as_ref()
        .map(|u| u.to_string())
        .unwrap_or_else(|| p.url.clone())
}
