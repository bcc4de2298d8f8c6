//! Command-line interface: clap types, and one module per command that turns arguments into
//! options and calls the library.

mod apply;
mod drift;
mod emulator;
mod export;
mod plan;
mod promote;
mod readiness;
mod repair;
mod status;
mod unlock;
mod validate;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keeps a primary and disaster-recovery Databricks workspaces in the state described by Git.
#[derive(Debug, Parser)]
#[command(
    name = "tandem",
    version,
    about,
    propagate_version = true,
    args_override_self = true
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config root: the directory holding environments/ (default: the current directory).
    #[arg(
        short = 'C',
        long = "dir",
        global = true,
        value_name = "ROOT",
        default_value = "."
    )]
    pub dir: PathBuf,
    /// Environment to use: loads environments/<ENV>.yaml.
    #[arg(
        short = 'e',
        long = "env",
        global = true,
        value_name = "ENV",
        env = "TANDEM_ENV"
    )]
    pub env: Option<String>,
    /// Read every config file from this Git revision (HEAD~1, origin/main, a SHA) instead of the work tree.
    #[arg(long = "ref", global = true, value_name = "REVISION")]
    pub git_ref: Option<String>,
    /// Read the environment file (hosts, credentials, active workspace) from this Git revision,
    /// e.g. the pull request's base, so the change under review cannot redirect the tokens.
    #[arg(long = "env-from", global = true, value_name = "REVISION")]
    pub env_from: Option<String>,
    /// More log lines on stderr: -v for each step (which auth method each workspace uses), -vv
    /// for every request (TANDEM_LOG, when set, wins).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration: every file, reference and variable, without touching any workspace.
    Validate(validate::ValidateArgs),
    /// Make every workspace of the environment hold the configuration.
    Apply(apply::ApplyArgs),
    /// Show what apply would change in every workspace of the environment.
    Plan(plan::PlanArgs),
    /// How far each workspace has drifted from the configuration, with a remedy for each difference.
    Drift(drift::DriftArgs),
    /// Could a passive workspace take over right now? A verdict and a table of checks.
    Readiness(readiness::ReadinessArgs),
    /// Write configuration files from what a workspace holds.
    Export(export::ExportArgs),
    /// Take over existing objects the configuration describes (by name), without re-creating them.
    Adopt(export::AdoptArgs),
    /// Make a workspace active (failover or failback) and fence every other one.
    Promote(promote::PromoteArgs),
    /// Each workspace's role (file and record), reachability, last apply, lock, pending fences.
    Status(status::StatusArgs),
    /// Break a workspace's lock left by a run that died.
    Unlock(unlock::UnlockArgs),
    /// Replace a state record that cannot be trusted with a new sealed one.
    Repair(repair::RepairArgs),
    /// Serve one emulated Databricks workspace (for trying tandem, tests and other tools).
    Emulator(emulator::EmulatorArgs),
}

/// Output formats shared by commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For programs (a documented, versioned schema).
    Json,
}

/// Errors a command reports before exiting 1.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CliError {
    /// No environment was given.
    #[error("no environment given")]
    #[diagnostic(help("pass -e <env> (loads environments/<env>.yaml) or set TANDEM_ENV"))]
    NoEnvironment,
    /// No such workspace in the environment.
    #[error("environment {environment} has no workspace `{workspace}`")]
    #[diagnostic(help("workspaces: {known}"))]
    UnknownWorkspace {
        /// Environment.
        environment: String,
        /// The name given.
        workspace: String,
        /// The names that exist.
        known: String,
    },
    /// A `--target` that is not `kind.key`.
    #[error("--target `{0}` names no declared resource")]
    #[diagnostic(help(
        "write kind.key of a resource in the configuration, e.g. jobs.nightly_etl (kinds: jobs, clusters, instance_pools, secret_scopes)"
    ))]
    BadTarget(String),
    /// Writing output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// SIGINT or SIGTERM arrived while the command held its locks.
    #[error("interrupted by {0}: stopped, and the locks were given back")]
    #[diagnostic(help(
        "what was already carried out stays done; run the command again to finish the job"
    ))]
    Interrupted(&'static str),
    /// Another run took over a lock this run held (it had expired): this run stopped writing.
    #[error("stopped: {0}")]
    #[diagnostic(help(
        "another run is writing to the workspace now; let it finish, then plan again and re-run if needed (a re-run converges)"
    ))]
    LockLost(String),
}

