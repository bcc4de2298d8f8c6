//! `tandem unlock <workspace>`: break a stale lock left by a run that died.

use std::process::ExitCode;

use clap::Args;

use super::{GlobalArgs, load_options};
use crate::engine;

/// Arguments of `tandem unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The workspace whose lock to break.
    pub workspace: String,
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &UnlockArgs) -> miette::Result<ExitCode> {
    let options = engine::UnlockOptions {
        load: load_options(global)?,
        workspace: args.workspace.clone(),
    };
    let report = super::runtime()?.block_on(engine::unlock(&options))?;
    match report.lock {
        Some(lock) => println!(
            "lock on {} broken (held by {} for {} since {})",
            report.workspace, lock.holder, lock.operation, lock.since
        ),
        None => println!("{} is not locked", report.workspace),
    }
    Ok(ExitCode::SUCCESS)
}
