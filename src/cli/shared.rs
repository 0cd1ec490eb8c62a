//! Flags several subcommands share.

use std::path::PathBuf;

use promptc::commands::eval::SplitName;

/// Which pack an evaluation scores, on which examples.
#[derive(clap::Args, Debug)]
pub struct EvalTarget {
    /// The pack (default: the signature's configured pack).
    #[arg(long)]
    pub pack: Option<PathBuf>,
    /// Which examples.
    #[arg(long, value_enum, default_value = "val")]
    pub split: SplitName,
    /// At most this many examples (the first ones of the split).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// Caps for this run, replacing the config's `budget:` entries.
#[derive(clap::Args, Debug)]
pub struct BudgetArgs {
    /// At most this many LM calls (cache hits are free).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_calls: Option<u64>,
    /// At most this many US dollars (needs `prices:` for every model used).
    #[arg(long, value_parser = positive_dollars)]
    pub max_cost_usd: Option<f64>,
    /// At most this many minutes of wall time.
    #[arg(long, value_parser = positive_minutes)]
    pub max_wall_minutes: Option<f64>,
}

/// A finite number in `0 < x <= max`: NaN, infinities, zero and negatives
/// would disable or break a cap silently.
fn positive_up_to(text: &str, max: f64) -> Result<f64, String> {
    let x: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if x.is_finite() && x > 0.0 && x <= max {
        Ok(x)
    } else {
        Err(format!("{text} is not a positive number up to {max}"))
    }
}

fn positive_dollars(text: &str) -> Result<f64, String> {
    positive_up_to(text, 1e6)
}

fn positive_minutes(text: &str) -> Result<f64, String> {
    positive_up_to(text, promptc::config::MAX_WALL_MINUTES)
}

impl BudgetArgs {
    pub fn caps(&self) -> promptc::ci::BudgetCaps {
        promptc::ci::BudgetCaps {
            max_calls: self.max_calls,
            max_cost_usd: self.max_cost_usd,
            max_wall_minutes: self.max_wall_minutes,
        }
    }
}

/// Where promptc runs: GitHub Actions sets each of these; a flag overrides it.
#[derive(clap::Args, Debug)]
pub struct GithubArgs {
    /// The REST API root (GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub api_url: String,
    /// OWNER/NAME.
    #[arg(long, env = "GITHUB_REPOSITORY")]
    pub repository: Option<String>,
    /// push, workflow_dispatch, pull_request, …
    #[arg(long, env = "GITHUB_EVENT_NAME")]
    pub event_name: Option<String>,
    /// The event's JSON payload.
    #[arg(long, env = "GITHUB_EVENT_PATH")]
    pub event_path: Option<PathBuf>,
    /// The commit the run is for.
    #[arg(long, env = "GITHUB_SHA")]
    pub sha: Option<String>,
    /// The ref the run is for.
    #[arg(long = "ref", env = "GITHUB_REF")]
    pub git_ref: Option<String>,
    /// The token for pushing and the API.
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The default branch (default: the event's repository, else the remote's HEAD, else main).
    #[arg(long)]
    pub base_branch: Option<String>,
    /// The remote to push to.
    #[arg(long, default_value = "origin")]
    pub remote: String,
}

impl GithubArgs {
    pub fn env(&self, pr: Option<u64>) -> promptc::ci::GithubEnv {
        let blank = |s: &Option<String>| s.clone().filter(|v| !v.trim().is_empty());
        promptc::ci::GithubEnv {
            api_url: self.api_url.trim_end_matches('/').to_string(),
            repository: blank(&self.repository),
            event_name: blank(&self.event_name),
            event_path: self
                .event_path
                .clone()
                .filter(|p| !p.as_os_str().is_empty()),
            sha: blank(&self.sha),
            git_ref: blank(&self.git_ref),
            token: blank(&self.token).map(promptc::lm::secret::Secret::new),
            base_branch: blank(&self.base_branch),
            remote: self.remote.clone(),
            pr,
        }
    }
}

/// Which traces a traces command reads.
#[derive(clap::Args, Debug)]
pub struct TraceSource {
    /// Read these trace globs instead of the config's.
    #[arg(long)]
    pub traces: Vec<String>,
    /// The files' format, instead of the config's (`traces.format`).
    #[arg(long, value_enum)]
    pub format: Option<promptc::traces::settings::TraceFormat>,
    /// Any bad line is a failure.
    #[arg(long)]
    pub strict: bool,
}
