//! The look ledger: how many times `ci` has tested a candidate against
//! today's pack since it was merged, so that the A/B can spend one error
//! rate across all of those looks ([`crate::ab::look_confidence`]).
//!
//! It lives on the remote, on the ref [`LEDGER_REF`] (not a branch), one
//! JSON Lines file per signature holding the looks at the current pack: a
//! look at another pack (one merged since, or reverted) restarts the count.
//! Every look is recorded before anything is published, and a look that
//! could not be recorded publishes nothing: an uncounted look would make the
//! next one's interval too narrow. A run that repeats a recorded look (the
//! same candidate on the same traces, as a re-run does) is that look again,
//! not a new one: a test repeated on the same data draws no new chance.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ab::Verdict;
use crate::ci::env::GithubEnv;
use crate::git::{GitError, RefFile, RefWrite, Repo};

/// The ref that holds the ledger.
pub const LEDGER_REF: &str = "refs/promptc/looks";

/// One look: a candidate tested against today's pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookRecord {
    /// The sha256 of today's pack file, as the run read it.
    pub base_pack: String,
    /// Which look this was (1 = the first since that pack).
    pub look: u32,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The candidate's pack id.
    pub candidate: String,
    /// The fingerprint of the traces it was tested on (the candidate's
    /// `provenance.trace_fingerprint`).
    pub traces: String,
    /// The measured lift.
    pub lift: f64,
    /// The decision (`open`, `draft`, `skip`).
    pub decision: String,
    /// The commit the run was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// A ledger line that does not parse: the count would be a guess.
#[derive(Debug, thiserror::Error)]
#[error(
    "{LEDGER_REF}:{file} line {line}: {reason}; the look count is unknown, so nothing is decided (fix the line or delete the ref with `git push origin :{LEDGER_REF}`, which restarts the count)"
)]
pub struct LedgerError {
    file: String,
    line: usize,
    reason: String,
}

/// A signature's ledger as read from the remote.
#[derive(Debug)]
pub struct Ledger {
    read: RefFile,
    path: PathBuf,
    base_pack: String,
    /// The looks at today's pack, oldest first.
    pub looks: Vec<LookRecord>,
}

impl Ledger {
    /// The ledger of `signature`, keeping the looks at `base_pack` (today's
    /// pack file's sha256).
    pub fn read(
        repo: &Repo,
        env: &GithubEnv,
        signature: &str,
        base_pack: &str,
    ) -> anyhow::Result<Ledger> {
        let path = PathBuf::from(format!("{signature}.jsonl"));
        let read = repo.read_ref_file(&env.remote, LEDGER_REF, &path, env.token.as_ref())?;
        let looks = parse(read.bytes.as_deref().unwrap_or_default(), &path, base_pack)?;
        Ok(Ledger {
            read,
            path,
            base_pack: base_pack.to_string(),
            looks,
        })
    }

    /// The number of the look that tests `candidate` on `traces`, and
    /// whether the ledger already holds it (a repeat records nothing).
    pub fn look_for(&self, candidate: &str, traces: &str) -> (u32, bool) {
        if let Some(l) = self
            .looks
            .iter()
            .find(|l| l.candidate == candidate && l.traces == traces)
        {
            return (l.look, true);
        }
        let next = u32::try_from(self.looks.len())
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1);
        // Never below a recorded number (lines removed by hand).
        let highest = self.looks.iter().map(|l| l.look).max().unwrap_or(0);
        (next.max(highest.saturating_add(1)), false)
    }

    /// Records this run's look and pushes the ledger.
    pub fn record(
        &self,
        repo: &Repo,
        env: &GithubEnv,
        (author_name, author_email): (&str, &str),
        look: LookRecord,
    ) -> Result<(), GitError> {
        debug_assert_eq!(look.base_pack, self.base_pack);
        let mut text = String::new();
        for l in self.looks.iter().chain([&look]) {
            text.push_str(&serde_json::to_string(l).unwrap_or_default());
            text.push('\n');
        }
        let message = format!(
            "promptc: look {} at {} (decision {}, {:+.1})",
            look.look,
            self.path.display(),
            look.decision,
            look.lift
        );
        repo.write_ref_file(
            &self.read,
            &RefWrite {
                remote: &env.remote,
                refname: LEDGER_REF,
                path: &self.path,
                bytes: text.as_bytes(),
                message: &message,
                author_name,
                author_email,
                token: env.token.as_ref(),
            },
        )?;
        Ok(())
    }
}

/// The record of a look that ended with `verdict`.
pub fn record_of(
    verdict: &Verdict,
    base_pack: &str,
    (candidate, traces): (&str, &str),
    commit: Option<&str>,
) -> LookRecord {
    LookRecord {
        base_pack: base_pack.to_string(),
        look: verdict.stats.look,
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        candidate: candidate.to_string(),
        traces: traces.to_string(),
        lift: verdict.stats.lift,
        decision: verdict.decision.as_str().to_string(),
        commit: commit.map(str::to_string),
    }
}

/// The looks at `base_pack` in a ledger file; any line that does not parse
/// is an error naming it.
fn parse(
    bytes: &[u8],
    path: &std::path::Path,
    base_pack: &str,
) -> Result<Vec<LookRecord>, LedgerError> {
    let err = |line: usize, reason: String| LedgerError {
        file: path.display().to_string(),
        line,
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| err(0, format!("not UTF-8 ({e})")))?;
    let mut looks = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: LookRecord = serde_json::from_str(line).map_err(|e| err(i + 1, e.to_string()))?;
        if r.base_pack == base_pack {
            looks.push(r);
        }
    }
    Ok(looks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(base: &str, look: u32) -> String {
        format!(
            r#"{{"base_pack":"{base}","look":{look},"at":"2026-11-30T10:00:00Z","candidate":"sha256:c{look}","traces":"sha256:t","lift":1.5,"decision":"skip"}}"#
        )
    }

    #[test]
    fn only_the_looks_at_todays_pack_count() {
        let text = [
            line("sha256:old", 1),
            line("sha256:old", 2),
            line("sha256:now", 1),
        ]
        .join("\n");
        let looks = parse(text.as_bytes(), "speak.jsonl".as_ref(), "sha256:now").unwrap();
        assert_eq!(looks.len(), 1);
        let none = parse(b"", "speak.jsonl".as_ref(), "sha256:now").unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_repeated_look_keeps_its_number_and_a_new_one_counts() {
        let text = [line("sha256:now", 1), line("sha256:now", 2)].join("\n");
        let ledger = Ledger {
            read: RefFile::default(),
            path: "speak.jsonl".into(),
            base_pack: "sha256:now".into(),
            looks: parse(text.as_bytes(), "speak.jsonl".as_ref(), "sha256:now").unwrap(),
        };
        assert_eq!(ledger.look_for("sha256:c1", "sha256:t"), (1, true));
        assert_eq!(ledger.look_for("sha256:c1", "sha256:other"), (3, false));
        assert_eq!(ledger.look_for("sha256:c9", "sha256:t"), (3, false));
    }

    #[test]
    fn a_line_that_does_not_parse_is_an_error_naming_it() {
        let text = format!("{}\n{{\"look\": \"many\"}}\n", line("sha256:now", 1));
        let e = parse(text.as_bytes(), "speak.jsonl".as_ref(), "sha256:now").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("refs/promptc/looks:speak.jsonl line 2: "),
            "{msg}"
        );
        assert!(msg.contains("nothing is decided"), "{msg}");
    }
}
