//! Secrets: read from the environment, never printed.
//!
//! Every key promptc reads is registered here, and [`redact`] replaces each
//! registered value in any text that leaves the LM layer (errors, logs,
//! reports, cache rows). A [`Secret`]'s `Debug` and `Display` never show it.

use std::fmt;
use std::sync::RwLock;

static REGISTERED: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// The shortest value treated as a secret; shorter ones would redact ordinary words.
const MIN_LEN: usize = 8;

/// A secret value (API key, token).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps and registers a value for redaction.
    pub fn new(value: String) -> Secret {
        register(&value);
        Secret(value)
    }

    /// Reads an environment variable; `None` when unset or empty.
    pub fn from_env(var: &str) -> Option<Secret> {
        std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| Secret::new(v.trim().to_string()))
    }

    /// The value, for the one place that sends it (a request header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Registers a value so that [`redact`] hides it.
pub fn register(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    if let Ok(mut v) = REGISTERED.write()
        && !v.iter().any(|s| s == value)
    {
        v.push(value.to_string());
    }
}

/// `text` with every registered secret replaced by `***`.
pub fn redact(text: &str) -> String {
    let Ok(secrets) = REGISTERED.read() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_redacted_and_never_formatted() {
        let s = Secret::new("sk-test-abcdefghijklmnop".into());
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(
            redact("bad key sk-test-abcdefghijklmnop given"),
            "bad key *** given"
        );
        register("short");
        assert_eq!(redact("short"), "short");
    }
}
