//! The command line: one file per group of subcommands, each holding its
//! flags and one method that turns them into the library's typed request and
//! calls it. A match arm in [`run`] is that method and nothing else.

mod ci;
mod eval;
mod optimize;
mod repo;
mod shared;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use promptc::commands::{self, Global, Output};
use promptc::console;
use promptc::lm::spec::LmOverride;
use promptc::schema::SchemaKind;

/// promptc: a prompt compiler that runs in CI.
#[derive(Parser, Debug)]
#[command(name = "promptc", version, about, long_about = None)]
pub struct Cli {
    /// The config file; relative paths in it resolve from its folder.
    #[arg(
        long,
        global = true,
        default_value = "promptc.yaml",
        env = "PROMPTC_CONFIG"
    )]
    pub config: PathBuf,
    /// The signature to work on (default: the only one configured).
    #[arg(long, global = true)]
    pub signature: Option<String>,
    /// One JSON object on stdout; human text on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// Override an LM: ROLE=SPEC, ROLE one of task, judge, proposer, all; SPEC one of sim,
    /// openai:MODEL[@BASE_URL], anthropic:MODEL[@BASE_URL], bridge:MODEL@URL, command:MODEL@PROGRAM.
    #[arg(long = "lm", global = true, value_name = "ROLE=SPEC")]
    pub lm: Vec<LmOverride>,
    /// Change one LM setting for this run: ROLE.KEY=VALUE, ROLE one of task, judge, proposer,
    /// all; KEY one of concurrency, timeout_secs, read_timeout_secs, max_retries, retry_backoff_ms, temperature,
    /// max_tokens, seed, rpm, tpm (e.g. --lm-set all.timeout_secs=600).
    #[arg(long = "lm-set", global = true, value_name = "ROLE.KEY=VALUE")]
    pub lm_set: Vec<promptc::lm::spec::LmSetting>,
    /// At most N LM requests in flight across all roles of one endpoint (limits.max_in_flight);
    /// 1 for a local server with one slot.
    #[arg(long, global = true, value_name = "N")]
    pub max_in_flight: Option<u32>,
    /// Send the LM calls of A/Bs and evaluations through the providers' batch APIs at their
    /// discount (batch.enabled): slower, usually half price; interrupted runs resume pending batches.
    #[arg(long, global = true)]
    pub batch: bool,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check config, signature, metric, pack and traces together.
    Check {
        /// Read these trace globs instead of the config's.
        #[arg(long)]
        traces: Vec<String>,
    },
    /// Trace statistics and the split.
    Traces {
        #[command(subcommand)]
        command: repo::TracesCommand,
    },
    /// Validate or render a pack.
    Pack {
        #[command(subcommand)]
        command: repo::PackCommand,
    },
    /// Print the JSON Schema of a format.
    Schema {
        /// Which format.
        kind: SchemaKind,
    },
    /// Score a pack on a split of the traces.
    Eval(eval::EvalCmd),
    /// Estimate the LM calls, tokens and cost of an evaluation (or, with
    /// --optimizer, of an optimizer run) before running it.
    Plan(eval::PlanCmd),
    /// Search for a better pack; writes it with a run report and a trial log.
    Optimize(optimize::OptimizeCmd),
    /// Prove a candidate against the pack running today on fresh held-out traces.
    Ab(optimize::AbCmd),
    /// The instruction and demo changes between two packs.
    Diff(optimize::DiffCmd),
    /// What the deployed pack did on the traffic it served, against the pack
    /// it replaced (logged answers scored by the judges; no task calls),
    /// beside the lift its A/B predicted.
    Realized(optimize::RealizedCmd),
    /// The whole loop for each signature: gate, optimize, A/B on fresh held-out
    /// traces, decide, and publish one rolling pull request.
    Ci(ci::CiCmd),
    /// A/B each pack a pull request edits (base against head) and post one
    /// sticky comment with the score table and the diff.
    Review(ci::ReviewCmd),
    /// Start a repository: promptc.yaml, a signature stub (or one derived from
    /// an existing pack), a metric with one judge, a first pack and the
    /// workflow. Never overwrites a file that exists.
    Init(repo::InitCmd),
    /// Talk to the configured LMs.
    Lm {
        #[command(subcommand)]
        command: repo::LmCommand,
    },
    /// The LM response cache.
    Cache {
        #[command(subcommand)]
        command: repo::CacheCommand,
    },
}

/// Logs to stderr through the sanitizing console, `-v` for more.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROMPTC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(console::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .try_init();
}

/// The async runtime for a command that talks to LMs, git remotes or GitHub.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Runs the command the flags name.
pub fn run(cli: &Cli) -> anyhow::Result<Output> {
    let g = Global {
        config: cli.config.clone(),
        signature: cli.signature.clone(),
        lm: cli.lm.clone(),
        lm_set: cli.lm_set.clone(),
        max_in_flight: cli.max_in_flight,
        batch: cli.batch,
    };
    match &cli.command {
        Command::Check { traces } => commands::check::check(&g, traces),
        Command::Traces { command } => command.run(&g),
        Command::Pack { command } => command.run(&g),
        Command::Schema { kind } => commands::pack::schema(*kind),
        Command::Eval(c) => c.run(&g),
        Command::Plan(c) => c.run(&g),
        Command::Optimize(c) => c.run(&g),
        Command::Ab(c) => c.run(&g),
        Command::Diff(c) => c.run(&g),
        Command::Realized(c) => c.run(&g),
        Command::Ci(c) => c.run(&g, cli.json),
        Command::Review(c) => c.run(&g, cli.json),
        Command::Init(c) => c.run(),
        Command::Lm { command } => command.run(&g),
        Command::Cache { command } => command.run(&g),
    }
}
