//! The `promptc` binary: parse arguments, run one command, print, exit.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use promptc::commands::eval::SplitName;
use promptc::commands::{self, Global, Output};
use promptc::config::OptimizerName;
use promptc::console::{self, Stream};
use promptc::lm::Role;
use promptc::lm::spec::LmOverride;
use promptc::schema::SchemaKind;

/// promptc: a prompt compiler that runs in CI.
#[derive(Parser, Debug)]
#[command(name = "promptc", version, about, long_about = None)]
struct Cli {
    /// The config file; relative paths in it resolve from its folder.
    #[arg(
        long,
        global = true,
        default_value = "promptc.yaml",
        env = "PROMPTC_CONFIG"
    )]
    config: PathBuf,
    /// The signature to work on (default: the only one configured).
    #[arg(long, global = true)]
    signature: Option<String>,
    /// One JSON object on stdout; human text on stderr.
    #[arg(long, global = true)]
    json: bool,
    /// Override an LM: ROLE=SPEC, ROLE one of task, judge, proposer, all; SPEC one of sim,
    /// openai:MODEL[@BASE_URL], anthropic:MODEL[@BASE_URL], bridge:MODEL@URL, command:MODEL@PROGRAM.
    #[arg(long = "lm", global = true, value_name = "ROLE=SPEC")]
    lm: Vec<LmOverride>,
    /// Change one LM setting for this run: ROLE.KEY=VALUE, ROLE one of task, judge, proposer,
    /// all; KEY one of concurrency, timeout_secs, max_retries, retry_backoff_ms, temperature,
    /// max_tokens, seed, rpm, tpm (e.g. --lm-set all.timeout_secs=600).
    #[arg(long = "lm-set", global = true, value_name = "ROLE.KEY=VALUE")]
    lm_set: Vec<promptc::lm::spec::LmSetting>,
    /// At most N LM requests in flight across all roles of one endpoint (limits.max_in_flight);
    /// 1 for a local server with one slot.
    #[arg(long, global = true, value_name = "N")]
    max_in_flight: Option<u32>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check config, signature, metric, pack and traces together.
    Check {
        /// Read these trace globs instead of the config's.
        #[arg(long)]
        traces: Vec<String>,
    },
    /// Trace statistics and the split.
    Traces {
        #[command(subcommand)]
        command: TracesCommand,
    },
    /// Validate or render a pack.
    Pack {
        #[command(subcommand)]
        command: PackCommand,
    },
    /// Print the JSON Schema of a format.
    Schema {
        /// Which format.
        kind: SchemaKind,
    },
    /// Score a pack on a split of the traces.
    Eval {
        #[command(flatten)]
        target: EvalTarget,
        /// Score the pack under this adapter instead of its own (sections or json).
        #[arg(long, value_enum)]
        adapter: Option<promptc::program::Adapter>,
    },
    /// Estimate the LM calls, tokens and cost of an evaluation (or, with
    /// --optimizer, of an optimizer run) before running it.
    Plan {
        /// Plan an optimizer run instead of an evaluation.
        #[arg(long, value_enum)]
        optimizer: Option<OptimizerName>,
        /// With --optimizer: the smoke preset.
        #[arg(long)]
        smoke: bool,
        #[command(flatten)]
        target: EvalTarget,
    },
    /// Search for a better pack; writes it with a run report and a trial log.
    Optimize {
        /// The optimizer (default: the config's).
        #[arg(long, value_enum)]
        optimizer: Option<OptimizerName>,
        /// Tiny sizes, every step exercised: the first run on a new repository.
        #[arg(long)]
        smoke: bool,
        /// Also optimize the instructions per persona (writes a v3 pack).
        #[arg(long)]
        per_persona: bool,
        /// Output folder (default .promptc/runs/<signature> beside the config).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue a killed run from its trial log and the cache.
        #[arg(long)]
        resume: bool,
    },
    /// Prove a candidate against the pack running today on fresh held-out traces.
    Ab {
        /// The pack running today.
        #[arg(long)]
        base: PathBuf,
        /// The candidate.
        #[arg(long)]
        candidate: PathBuf,
        /// Also write report.md and report.json to this folder.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// The instruction and demo changes between two packs.
    Diff {
        /// The old pack.
        a: PathBuf,
        /// The new pack.
        b: PathBuf,
        /// terminal (colour on a terminal) or markdown.
        #[arg(long, value_enum, default_value = "terminal")]
        format: promptc::commands::ab::DiffFormat,
    },
    /// The whole loop for each signature: gate, optimize, A/B on fresh held-out
    /// traces, decide, and publish one rolling pull request.
    Ci {
        /// Run everything, but write the branch plan and the PR body to --out
        /// instead of pushing and posting.
        #[arg(long)]
        dry_run: bool,
        /// Run folders, reports and dry-run plans (default .promptc/ci beside the config).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The optimizer (default: the config's).
        #[arg(long, value_enum)]
        optimizer: Option<OptimizerName>,
        /// The smoke preset: tiny sizes, every step exercised.
        #[arg(long)]
        smoke: bool,
        #[command(flatten)]
        budget: BudgetArgs,
        #[command(flatten)]
        github: GithubArgs,
    },
    /// A/B each pack a pull request edits (base against head) and post one
    /// sticky comment with the score table and the diff.
    Review {
        /// The base revision (default: the pull_request event's base).
        #[arg(long)]
        base: Option<String>,
        /// The head revision (default: the pull_request event's head, else HEAD).
        #[arg(long)]
        head: Option<String>,
        /// Write the comment to --out instead of posting it.
        #[arg(long)]
        dry_run: bool,
        /// Where the reports and the dry-run comment go (default .promptc/ci beside the config).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The pull request to comment on (default: the pull_request event's).
        #[arg(long)]
        pr: Option<u64>,
        #[command(flatten)]
        budget: BudgetArgs,
        #[command(flatten)]
        github: GithubArgs,
    },
    /// Start a repository: promptc.yaml, a signature stub (or one derived from
    /// an existing pack), a metric with one judge, a first pack and the
    /// workflow. Never overwrites a file that exists.
    Init {
        /// The repository root.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The signature's name (default: the pack's, else `answer`).
        #[arg(long)]
        name: Option<String>,
        /// Derive the signature from this v2/v3 pack, and keep it as the pack.
        #[arg(long)]
        from_pack: Option<PathBuf>,
    },
    /// Talk to the configured LMs.
    Lm {
        #[command(subcommand)]
        command: LmCommand,
    },
    /// The LM response cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
}