/// SIGINT and SIGTERM, caught from [`Interrupts::listen`] on: a writing command stops and gives
/// its locks back instead of dying with them (CI cancels a job with SIGINT, then SIGTERM).
/// Only a SIGKILL leaves a lock behind (for `tandem unlock`, or its expiry).
struct Interrupts {
    #[cfg(unix)]
    signals: Vec<(tokio::signal::unix::Signal, &'static str)>,
}

impl Interrupts {
    /// Starts catching the signals (inside the runtime); one arriving before [`Interrupts::recv`]
    /// is awaited is kept for it.
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = [
                (SignalKind::interrupt(), "SIGINT"),
                (SignalKind::terminate(), "SIGTERM"),
            ]
            .into_iter()
            .filter_map(|(kind, name)| signal(kind).ok().map(|s| (s, name)))
            .collect();
            Interrupts { signals }
        }
        #[cfg(not(unix))]
        Interrupts {}
    }

    /// The next signal's name (never, when none could be caught).
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            if self.signals.is_empty() {
                return std::future::pending().await;
            }
            let waits = self.signals.iter_mut().map(|(signal, name)| {
                Box::pin(async move {
                    match signal.recv().await {
                        Some(()) => *name,
                        None => std::future::pending().await,
                    }
                })
            });
            futures::future::select_all(waits).await.0
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        }
    }
}

/// Gives back the locks. After an interrupt a second signal stops that too (an operator who
/// insists; what is left expires or needs `tandem unlock`); otherwise a signal arriving now is
/// ignored, so a run that finished its work never leaves its locks behind.
async fn finish_interruptible(
    locked: LockedRun,
    environment: &str,
    interrupted: bool,
    interrupts: &mut Interrupts,
) {
    if interrupted {
        tokio::select! {
            biased;
            () = locked.finish(environment) => {}
            _ = interrupts.recv() => {}
        }
    } else {
        locked.finish(environment).await;
    }
}

/// One line from stdin (a confirmation), read on its own thread so a signal can interrupt the
/// wait: the thread is left blocked, and ends with the process.
async fn read_answer() -> String {
    use std::io::BufRead;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        let _ = tx.send(answer);
    });
    rx.await.unwrap_or_default()
}

/// Whether coloured output is wanted on stderr/stdout (a terminal, and NO_COLOR unset).
pub fn colour_enabled(stream_is_tty: bool) -> bool {
    stream_is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Entry point of the `tandem` binary: parses arguments, runs the command, maps the outcome to an
/// exit code (0 ok, 1 error, 2 changes present with --detailed-exitcode).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let result = match &cli.command {
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Emulator(args) => emulator::run(args),
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Apply(args) => apply::run(&cli.global, args),
        Command::Unlock(args) => unlock::run(&cli.global, args),
        Command::Repair(args) => repair::run(&cli.global, args),
        Command::Promote(args) => promote::run(&cli.global, args),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Drift(args) => drift::run(&cli.global, args),
        Command::Readiness(args) => readiness::run(&cli.global, args),
        Command::Export(args) => export::run_export(&cli.global, args),
        Command::Adopt(args) => export::run_adopt(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            let colour = colour_enabled(std::io::stderr().is_terminal());
            eprintln!("{}", render_error(report, colour));
            ExitCode::from(1)
        }
    }
}

fn render_error(report: miette::Report, colour: bool) -> String {
    // Configuration problems render themselves (each with its own source excerpt).
    if let Some(crate::config::ConfigError::Invalid(problems)) =
        report.downcast_ref::<crate::config::ConfigError>()
    {
        return problems.render(colour);
    }
    let theme = if colour {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    if handler.render_report(&mut out, report.as_ref()).is_err() {
        out = format!("error: {report}");
    }
    out
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "warn",
        1 => "tandem=info,warn",
        _ => "tandem=debug,warn",
    };
    let filter = EnvFilter::try_from_env("TANDEM_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_enabled(std::io::stderr().is_terminal()))
        .try_init();
}

/// A multi-threaded async runtime for commands that talk to workspaces.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Runtime::new().map_err(CliError::Output)
}

