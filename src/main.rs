//! The `promptc` binary: parse arguments, run one command, print, exit.
//! The flags and their mapping onto the library live in `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use promptc::commands;
use promptc::console::{self, Stream};

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // `--help` and `--version` go to stdout; usage errors (which
            // quote the arguments given) to stderr, both through the one
            // sanitizing output path.
            let (code, stream) = if e.use_stderr() {
                (2, Stream::Stderr)
            } else {
                (0, Stream::Stdout)
            };
            console::write(stream, &e.render().to_string());
            return ExitCode::from(code);
        }
    };
    cli::init_logging(cli.verbose);
    let (code, json, human, to_stderr) = match cli::run(&cli) {
        Ok(out) => (out.exit, out.json, out.human, cli.json),
        Err(err) => {
            let code = commands::exit_code(&err);
            // Whatever went wrong, a registered secret never reaches the terminal.
            let message = promptc::secret::redact(&format!("{err:#}"));
            let json = serde_json::json!({"ok": false, "error": message, "exit": code});
            (code, json, format!("error: {message}\n"), true)
        }
    };
    if cli.json {
        console::write(Stream::Stdout, &console::json_line(&json));
    }
    let stream = if to_stderr {
        Stream::Stderr
    } else {
        Stream::Stdout
    };
    console::write(stream, &human);
    ExitCode::from(code as u8)
}
