//! The one path for every line promptc writes to stdout or stderr.
//!
//! Text that reaches a terminal or a CI log may carry what a model, a trace
//! or a server said. Under GitHub Actions any line that starts with `::` (or
//! the legacy `##[`) is a workflow command (`::add-mask::`, `::stop-commands::`,
//! `::error::`), and the runner splits lines at a lone `\r` as well as `\n`.
//! So every line is, in order: redacted of registered secrets; split at `\n`,
//! `\r\n` and a lone `\r`; stripped of control characters (escaped as
//! `\u{..}`; colour sequences promptc itself adds are kept); and, when it
//! would read as a workflow command, prefixed with a backslash. promptc's own
//! workflow commands go through [`workflow_command`], the only raw path.

use std::io::Write;

/// Which stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// `text` made safe to print: see the module documentation.
pub fn sanitize(text: &str) -> String {
    let text = crate::secret::redact(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    loop {
        let (line, next, ending) = match rest.find(['\n', '\r']) {
            Some(i) => {
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                (&rest[..i], Some(&rest[i + skip..]), true)
            }
            None => (rest, None, false),
        };
        sanitize_line(line, &mut out);
        if ending {
            out.push('\n');
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    out
}

fn sanitize_line(line: &str, out: &mut String) {
    let mut clean = String::with_capacity(line.len());
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\u{1b}'
            && let Some(len) = sgr_len(&line[i..])
        {
            clean.push_str(&line[i..i + len]);
            for _ in 1..len {
                chars.next();
            }
            continue;
        }
        if c != '\t' && (c.is_control() || c == '\u{2028}' || c == '\u{2029}') {
            clean.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            clean.push(c);
        }
    }
    if reads_as_command(&clean) {
        out.push('\\');
    }
    out.push_str(&clean);
}

/// The length of a colour sequence (`ESC [ digits;… m`) at the start of `s`.
fn sgr_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("\u{1b}[")?;
    let end = body.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
    (body[end..].starts_with('m')).then_some(2 + end + 1)
}

/// Whether the runner would take this line as a workflow command: after
/// leading whitespace and colour sequences, `::` or `##[`.
fn reads_as_command(line: &str) -> bool {
    let mut s = line;
    loop {
        let t = s.trim_start();
        match sgr_len(t) {
            Some(n) => s = &t[n..],
            None => {
                s = t;
                break;
            }
        }
    }
    s.starts_with("::") || s.starts_with("##[")
}

/// Writes `text`, sanitized, to a stream. Errors (a closed pipe) are ignored:
/// there is nowhere left to report them.
pub fn write(stream: Stream, text: &str) {
    let text = sanitize(text);
    let _ = match stream {
        Stream::Stdout => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|_| o.flush())
        }
        Stream::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
    };
}

/// `value` as one line of JSON that [`sanitize`] leaves as it is: serde_json
/// escapes C0 controls itself; the C1 controls and the Unicode line and
/// paragraph separators (legal raw in JSON strings) are escaped here as
/// `\uXXXX`, which only strings can hold.
pub fn json_line(value: &serde_json::Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if ('\u{80}'..='\u{9f}').contains(&c) || c == '\u{2028}' || c == '\u{2029}' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('\n');
    out
}

/// Writes one line (a newline is added) to stderr, sanitized.
pub fn eprintln(text: &str) {
    write(Stream::Stderr, &format!("{text}\n"));
}

/// Writes one workflow command line as is. Only for commands promptc itself
/// composes with the runner's escaping (`actions`); never for other text.
pub fn workflow_command(stream: Stream, line: &str) {
    debug_assert!(!line.contains(['\n', '\r']), "one line: {line:?}");
    let line = format!("{line}\n");
    let _ = match stream {
        Stream::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
        Stream::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
    };
}

/// A `tracing` writer: each log event is sanitized as a whole before it
/// reaches stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// The buffer of one log event.
#[derive(Debug, Default)]
pub struct LogBuffer(Vec<u8>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogBuffer {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            write(Stream::Stderr, &String::from_utf8_lossy(&self.0));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> LogBuffer {
        LogBuffer::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_in_any_line_are_neutralised() {
        let hostile = "score 0.4\n::set-output name=x::1\r::add-mask::abc\r\n  ::stop-commands::t\n##[error]boom\n\u{1b}[31m::error::red";
        let safe = sanitize(hostile);
        for line in safe.lines() {
            assert!(!reads_as_command(line), "{line:?} in {safe:?}");
        }
        assert_eq!(
            safe,
            "score 0.4\n\\::set-output name=x::1\n\\::add-mask::abc\n\\  ::stop-commands::t\n\\##[error]boom\n\\\u{1b}[31m::error::red"
        );
    }

    #[test]
    fn control_characters_are_escaped_but_colour_is_kept() {
        assert_eq!(
            sanitize("a\u{1b}]0;title\u{7}b \u{1b}[1;32mok\u{1b}[0m\tz\u{0}"),
            "a\\u{1b}]0;title\\u{7}b \u{1b}[1;32mok\u{1b}[0m\tz\\u{0}"
        );
        assert_eq!(sanitize("x\u{2028}y\u{85}"), "x\\u{2028}y\\u{85}");
        assert_eq!(
            sanitize("plain text: ok :: fine\n"),
            "plain text: ok :: fine\n"
        );
    }

    #[test]
    fn json_lines_stay_valid_json_through_the_sanitizer() {
        let v = serde_json::json!({"a": "x\u{85}\u{2028}\n::set-output\u{1b}[2J\r"});
        let line = json_line(&v);
        assert_eq!(sanitize(&line), line);
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn secrets_are_redacted_on_the_way_out() {
        crate::secret::register("tok-console-0123456789");
        assert_eq!(sanitize("key tok-console-0123456789"), "key ***");
    }
}
