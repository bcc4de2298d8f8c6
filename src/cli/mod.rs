//! Command-line interface: clap types, and one module per command that turns arguments into
//! options and calls the library.

mod apply;
mod compare;
mod destroy;
mod drift;
mod emulator;
mod export;
mod import;
mod operator;
mod plan;
mod promote;
mod readiness;
mod repair;
mod show;
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
    /// Colour in output: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(
        long = "color",
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto
    )]
    pub color: ColorChoice,
}

/// When output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set to something.
    #[default]
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream that is (or is not) a terminal, given `NO_COLOR`'s value.
    pub fn colour(self, stream_is_tty: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stream_is_tty && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

/// The `--color` of this run (set once, before any output).
static COLOR: std::sync::OnceLock<ColorChoice> = std::sync::OnceLock::new();

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration: every file, reference and variable, without touching any workspace.
    Validate(validate::ValidateArgs),
    /// Make every workspace of the environment hold the configuration.
    Apply(apply::ApplyArgs),
    /// Show what apply would change in every workspace of the environment.
    Plan(plan::PlanArgs),
    /// Render a plan saved by `plan --out FILE`, reading no workspace and needing no credential.
    Show(show::ShowArgs),
    /// How far each workspace has drifted from the configuration, with a remedy for each difference.
    Drift(drift::DriftArgs),
    /// Could a passive workspace take over right now? A verdict and a table of checks.
    Readiness(readiness::ReadinessArgs),
    /// Write configuration files from what a workspace holds.
    Export(export::ExportArgs),
    /// Take over existing objects the configuration describes (by name), without re-creating them.
    Adopt(export::AdoptArgs),
    /// Take one existing object, by its ID, under management as a configured resource.
    Import(import::ImportArgs),
    /// List every object that differs between two workspaces of the environment.
    Compare(compare::CompareArgs),
    /// Delete every object tandem manages in the environment, in every workspace.
    Destroy(destroy::DestroyArgs),
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
    /// For programs: a versioned document with a JSON Schema in schemas/ (docs/json-output.md).
    Json,
}

/// Errors a command reports before exiting 1.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CliError {
    /// No environment was given.
    #[error("no environment given")]
    #[diagnostic(help("pass -e <env> (loads environments/<env>.yaml) or set TANDEM_ENV"))]
    NoEnvironment,
    /// Writing output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// Whether coloured output is wanted on a stream that is (or is not) a terminal: as `--color`
/// says (auto: a terminal, and NO_COLOR unset or empty).
pub fn colour_enabled(stream_is_tty: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR");
    COLOR
        .get()
        .copied()
        .unwrap_or_default()
        .colour(stream_is_tty, no_color.as_deref())
}

/// Entry point of the `tandem` binary: parses arguments, runs the command, maps the outcome to an
/// exit code (0 ok, 1 error, 2 changes present with --detailed-exitcode).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = COLOR.set(cli.global.color);
    init_logging(cli.global.verbose);
    let result = match &cli.command {
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Emulator(args) => emulator::run(args),
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Show(args) => show::run(args),
        Command::Apply(args) => apply::run(&cli.global, args),
        Command::Unlock(args) => unlock::run(&cli.global, args),
        Command::Repair(args) => repair::run(&cli.global, args),
        Command::Promote(args) => promote::run(&cli.global, args),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Drift(args) => drift::run(&cli.global, args),
        Command::Readiness(args) => readiness::run(&cli.global, args),
        Command::Export(args) => export::run_export(&cli.global, args),
        Command::Adopt(args) => export::run_adopt(&cli.global, args),
        Command::Import(args) => import::run(&cli.global, args),
        Command::Compare(args) => compare::run(&cli.global, args),
        Command::Destroy(args) => destroy::run(&cli.global, args),
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
    let config_error = report
        .downcast_ref::<crate::config::ConfigError>()
        .or_else(
            || match report.downcast_ref::<crate::engine::EngineError>() {
                Some(crate::engine::EngineError::Config(e)) => Some(&**e),
                _ => None,
            },
        );
    if let Some(crate::config::ConfigError::Invalid(problems)) = config_error {
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

/// A report as its JSON document (pretty, one trailing newline).
fn json(report: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(report)
        .map(|s| s + "\n")
        .unwrap_or_default()
}

/// A multi-threaded async runtime for commands that talk to workspaces.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Runtime::new().map_err(CliError::Output)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn color_auto_follows_the_terminal_and_no_color_while_always_and_never_do_not() {
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(ColorChoice::Auto.colour(true, None));
        assert!(ColorChoice::Auto.colour(true, empty));
        assert!(!ColorChoice::Auto.colour(true, set));
        assert!(!ColorChoice::Auto.colour(false, None));
        assert!(ColorChoice::Always.colour(false, set));
        assert!(!ColorChoice::Never.colour(true, None));
    }

    #[test]
    fn color_is_a_global_option() {
        let cli = Cli::try_parse_from(["tandem", "-e", "x", "plan", "--color", "always"])
            .expect("parses");
        assert_eq!(cli.global.color, ColorChoice::Always);
        let cli = Cli::try_parse_from(["tandem", "--color=never", "status"]).expect("parses");
        assert_eq!(cli.global.color, ColorChoice::Never);
        assert!(Cli::try_parse_from(["tandem", "--color", "sometimes", "status"]).is_err());
    }
}
