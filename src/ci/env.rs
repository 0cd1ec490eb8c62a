//! Where promptc runs: the CI host's facts (repository, event, revision,
//! token), read from the environment or flags, and what a run needs from them
//! before anything prints (every secret masked).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::actions::Actions;
use crate::app::{Global, UsageError};
use crate::config::Config;
use crate::git::Repo;
use crate::github::Github;
use crate::lm::secret::Secret;

/// Where promptc runs: what GitHub Actions puts in the environment, each
/// overridable by a flag.
#[derive(Debug, Clone, Default)]
pub struct GithubEnv {
    /// REST API root (`https://api.github.com`, or `https://HOST/api/v3`).
    pub api_url: String,
    /// `owner/name`.
    pub repository: Option<String>,
    /// `push`, `workflow_dispatch`, `pull_request`, …
    pub event_name: Option<String>,
    /// The event's JSON payload.
    pub event_path: Option<PathBuf>,
    /// The commit the run is for.
    pub sha: Option<String>,
    /// The ref the run is for.
    pub git_ref: Option<String>,
    /// The token for pushing and the API.
    pub token: Option<Secret>,
    /// The default branch (else the event's repository, else the remote's HEAD, else `main`).
    pub base_branch: Option<String>,
    /// The remote to push to.
    pub remote: String,
    /// The pull request to comment on (review; else the event's).
    pub pr: Option<u64>,
}

impl GithubEnv {
    /// The API client, or a usage error naming what `doing` lacks.
    pub(crate) fn client(&self, doing: &str) -> anyhow::Result<Github> {
        let token = self.token.as_ref().ok_or_else(|| {
            UsageError(format!(
                "{doing} needs a token: set GITHUB_TOKEN or pass --token (or use --dry-run)"
            ))
        })?;
        let repository = self.repository.as_deref().ok_or_else(|| {
            UsageError(format!(
                "{doing} needs the repository: set GITHUB_REPOSITORY or pass --repository"
            ))
        })?;
        Ok(Github::new(&self.api_url, repository, token)?)
    }
}

/// The event's payload, or `null` when there is none.
pub(crate) fn event_payload(env: &GithubEnv) -> anyhow::Result<Value> {
    let Some(path) = &env.event_path else {
        return Ok(Value::Null);
    };
    let text = crate::files::read_text(path, 64 << 20)
        .map_err(|e| UsageError(format!("the event payload: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "{}: the event payload is not JSON: {e}",
            path.display()
        ))
        .into()
    })
}

/// The runner's channels and the config, with every secret masked before
/// anything can print: the token first, then the LM keys the config names.
pub(crate) fn start(
    g: &Global,
    env: &GithubEnv,
    json_out: bool,
) -> anyhow::Result<(Config, Actions)> {
    let actions = Actions::from_env(json_out);
    if let Some(t) = &env.token {
        actions.mask(t.expose());
    }
    let mut config = Config::load(&g.config)?;
    config.apply_lm_overrides(&g.lm);
    mask_lm_keys(&actions, &config);
    Ok((config, actions))
}

fn mask_lm_keys(actions: &Actions, config: &Config) {
    for lm in [&config.lms.task, &config.lms.judge, &config.lms.proposer] {
        if let Some(var) = crate::lm::client::key_env(lm)
            && let Ok(v) = std::env::var(&var)
        {
            crate::lm::secret::register(&v);
            actions.mask(&v);
        }
    }
}

pub(crate) fn default_branch(env: &GithubEnv, event: &Value, repo: Option<&Repo>) -> String {
    if let Some(b) = &env.base_branch {
        return b.clone();
    }
    if let Some(b) = event["repository"]["default_branch"].as_str() {
        return b.into();
    }
    repo.and_then(|r| r.remote_head(&env.remote))
        .unwrap_or_else(|| "main".into())
}

/// The config's folder, `.` when the config path has none.
pub(crate) fn root_dir(config: &Config) -> PathBuf {
    let r = config.root();
    if r.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        r.to_path_buf()
    }
}

pub(crate) fn out_dir(config: &Config, out: Option<&Path>) -> PathBuf {
    out.map(Path::to_path_buf)
        .unwrap_or_else(|| config.root().join(".promptc/ci"))
}

/// The first seven characters of a commit id.
pub(crate) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}
