//! `tandem promote <workspace>`: failover and failback (see [`engine::promote`]).

use std::process::ExitCode;

use clap::Args;

use super::operator::Terminal;
use super::plan::{PlanFormat, render_plan};
use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::engine::commands::promote::{EnvironmentFile, Promoted};
use crate::engine::{self, PromoteReport};

/// Arguments of `tandem promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The workspace to make active.
    pub workspace: String,
    /// Show the promotion plan and change nothing anywhere.
    #[arg(long)]
    pub dry_run: bool,
    /// Go on when other workspaces cannot be reached; they are fenced as soon as they answer.
    #[arg(long)]
    pub allow_unreachable: bool,
    /// Rewrite `active:` in the environment file but do not commit it.
    #[arg(long)]
    pub no_commit: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Requests in flight per workspace at most.
    #[arg(long, default_value_t = 16)]
    pub parallelism: usize,
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &PromoteArgs) -> miette::Result<ExitCode> {
    let options = engine::PromoteOptions {
        load: load_options(global)?,
        client: ClientOptions {
            parallelism: args.parallelism,
            ..ClientOptions::default()
        },
        workspace: args.workspace.clone(),
        dry_run: args.dry_run,
        allow_unreachable: args.allow_unreachable,
        no_commit: args.no_commit,
        auto_approve: args.auto_approve,
    };
    let terminal = Terminal::new(args.format, false);
    match super::runtime()?.block_on(engine::promote(&options, &terminal))? {
        PromoteReport::AlreadyActive {
            workspace,
            environment,
        } => {
            println!(
                "{workspace} is already the active workspace of {environment}: nothing to change"
            );
            Ok(ExitCode::SUCCESS)
        }
        PromoteReport::DryRun { plan, origins } => {
            print!("{}", render_plan(&plan, &origins, args.format));
            // Machine-readable output stays clean.
            if args.format == PlanFormat::Text {
                println!("\ndry run: nothing was changed");
            } else {
                eprintln!("dry run: nothing was changed");
            }
            Ok(ExitCode::SUCCESS)
        }
        PromoteReport::Promoted(promoted) => promoted_summary(promoted),
    }
}

/// What each workspace did, what became of the environment file, and the verdict.
fn promoted_summary(promoted: Promoted) -> miette::Result<ExitCode> {
    let Promoted {
        workspace,
        environment,
        report,
        unreachable,
        environment_file,
    } = promoted;
    println!();
    for w in &report.workspaces {
        let failed = w.outcomes.iter().filter(|o| o.result.is_err()).count();
        println!(
            "{}  {} done, {} failed",
            w.workspace,
            w.outcomes.len() - failed,
            failed
        );
    }
    for (name, error) in &report.failures {
        println!("{name}  not promoted: {error}");
    }
    for name in &unreachable {
        println!(
            "{name}  unreachable: pending fence recorded; the next plan, apply or promote fences it once it answers"
        );
    }
    match environment_file? {
        EnvironmentFile::Unchanged => {}
        EnvironmentFile::Committed { file, sha } => println!(
            "{file}: active: {workspace} — committed {} (push it: git push)",
            &sha[..7.min(sha.len())]
        ),
        EnvironmentFile::NotARepository { file } => {
            println!("{file}: active: {workspace} (not a Git repository: nothing committed)")
        }
        EnvironmentFile::NotCommitted { file } => {
            println!("{file}: active: {workspace} (not committed: --no-commit)")
        }
    }
    if report.succeeded() {
        println!("{workspace} is now the active workspace of {environment}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "promotion incomplete: re-run `tandem -e {environment} promote {workspace}` to finish it"
        );
        Ok(ExitCode::from(1))
    }
}