#[derive(Subcommand, Debug)]
enum LmCommand {
    /// One tiny uncached call to a role's LM: is it reachable, and how fast?
    Ping {
        /// task, judge or proposer.
        #[arg(long, default_value = "task")]
        role: Role,
    },
}

#[derive(Subcommand, Debug)]
enum CacheCommand {
    /// Entries, size, and hits and misses over all runs.
    Stats,
}

/// Which pack an evaluation scores, on which examples.
#[derive(clap::Args, Debug)]
struct EvalTarget {
    /// The pack (default: the signature's configured pack).
    #[arg(long)]
    pack: Option<PathBuf>,
    /// Which examples.
    #[arg(long, value_enum, default_value = "val")]
    split: SplitName,
    /// At most this many examples (the first ones of the split).
    #[arg(long)]
    limit: Option<usize>,
}

/// Caps for this run, replacing the config's `budget:` entries.
#[derive(clap::Args, Debug)]
struct BudgetArgs {
    /// At most this many LM calls (cache hits are free).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_calls: Option<u64>,
    /// At most this many US dollars (needs `prices:` for every model used).
    #[arg(long, value_parser = positive_dollars)]
    max_cost_usd: Option<f64>,
    /// At most this many minutes of wall time.
    #[arg(long, value_parser = positive_minutes)]
    max_wall_minutes: Option<f64>,
}

