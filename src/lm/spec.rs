//! `--lm ROLE=SPEC` and the `provider` key of the config.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which LM API a role talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// OpenAI chat completions, or any OpenAI-compatible server.
    Openai,
    /// The Anthropic Messages API.
    Anthropic,
    /// A local endpoint taking `{"model","messages","prompt"}` and returning `{"completion"}`.
    Bridge,
    /// A local program: prompt on stdin, completion on stdout.
    Command,
    /// The deterministic offline simulator (results are labelled "sim").
    Sim,
}

impl Provider {
    /// The provider's name as written in configs and specs.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Openai => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Bridge => "bridge",
            Provider::Command => "command",
            Provider::Sim => "sim",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role an LM plays in a run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the program being optimized.
    Task,
    /// Scores predictions for judge dimensions.
    Judge,
    /// Writes instruction candidates and dataset summaries.
    Proposer,
}

impl Role {
    /// Every role, in report order.
    pub const ALL: [Role; 3] = [Role::Task, Role::Judge, Role::Proposer];

    /// The role's name as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Task => "task",
            Role::Judge => "judge",
            Role::Proposer => "proposer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `SPEC`: `sim`, `openai:MODEL[@BASE_URL]`, `anthropic:MODEL[@BASE_URL]`,
/// `bridge:MODEL@URL` or `command:MODEL@PROGRAM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmSpec {
    /// The provider.
    pub provider: Provider,
    /// The model name (`sim` for the simulator).
    pub model: String,
    /// Base URL (openai, anthropic, bridge) or program path (command).
    pub endpoint: Option<String>,
}

/// The roles one `--lm` flag sets (`all` sets the three).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmOverride {
    /// Roles the spec applies to.
    pub roles: Vec<Role>,
    /// The spec.
    pub spec: LmSpec,
}

impl FromStr for LmSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "sim" || s.starts_with("sim:") {
            let model = s.strip_prefix("sim:").unwrap_or("sim");
            return Ok(LmSpec {
                provider: Provider::Sim,
                model: if model.is_empty() {
                    "sim".into()
                } else {
                    model.into()
                },
                endpoint: None,
            });
        }
        let (provider, rest) = s.split_once(':').ok_or_else(|| {
            format!("`{s}` is not an LM spec; expected sim, openai:MODEL[@BASE_URL], anthropic:MODEL[@BASE_URL], bridge:MODEL@URL or command:MODEL@PROGRAM")
        })?;
        let provider = match provider {
            "openai" => Provider::Openai,
            "anthropic" => Provider::Anthropic,
            "bridge" => Provider::Bridge,
            "command" => Provider::Command,
            other => {
                return Err(format!(
                    "unknown LM provider `{other}`; expected one of sim, openai, anthropic, bridge, command"
                ));
            }
        };
        // A model name never holds `@`, a URL's userinfo might: split at the first.
        let (model, endpoint) = match rest.split_once('@') {
            Some((m, e)) => (m, Some(e.to_string())),
            None => (rest, None),
        };
        if model.is_empty() {
            return Err(format!("`{s}`: the model name is empty"));
        }
        if endpoint.as_deref() == Some("") {
            return Err(format!("`{s}`: nothing after `@`"));
        }
        if matches!(provider, Provider::Bridge | Provider::Command) && endpoint.is_none() {
            let what = if provider == Provider::Bridge {
                "URL"
            } else {
                "PROGRAM"
            };
            return Err(format!("`{s}`: {provider} needs {provider}:MODEL@{what}"));
        }
        if let Some(url) = &endpoint
            && provider != Provider::Command
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!("`{s}`: `{url}` is not an http(s) URL"));
        }
        Ok(LmSpec {
            provider,
            model: model.to_string(),
            endpoint,
        })
    }
}

impl FromStr for LmOverride {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (role, spec) = s.split_once('=').ok_or_else(|| {
            format!("`{s}` is not ROLE=SPEC (e.g. all=sim, task=openai:gpt-4o-mini)")
        })?;
        let roles = match role {
            "all" => Role::ALL.to_vec(),
            "task" => vec![Role::Task],
            "judge" => vec![Role::Judge],
            "proposer" => vec![Role::Proposer],
            other => {
                return Err(format!(
                    "unknown role `{other}`; expected task, judge, proposer or all"
                ));
            }
        };
        Ok(LmOverride {
            roles,
            spec: spec.parse()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spec_form() {
        let s: LmSpec = "openai:gpt-4o-mini@http://127.0.0.1:8000/v1"
            .parse()
            .unwrap();
        assert_eq!(s.provider, Provider::Openai);
        assert_eq!(s.model, "gpt-4o-mini");
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:8000/v1"));
        let s: LmSpec = "anthropic:claude-sonnet-4-5".parse().unwrap();
        assert_eq!((s.provider, s.endpoint), (Provider::Anthropic, None));
        let s: LmSpec = "command:claude@/usr/local/bin/claude".parse().unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("/usr/local/bin/claude"));
        assert_eq!("sim".parse::<LmSpec>().unwrap().provider, Provider::Sim);
        let o: LmOverride = "all=sim".parse().unwrap();
        assert_eq!(o.roles.len(), 3);
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        assert!(
            "bridge:m"
                .parse::<LmSpec>()
                .unwrap_err()
                .contains("bridge:MODEL@URL")
        );
        assert!(
            "gpt4"
                .parse::<LmSpec>()
                .unwrap_err()
                .contains("not an LM spec")
        );
        assert!(
            "cohere:x"
                .parse::<LmSpec>()
                .unwrap_err()
                .contains("unknown LM provider")
        );
        assert!(
            "openai:m@ftp://x"
                .parse::<LmSpec>()
                .unwrap_err()
                .contains("not an http")
        );
        assert!(
            "critic=sim"
                .parse::<LmOverride>()
                .unwrap_err()
                .contains("unknown role")
        );
    }
}

/// One `--lm-set ROLE.KEY=VALUE`: a role's setting changed for one run
/// (`all.timeout_secs=600`, `judge.temperature=0`).
#[derive(Debug, Clone, PartialEq)]
pub struct LmSetting {
    /// Roles it applies to (`all` is the three).
    pub roles: Vec<Role>,
    /// The key, one of [`LmSetting::KEYS`].
    pub key: String,
    /// The value as given; parsed and range-checked with the config's rules.
    pub value: String,
}

impl LmSetting {
    /// The keys a run may set.
    pub const KEYS: [&'static str; 10] = [
        "concurrency",
        "timeout_secs",
        "read_timeout_secs",
        "max_retries",
        "retry_backoff_ms",
        "temperature",
        "max_tokens",
        "seed",
        "rpm",
        "tpm",
    ];
}

impl FromStr for LmSetting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || {
            format!(
                "`{s}`: expected ROLE.KEY=VALUE, ROLE one of task, judge, proposer, all; KEY one of {}",
                LmSetting::KEYS.join(", ")
            )
        };
        let (lhs, value) = s.split_once('=').ok_or_else(usage)?;
        let (role, key) = lhs.trim().split_once('.').ok_or_else(usage)?;
        let roles = match role {
            "all" => Role::ALL.to_vec(),
            r => vec![
                Role::ALL
                    .into_iter()
                    .find(|x| x.as_str() == r)
                    .ok_or_else(usage)?,
            ],
        };
        if !LmSetting::KEYS.contains(&key) {
            let hint = crate::yamlerr::suggest(key, LmSetting::KEYS)
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            return Err(format!("{}{hint}", usage()));
        }
        Ok(LmSetting {
            roles,
            key: key.to_string(),
            value: value.trim().to_string(),
        })
    }
}
