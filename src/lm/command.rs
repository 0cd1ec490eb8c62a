//! A local harness CLI per call: the flattened prompt on stdin, the completion
//! on stdout. The model name is passed in `PROMPTC_MODEL`.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::lm::http::estimate_tokens;
use crate::lm::secret::redact;
use crate::lm::{CallError, Completion, Lm, LmRequest};

/// The most a command may write to stdout (or stderr) for one call.
pub const MAX_OUTPUT_BYTES: u64 = 32 << 20;

struct Output {
    status: std::process::ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Reads a child's stream up to `max` bytes; more is an error (the child is
/// killed when the call's future is dropped).
async fn read_capped<R: tokio::io::AsyncRead + Unpin>(
    stream: Option<R>,
    max: u64,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    if let Some(s) = stream {
        s.take(max + 1).read_to_end(&mut buf).await?;
    }
    if buf.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "wrote more than {max} bytes"
        )));
    }
    Ok(buf)
}

/// A command provider.
pub struct CommandLm {
    model: String,
    program: String,
    args: Vec<String>,
    timeout: Duration,
}

impl CommandLm {
    /// `program` is a path followed by its arguments, separated by spaces (no shell is involved).
    pub fn new(model: &str, program: &str, timeout: Duration) -> Result<CommandLm, String> {
        let mut parts = program.split_whitespace().map(str::to_string);
        let exe = parts
            .next()
            .ok_or_else(|| "the command provider needs a program".to_string())?;
        Ok(CommandLm {
            model: model.to_string(),
            program: exe,
            args: parts.collect(),
            timeout,
        })
    }
}

#[async_trait::async_trait]
impl Lm for CommandLm {
    fn label(&self) -> String {
        format!("command:{}", self.model)
    }

    async fn complete(&self, req: &LmRequest) -> Result<Completion, CallError> {
        // No seed in this API: a sample's index goes into the prompt instead.
        let req = &*req.unseeded();
        let prompt = req.flatten();
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .env("PROMPTC_MODEL", &self.model)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A timed-out call drops the future, and with it the child.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| CallError::Fatal(format!("cannot run `{}`: {e}", self.program)))?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| CallError::Fatal("no stdin for the command".into()))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let run = async move {
            // A program that exits without reading its input is not an error of ours.
            let feed = async move {
                let _ = stdin.write_all(prompt.as_bytes()).await;
                drop(stdin);
            };
            // The first stream over its cap ends the call (and the child) at once.
            let read = tokio::try_join!(
                async {
                    feed.await;
                    Ok(())
                },
                read_capped(stdout, MAX_OUTPUT_BYTES),
                read_capped(stderr, MAX_OUTPUT_BYTES)
            );
            match read {
                Ok(((), stdout, stderr)) => Ok(Output {
                    status: child.wait().await?,
                    stdout,
                    stderr,
                }),
                Err(e) => {
                    let _ = child.kill().await;
                    Err(e)
                }
            }
        };
        let out = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| {
                CallError::retryable(format!(
                    "`{}` did not finish within {}s; killed",
                    self.program,
                    self.timeout.as_secs()
                ))
            })?
            .map_err(|e| CallError::retryable(format!("`{}` failed: {e}", self.program)))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: String = stderr
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join(" | ");
            return Err(CallError::retryable(redact(&format!(
                "`{}` exited with {}: {}",
                self.program,
                out.status,
                crate::text::truncate_for_message(&tail)
            ))));
        }
        let text = String::from_utf8(out.stdout).map_err(|_| {
            CallError::retryable(format!("`{}` wrote non-UTF-8 output", self.program))
        })?;
        let text = text.trim_end().to_string();
        if text.is_empty() {
            return Err(CallError::retryable(format!(
                "`{}` wrote nothing",
                self.program
            )));
        }
        let (input, output) = (estimate_tokens(&req.flatten()), estimate_tokens(&text));
        Ok(Completion::new(text, input, output))
    }
}