/// A finite number in `0 < x <= max`: NaN, infinities, zero and negatives
/// would disable or break a cap silently.
fn positive_up_to(text: &str, max: f64) -> Result<f64, String> {
    let x: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if x.is_finite() && x > 0.0 && x <= max {
        Ok(x)
    } else {
        Err(format!("{text} is not a positive number up to {max}"))
    }
}

fn positive_dollars(text: &str) -> Result<f64, String> {
    positive_up_to(text, 1e6)
}

fn positive_minutes(text: &str) -> Result<f64, String> {
    positive_up_to(text, promptc::config::MAX_WALL_MINUTES)
}

impl BudgetArgs {
    fn caps(&self) -> promptc::ci::BudgetCaps {
        promptc::ci::BudgetCaps {
            max_calls: self.max_calls,
            max_cost_usd: self.max_cost_usd,
            max_wall_minutes: self.max_wall_minutes,
        }
    }
}

/// Where promptc runs: GitHub Actions sets each of these; a flag overrides it.
#[derive(clap::Args, Debug)]
struct GithubArgs {
    /// The REST API root (GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    api_url: String,
    /// OWNER/NAME.
    #[arg(long, env = "GITHUB_REPOSITORY")]
    repository: Option<String>,
    /// push, workflow_dispatch, pull_request, …
    #[arg(long, env = "GITHUB_EVENT_NAME")]
    event_name: Option<String>,
    /// The event's JSON payload.
    #[arg(long, env = "GITHUB_EVENT_PATH")]
    event_path: Option<PathBuf>,
    /// The commit the run is for.
    #[arg(long, env = "GITHUB_SHA")]
    sha: Option<String>,
    /// The ref the run is for.
    #[arg(long = "ref", env = "GITHUB_REF")]
    git_ref: Option<String>,
    /// The token for pushing and the API.
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The default branch (default: the event's repository, else the remote's HEAD, else main).
    #[arg(long)]
    base_branch: Option<String>,
    /// The remote to push to.
    #[arg(long, default_value = "origin")]
    remote: String,
}

impl GithubArgs {
    fn env(&self, pr: Option<u64>) -> promptc::ci::GithubEnv {
        let blank = |s: &Option<String>| s.clone().filter(|v| !v.trim().is_empty());
        promptc::ci::GithubEnv {
            api_url: self.api_url.trim_end_matches('/').to_string(),
            repository: blank(&self.repository),
            event_name: blank(&self.event_name),
            event_path: self
                .event_path
                .clone()
                .filter(|p| !p.as_os_str().is_empty()),
            sha: blank(&self.sha),
            git_ref: blank(&self.git_ref),
            token: blank(&self.token).map(promptc::lm::secret::Secret::new),
            base_branch: blank(&self.base_branch),
            remote: self.remote.clone(),
            pr,
        }
    }
}

/// Which traces a traces command reads.
#[derive(clap::Args, Debug)]
struct TraceSource {
    /// Read these trace globs instead of the config's.
    #[arg(long)]
    traces: Vec<String>,
    /// Any bad line is a failure.
    #[arg(long)]
    strict: bool,
}

#[derive(Subcommand, Debug)]
enum TracesCommand {
    /// Counts, personas, fresh turns and the gate verdict.
    Stats(TraceSource),
    /// The thread-level train / val / fresh held-out split.
    Split(TraceSource),
}

#[derive(Subcommand, Debug)]
enum PackCommand {
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
        /// Bring the pack's `rendered` up to date on disk.
        #[arg(long)]
        write: bool,
    },
}