/// Parses `--target kind.key` values.
fn parse_targets(
    targets: &[String],
    config: &crate::config::Config,
) -> Result<Vec<crate::model::ResourceId>, CliError> {
    targets
        .iter()
        .map(|t| {
            crate::engine::planner::parse_target(t)
                .filter(|id| config.resources.contains(id))
                .ok_or_else(|| CliError::BadTarget(t.clone()))
        })
        .collect()
}

/// The workspace `name` of the environment, or a clear error listing the ones that exist.
fn workspace_named<'a>(
    environment: &'a crate::config::Environment,
    name: &str,
) -> Result<&'a crate::config::WorkspaceSpec, CliError> {
    environment
        .workspace(name)
        .ok_or_else(|| CliError::UnknownWorkspace {
            environment: environment.name.clone(),
            workspace: name.to_string(),
            known: environment
                .workspaces
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Connects every workspace and plans them all; the connections stay open for applying.
async fn connect_and_plan(
    config: &crate::config::Config,
    root: &std::path::Path,
    client: &crate::client::ClientOptions,
    request: &crate::engine::planner::PlanRequest,
) -> (
    Vec<crate::engine::connect::Connection>,
    crate::plan::Plan,
    std::collections::BTreeMap<String, crate::engine::planner::WorkspaceContext>,
) {
    let (connections, failures) =
        crate::engine::connect::connect_all(&config.environment.workspaces, root, client).await;
    let (plan, contexts) =
        crate::engine::planner::plan_environment(config, &connections, failures, request).await;
    (connections, plan, contexts)
}

/// The environment file, when work may start before the rest of the configuration has loaded:
/// only when every workspace is remote, since starting an embedded one creates its state files
/// and nothing is created while the configuration may still be invalid.
fn early_environment(options: &crate::config::LoadOptions) -> Option<crate::config::Environment> {
    let environment = crate::config::load_environment(options).ok()?;
    let embedded = environment
        .workspaces
        .iter()
        .any(|w| matches!(w.host, crate::config::Host::Local(_)));
    (!embedded).then_some(environment)
}

/// Workspaces connected, and their objects being read, while the configuration still loads
/// (read-only commands; see [`early_environment`]).
struct EarlyReads {
    workspaces: Vec<crate::config::WorkspaceSpec>,
    connections: Vec<crate::engine::connect::Connection>,
    failures: Vec<crate::plan::WorkspaceFailure>,
    reads: crate::engine::planner::ObjectReads,
}

impl EarlyReads {
    /// Starts them if the environment file loads and names remote workspaces only.
    fn start(
        options: &crate::config::LoadOptions,
        runtime: &tokio::runtime::Runtime,
        client: &crate::client::ClientOptions,
    ) -> Option<Self> {
        let environment = early_environment(options)?;
        runtime.block_on(async {
            let (connections, failures) =
                crate::engine::connect::connect_all(&environment.workspaces, &options.root, client)
                    .await;
            let reads = crate::engine::planner::ObjectReads::start(
                &connections,
                &environment.name,
                None,
                &crate::engine::planner::PlanRequest::default(),
                None,
            );
            Some(EarlyReads {
                workspaces: environment.workspaces,
                connections,
                failures,
                reads,
            })
        })
    }
}

/// [`connect_and_plan`], using reads started early when they are of the same workspaces.
async fn connect_and_plan_early(
    config: &crate::config::Config,
    root: &std::path::Path,
    client: &crate::client::ClientOptions,
    request: &crate::engine::planner::PlanRequest,
    early: Option<EarlyReads>,
) -> (
    Vec<crate::engine::connect::Connection>,
    crate::plan::Plan,
    std::collections::BTreeMap<String, crate::engine::planner::WorkspaceContext>,
) {
    match early {
        Some(early) if early.workspaces == config.environment.workspaces => {
            let (plan, contexts) = crate::engine::planner::plan_environment_from(
                config,
                &early.connections,
                early.failures,
                request,
                early.reads,
            )
            .await;
            (early.connections, plan, contexts)
        }
        _ => connect_and_plan(config, root, client, request).await,
    }
}

/// What a writing command works with: the connections, the locks it holds, the plan.
struct LockedRun {
    connections: Vec<crate::engine::connect::Connection>,
    locks: crate::engine::run::Locks,
    plan: crate::plan::Plan,
    contexts: std::collections::BTreeMap<String, crate::engine::planner::WorkspaceContext>,
}

impl LockedRun {
    /// Connects, takes every lock (name order), then plans under the locks: what is applied is
    /// what was read while no other run could write.
    async fn start(
        config: &crate::config::Config,
        root: &std::path::Path,
        client: &crate::client::ClientOptions,
        request: crate::engine::planner::PlanRequest,
        operation: &str,
    ) -> Result<Self, crate::engine::EngineError> {
        let (connections, failures) =
            crate::engine::connect::connect_all(&config.environment.workspaces, root, client).await;
        Self::start_connected(config, connections, failures, request, operation).await
    }

    /// [`LockedRun::start`] on connections made already (`failures`: those that were not).
    async fn start_connected(
        config: &crate::config::Config,
        mut connections: Vec<crate::engine::connect::Connection>,
        mut failures: Vec<crate::plan::WorkspaceFailure>,
        mut request: crate::engine::planner::PlanRequest,
        operation: &str,
    ) -> Result<Self, crate::engine::EngineError> {
        // Misconfigured credentials stop a writing run before its first write (a lock is one);
        // a promotion may go on without a workspace it cannot reach, and judges that itself.
        if operation != "promote"
            && let Some(misconfigured) = failures.iter().find(|f| f.misconfigured)
        {
            let reason = format!(
                "{}; nothing was written to any workspace",
                misconfigured.error
            );
            crate::engine::connect::close_all(connections).await;
            return Err(crate::engine::EngineError::Misconfigured { reason });
        }
        // The desired states are computed on other threads while the locks are taken: both
        // stand between a run's start and its first read.
        let (locks, desired) = tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let desired = s.spawn(|| {
                    crate::engine::planner::desired_states(config, &connections, &request)
                });
                let locks =
                    tokio::runtime::Handle::current().block_on(crate::engine::run::take_locks(
                        &config.environment.name,
                        &connections,
                        operation,
                    ));
                let desired = desired
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (locks, desired)
            })
        });
        let locks = match locks {
            Ok(locks) => locks,
            Err(e) => {
                crate::engine::connect::close_all(connections).await;
                return Err(e);
            }
        };
        request.skip = locks.failed.iter().map(|f| f.workspace.clone()).collect();
        failures.extend(locks.failed.iter().cloned());
        // Only locked workspaces are read and planned (so only they are applied): a workspace
        // whose lock could not be taken must not be written, and reading it again (unreachable,
        // most likely) would only wait out the same retries.
        connections.sort_by_key(|c| request.skip.contains(&c.spec.name));
        let locked = connections
            .iter()
            .filter(|c| !request.skip.contains(&c.spec.name))
            .count();
        let (plan, contexts) = crate::engine::planner::plan_environment_desired(
            config,
            &connections[..locked],
            failures,
            &request,
            desired,
        )
        .await;
        Ok(LockedRun {
            connections,
            locks,
            plan,
            contexts,
        })
    }

    /// Gives back the locks and closes the connections.
    async fn finish(self, environment: &str) {
        let LockedRun {
            connections,
            locks,
            plan,
            contexts,
        } = self;
        crate::engine::run::release_locks(environment, &connections, &locks).await;
        crate::engine::connect::close_all(connections).await;
        leave_to_exit((plan, contexts));
    }
}

/// Leaves `value` to the end of the process: freeing a large environment's configuration, live
/// state and plan piece by piece takes a tenth of a second that a command about to exit need
/// not spend.
fn leave_to_exit<T>(value: T) {
    std::mem::forget(value);
}

/// The load options for the global arguments.
fn load_options(global: &GlobalArgs) -> Result<crate::config::LoadOptions, CliError> {
    Ok(crate::config::LoadOptions {
        root: global.dir.clone(),
        env: global.env.clone().ok_or(CliError::NoEnvironment)?,
        git_ref: global.git_ref.clone(),
        env_from: global.env_from.clone(),
    })
}
