//! `tandem apply [PLANFILE]`: make every workspace of the environment hold the configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::operator::Terminal;
use super::plan::PlanFormat;
use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::engine;

/// Arguments of `tandem apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `tandem plan --out FILE`: apply exactly that plan (refused if stale).
    pub planfile: Option<PathBuf>,
    /// Do not ask for confirmation (needed when not on a terminal: nothing is written
    /// unconfirmed).
    #[arg(long)]
    pub auto_approve: bool,
    /// Exit 2 when apply made changes (0: nothing to change, 1: error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// When secrets have no value in this run (their variable not set or empty, their file
    /// missing), apply everything else and leave those secrets as they are, instead of refusing.
    #[arg(long)]
    pub skip_absent_secrets: bool,
    /// Limit to these resources and what they reference (`jobs.nightly_etl`; repeatable).
    #[arg(long = "target", value_name = "KIND.KEY")]
    pub targets: Vec<String>,
    /// Apply a saved plan even though the configuration of resources it acts on changed since
    /// it was made: the plan's values are written, and its commit is recorded.
    #[arg(long, requires = "planfile")]
    pub allow_stale_config: bool,
    /// Requests in flight per workspace at most (adapts down on 429).
    #[arg(long, default_value_t = 16)]
    pub parallelism: usize,
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &ApplyArgs) -> miette::Result<ExitCode> {
    let options = engine::ApplyOptions {
        load: load_options(global)?,
        client: ClientOptions {
            parallelism: args.parallelism,
            ..ClientOptions::default()
        },
        targets: args.targets.clone(),
        planfile: args.planfile.clone(),
        allow_stale_config: args.allow_stale_config,
        auto_approve: args.auto_approve,
        skip_absent_secrets: args.skip_absent_secrets,
    };
    let terminal = Terminal::new(PlanFormat::Text, true);
    let engine::ApplyOutcome { plan, report } =
        super::runtime()?.block_on(engine::apply(&options, &terminal))?;
    println!();
    for w in &report.workspaces {
        let failed = w.outcomes.iter().filter(|o| o.result.is_err()).count();
        let done = w.outcomes.len() - failed;
        println!("{}  {} done, {} failed", w.workspace, done, failed);
        for o in w.outcomes.iter().filter(|o| o.result.is_err()) {
            if let Err(e) = &o.result {
                println!("  {} {}: {e}", o.verb, o.resource);
            }
        }
    }
    for (workspace, error) in &report.failures {
        println!("{workspace}  not applied: {error}");
    }
    for (workspace, secret) in plan.not_compared() {
        println!(
            "{workspace}  skipped {} (--skip-absent-secrets)",
            secret.describe()
        );
    }
    if !plan.has_changes() && report.succeeded() {
        println!(
            "{}",
            if plan.not_compared().next().is_some() {
                "No changes to what this run could compare."
            } else {
                "No changes: every workspace matches the configuration."
            }
        );
    }
    Ok(exit_code(
        report.succeeded(),
        plan.has_changes(),
        args.detailed_exitcode,
    ))
}

/// 1 when something failed; with `detailed`, 2 when changes were made.
fn exit_code(succeeded: bool, changed: bool, detailed: bool) -> ExitCode {
    if !succeeded {
        ExitCode::from(1)
    } else if detailed && changed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