fn init_logging(verbose: u8) {
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
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn run(cli: &Cli) -> anyhow::Result<Output> {
    let g = Global {
        config: cli.config.clone(),
        signature: cli.signature.clone(),
        lm: cli.lm.clone(),
        lm_set: cli.lm_set.clone(),
        max_in_flight: cli.max_in_flight,
    };
    match &cli.command {
        Command::Check { traces } => commands::check::check(&g, traces),
        Command::Traces { command } => {
            let ctx = commands::Context::load(&g)?;
            match command {
                TracesCommand::Stats(TraceSource { traces, strict }) => {
                    commands::traces::stats(&ctx, traces, *strict)
                }
                TracesCommand::Split(TraceSource { traces, strict }) => {
                    commands::traces::split_cmd(&ctx, traces, *strict)
                }
            }
        }
        Command::Pack { command } => match command {
            PackCommand::Validate { path } => commands::pack::validate(&g, path),
            PackCommand::Render {
                path,
                example,
                write,
            } => commands::pack::render(&g, path, example.as_deref(), *write),
        },
        Command::Schema { kind } => commands::pack::schema(*kind),
        Command::Eval {
            target: EvalTarget { pack, split, limit },
            adapter,
        } => {
            let ctx = commands::Context::load(&g)?;
            let rt = runtime()?;
            rt.block_on(commands::eval::eval(
                &ctx,
                pack.as_deref(),
                *adapter,
                *split,
                *limit,
            ))
        }
        Command::Plan {
            optimizer,
            smoke,
            target: EvalTarget { pack, split, limit },
        } => {
            let ctx = commands::Context::load(&g)?;
            match optimizer {
                Some(o) => commands::eval::plan_optimizer(&ctx, *o, *smoke),
                None => commands::eval::plan(&ctx, pack.as_deref(), *split, *limit),
            }
        }
        Command::Optimize {
            optimizer,
            smoke,
            per_persona,
            out,
            resume,
        } => {
            let ctx = commands::Context::load(&g)?;
            let rt = runtime()?;
            let args = commands::optimize::OptimizeArgs {
                optimizer: *optimizer,
                smoke: *smoke,
                per_persona: *per_persona,
                out: out.clone(),
                resume: *resume,
            };
            rt.block_on(commands::optimize::optimize(&ctx, &args))
        }
        Command::Ab {
            base,
            candidate,
            report,
        } => {
            let ctx = commands::Context::load(&g)?;
            let rt = runtime()?;
            rt.block_on(commands::ab::ab(&ctx, base, candidate, report.as_deref()))
        }
        Command::Diff { a, b, format } => commands::ab::diff(&g, a, b, *format),
        Command::Ci {
            dry_run,
            out,
            optimizer,
            smoke,
            budget,
            github,
        } => {
            let rt = runtime()?;
            let args = promptc::ci::CiArgs {
                dry_run: *dry_run,
                out: out.clone(),
                optimizer: *optimizer,
                smoke: *smoke,
                budget: budget.caps(),
            };
            rt.block_on(promptc::ci::ci(&g, &github.env(None), &args, cli.json))
        }
        Command::Review {
            base,
            head,
            dry_run,
            out,
            pr,
            budget,
            github,
        } => {
            let rt = runtime()?;
            let args = promptc::review::ReviewArgs {
                base: base.clone(),
                head: head.clone(),
                dry_run: *dry_run,
                out: out.clone(),
                budget: budget.caps(),
            };
            rt.block_on(promptc::review::review(
                &g,
                &github.env(*pr),
                &args,
                cli.json,
            ))
        }
        Command::Init {
            dir,
            name,
            from_pack,
        } => commands::init::init(&commands::init::InitArgs {
            dir: dir.clone(),
            name: name.clone(),
            from_pack: from_pack.clone(),
        }),
        Command::Lm { command } => {
            let ctx = commands::Context::load(&g)?;
            let rt = runtime()?;
            match command {
                LmCommand::Ping { role } => rt.block_on(commands::lm::ping(&ctx, *role)),
            }
        }
        Command::Cache { command } => {
            let ctx = commands::Context::load(&g)?;
            match command {
                CacheCommand::Stats => commands::lm::cache_stats(&ctx),
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
    init_logging(cli.verbose);
    let (code, json, human, to_stderr) = match run(&cli) {
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
