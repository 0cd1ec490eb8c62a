//! The GitHub Actions runner's side channels: step outputs, the job summary,
//! annotations and log masking. Outside Actions (`GITHUB_ACTIONS` unset) every
//! call is a no-op, so the same pipeline runs on a laptop.

use std::io::Write;
use std::path::PathBuf;

/// GitHub refuses a job summary over 1 MiB; promptc stays well under it.
pub const SUMMARY_LIMIT: usize = 1024 * 1024 - 16 * 1024;

/// Annotation levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `::notice::`
    Notice,
    /// `::warning::`
    Warning,
    /// `::error::`
    Error,
}

/// The runner's files, when running under GitHub Actions.
#[derive(Debug, Clone, Default)]
pub struct Actions {
    active: bool,
    output: Option<PathBuf>,
    summary: Option<PathBuf>,
    /// Workflow commands go to stderr when stdout carries `--json`.
    commands_to_stderr: bool,
}

impl Actions {
    /// Reads `GITHUB_ACTIONS`, `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`.
    pub fn from_env(json_on_stdout: bool) -> Actions {
        let active = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
        let path = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Actions {
            active,
            output: path("GITHUB_OUTPUT").filter(|_| active),
            summary: path("GITHUB_STEP_SUMMARY").filter(|_| active),
            commands_to_stderr: json_on_stdout,
        }
    }

    fn command(&self, line: &str) {
        if !self.active {
            return;
        }
        let stream = if self.commands_to_stderr {
            crate::console::Stream::Stderr
        } else {
            crate::console::Stream::Stdout
        };
        crate::console::workflow_command(stream, line);
    }

    /// Asks the runner to hide `secret` in every later log line.
    pub fn mask(&self, secret: &str) {
        if !secret.is_empty() {
            self.command(&format!("::add-mask::{}", escape_data(secret)));
        }
    }

    /// An annotation on the run.
    pub fn annotate(&self, level: Level, title: &str, message: &str) {
        let kind = match level {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
        };
        self.command(&format!(
            "::{kind} title={}::{}",
            escape_property(title),
            escape_data(message)
        ));
    }

    /// Appends step outputs (multi-line values use a heredoc delimiter).
    pub fn set_outputs(&self, outputs: &[(&str, String)]) -> std::io::Result<()> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        let mut text = String::new();
        for (k, v) in outputs {
            let v = &crate::lm::secret::redact(v);
            if v.contains('\n') {
                let mut delim = format!("promptc_{}", fastrand::u64(..));
                while v.contains(&delim) {
                    delim = format!("promptc_{}", fastrand::u64(..));
                }
                text.push_str(&format!("{k}<<{delim}\n{v}\n{delim}\n"));
            } else {
                text.push_str(&format!("{k}={v}\n"));
            }
        }
        append(path, &text)
    }

    /// Appends markdown to the job summary, cut to stay under GitHub's limit.
    pub fn summary(&self, markdown: &str) -> std::io::Result<()> {
        let Some(path) = &self.summary else {
            return Ok(());
        };
        let used = std::fs::metadata(path)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let room = SUMMARY_LIMIT.saturating_sub(used);
        append(
            path,
            &truncate_markdown(&crate::lm::secret::redact(markdown), room),
        )
    }
}

fn append(path: &PathBuf, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// `text` cut at a line boundary to at most `room` bytes, with a note.
pub fn truncate_markdown(text: &str, room: usize) -> String {
    if text.len() <= room {
        return text.to_string();
    }
    const NOTE: &str = "\n\n_(cut here: GitHub's job summary limit; the full report is in the run's --out folder)_\n";
    let budget = room.saturating_sub(NOTE.len());
    let mut cut = budget.min(text.len());
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = text[..cut].rfind('\n').unwrap_or(cut);
    if room < NOTE.len() {
        return String::new();
    }
    format!("{}{NOTE}", &text[..cut])
}

/// Workflow-command data escaping (the runner's own rules).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_cannot_smuggle_a_second_command() {
        assert_eq!(escape_data("50%\n::add-mask::x"), "50%25%0A::add-mask::x");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn a_long_summary_is_cut_at_a_line_under_the_limit() {
        let text = "line of text\n".repeat(200_000);
        let cut = truncate_markdown(&text, SUMMARY_LIMIT);
        assert!(cut.len() <= SUMMARY_LIMIT, "{}", cut.len());
        assert!(cut.len() > SUMMARY_LIMIT - 200);
        assert!(cut.ends_with("--out folder)_\n"));
        assert!(cut.contains("line of text\n\n_(cut here"));
        assert_eq!(truncate_markdown("short", 100), "short");
    }

    #[test]
    fn outputs_use_a_delimiter_for_multi_line_values() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let a = Actions {
            active: true,
            output: Some(out.clone()),
            summary: None,
            commands_to_stderr: true,
        };
        a.set_outputs(&[("status", "opened".into()), ("body", "a\nb".into())])
            .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.starts_with("status=opened\nbody<<promptc_"), "{text}");
        let delim = text.lines().nth(1).unwrap().trim_start_matches("body<<");
        assert!(text.ends_with(&format!("a\nb\n{delim}\n")), "{text}");
    }
}
