//! Commands in a role's container through a shell kept open for the lab's life. A `docker
//! exec` costs Docker a create, a start and an inspect (about 100 ms each time, more when the
//! host is busy); the checks ask the bridge host for endpoints and files several times a run.
//! A shell already running answers in the time its command takes. Each command runs in a
//! subshell with no stdin, its output (stdout and stderr) read up to a marker line carrying the
//! exit code; a shell that misbehaves (times out, closes) is dropped and the next command
//! starts a new one.

use futures_util::StreamExt;
use std::pin::Pin;
use std::time::Duration;
use testcontainers::bollard::container::LogOutput;
use testcontainers::bollard::exec::{CreateExecOptions, StartExecResults};
use testcontainers::bollard::Docker;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// A command's whole run, output included.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

type Output = Pin<
    Box<
        dyn futures_util::Stream<Item = Result<LogOutput, testcontainers::bollard::errors::Error>>
            + Send,
    >,
>;

/// One open shell in a container.
pub(super) struct Shell {
    input: Pin<Box<dyn AsyncWrite + Send>>,
    output: Output,
    /// Output read past the last marker (none in practice: one command at a time).
    pending: String,
}

/// `'it'\''s'`: one word for sh, whatever it holds.
fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

impl Shell {
    pub(super) async fn open(docker: &Docker, container: &str) -> Result<Shell, String> {
        let exec = docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(vec!["/bin/sh".to_string()]),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        match docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| e.to_string())?
        {
            StartExecResults::Attached { output, input } => Ok(Shell {
                input,
                output,
                pending: String::new(),
            }),
            StartExecResults::Detached => Err("the shell started detached".into()),
        }
    }

    /// Runs `cmd` (argv) to its end: (exit code, stdout and stderr).
    pub(super) async fn run(&mut self, cmd: &[&str]) -> Result<(i64, String), String> {
        let marker = format!("__jc_exit_{:016x}", rand::random::<u64>());
        let line = format!(
            "( {} ) </dev/null 2>&1; printf '\\n{marker} %s\\n' \"$?\"\n",
            cmd.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
        );
        tokio::time::timeout(COMMAND_TIMEOUT, async {
            self.input
                .write_all(line.as_bytes())
                .await
                .map_err(|e| format!("writing to the shell: {e}"))?;
            self.input
                .flush()
                .await
                .map_err(|e| format!("writing to the shell: {e}"))?;
            loop {
                if let Some(at) = self.pending.find(&format!("\n{marker} ")) {
                    let text = self.pending[..at].to_string();
                    let rest = &self.pending[at + 1 + marker.len() + 1..];
                    let Some(end) = rest.find('\n') else {
                        // The code's line is not complete yet.
                        self.read_more().await?;
                        continue;
                    };
                    let code = rest[..end].trim().parse::<i64>().unwrap_or(-1);
                    self.pending = rest[end + 1..].to_string();
                    return Ok((code, text));
                }
                self.read_more().await?;
            }
        })
        .await
        .map_err(|_| format!("no answer within {COMMAND_TIMEOUT:?}"))?
    }

    async fn read_more(&mut self) -> Result<(), String> {
        match self.output.next().await {
            Some(Ok(chunk)) => {
                self.pending
                    .push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                Ok(())
            }
            Some(Err(e)) => Err(format!("reading from the shell: {e}")),
            None => Err("the shell closed".into()),
        }
    }
}

/// Open shells of one container, taken one per command so that concurrent commands (the
/// checks run side by side) each get their own.
#[derive(Default)]
pub(super) struct Shells {
    idle: std::sync::Mutex<Vec<Shell>>,
}

impl Shells {
    pub(super) fn take(&self) -> Option<Shell> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    pub(super) fn give_back(&self, shell: Shell) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(shell);
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoting_keeps_every_argument_one_word() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(rm -rf /); `x`"), "'$(rm -rf /); `x`'");
    }
}
