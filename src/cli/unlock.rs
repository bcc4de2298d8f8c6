//! `tandem unlock <workspace>`: break a stale lock left by a run that died.

use std::process::ExitCode;

use clap::Args;

use super::operator::Terminal;
use super::plan::PlanFormat;
use super::{GlobalArgs, load_options};
use crate::engine;

/// Arguments of `tandem unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The workspace whose lock to break.
    pub workspace: String,
    /// Do not ask for confirmation (needed when not on a terminal).
    #[arg(long)]
    pub auto_approve: bool,
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &UnlockArgs) -> miette::Result<ExitCode> {
    let options = engine::UnlockOptions {
        load: load_options(global)?,
        workspace: args.workspace.clone(),
        auto_approve: args.auto_approve,
    };
    let terminal = Terminal::new(PlanFormat::Text, false);
    let report = super::runtime()?.block_on(engine::unlock(&options, &terminal))?;
    match report.lock {
        Some(lock) => println!(
            "lock on {} broken (held by {} for {} since {})",
            report.workspace, lock.holder, lock.operation, lock.since
        ),
        None if report.broken => println!(
            "lock file of {} removed (it was not a lock tandem could read)",
            report.workspace
        ),
        None => println!("{} is not locked", report.workspace),
    }
    Ok(ExitCode::SUCCESS)
}
