//! The commands about the repository's files: `check`, `traces`, `pack`,
//! `schema`, `init`, and the LMs and their cache: `lm`, `cache`.

use std::path::PathBuf;

use clap::Subcommand;
use promptc::commands::{self, Global, Output};
use promptc::lm::Role;

use super::runtime;
use super::shared::TraceSource;

/// `traces` subcommands.
#[derive(Subcommand, Debug)]
pub enum TracesCommand {
    /// Counts, personas, fresh turns and the gate verdict.
    Stats(TraceSource),
    /// The thread-level train / val / fresh held-out split.
    Split(TraceSource),
    /// Convert another tool's trace export to promptc's line format.
    Import {
        /// The export's format.
        #[arg(long, value_enum)]
        format: promptc::traces::settings::TraceFormat,
        /// The export files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write the promptc trace lines (written whole or not at all).
        #[arg(long)]
        out: PathBuf,
    },
}

impl TracesCommand {
    pub fn run(&self, g: &Global) -> anyhow::Result<Output> {
        let mut ctx = commands::Context::load(g)?;
        match self {
            TracesCommand::Stats(TraceSource {
                traces,
                format,
                strict,
            }) => {
                ctx.set_format(format.unwrap_or(ctx.format));
                commands::traces::stats(&ctx, traces, *strict)
            }
            TracesCommand::Split(TraceSource {
                traces,
                format,
                strict,
            }) => {
                ctx.set_format(format.unwrap_or(ctx.format));
                commands::traces::split_cmd(&ctx, traces, *strict)
            }
            TracesCommand::Import { format, files, out } => {
                commands::traces::import(&ctx, *format, files, out)
            }
        }
    }
}

/// `pack` subcommands.
#[derive(Subcommand, Debug)]
pub enum PackCommand {
    /// Check a pack against its declared format (and its signature file when a config names it).
    Validate {
        /// The pack file.
        path: PathBuf,
    },
    /// Print exactly what will be sent: the system message, or the messages for one trace.
    Render {
        /// The pack file.
        path: PathBuf,
        /// Render the messages for the trace with this id.
        #[arg(long)]
        example: Option<String>,
        /// Render the messages for these inputs: a file holding one JSON object, `-` for stdin.
        #[arg(long, value_name = "FILE")]
        inputs: Option<PathBuf>,
        /// The persona whose system message a v3 pack sends.
        #[arg(long)]
        persona: Option<String>,
        /// Bring the pack's `rendered` up to date on disk.
        #[arg(long)]
        write: bool,
    },
}

impl PackCommand {
    pub fn run(&self, g: &Global) -> anyhow::Result<Output> {
        match self {
            PackCommand::Validate { path } => commands::pack::validate(g, path),
            PackCommand::Render {
                path,
                example,
                inputs,
                persona,
                write,
            } => commands::pack::render(
                g,
                path,
                &commands::pack::RenderArgs {
                    example: example.clone(),
                    inputs: inputs.clone(),
                    persona: persona.clone(),
                    write: *write,
                },
            ),
        }
    }
}

/// `init`'s flags.
#[derive(clap::Args, Debug)]
pub struct InitCmd {
    /// The repository root.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The signature's name (default: the pack's, else `answer`).
    #[arg(long)]
    name: Option<String>,
    /// Derive the signature from this v2/v3 pack, and keep it as the pack.
    #[arg(long)]
    from_pack: Option<PathBuf>,
}

impl InitCmd {
    pub fn run(&self) -> anyhow::Result<Output> {
        commands::init::init(&commands::init::InitArgs {
            dir: self.dir.clone(),
            name: self.name.clone(),
            from_pack: self.from_pack.clone(),
        })
    }
}

/// `lm` subcommands.
#[derive(Subcommand, Debug)]
pub enum LmCommand {
    /// One tiny uncached call to a role's LM: is it reachable, and how fast?
    Ping {
        /// task, judge or proposer.
        #[arg(long, default_value = "task")]
        role: Role,
    },
}

impl LmCommand {
    pub fn run(&self, g: &Global) -> anyhow::Result<Output> {
        let ctx = commands::Context::load(g)?;
        match self {
            LmCommand::Ping { role } => runtime()?.block_on(commands::lm::ping(&ctx, *role)),
        }
    }
}

/// `cache` subcommands.
#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Entries, size, and hits and misses over all runs.
    Stats,
}

impl CacheCommand {
    pub fn run(&self, g: &Global) -> anyhow::Result<Output> {
        let ctx = commands::Context::load(g)?;
        match self {
            CacheCommand::Stats => commands::lm::cache_stats(&ctx),
        }
    }
}
