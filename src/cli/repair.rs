//! `tandem repair <workspace>`: replace a state record that cannot be trusted with a new sealed
//! one, after showing what the old one claims.

use std::process::ExitCode;

use clap::Args;

use super::operator::Terminal;
use super::plan::PlanFormat;
use super::{GlobalArgs, load_options};
use crate::engine::{self, RepairReport};

/// Arguments of `tandem repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The workspace whose state record to replace.
    pub workspace: String,
    /// Keep the old record's list of scopes tandem created (and so may delete): only after
    /// checking every one of them is really tandem's.
    #[arg(long)]
    pub keep_scopes: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &RepairArgs) -> miette::Result<ExitCode> {
    let options = engine::RepairOptions {
        load: load_options(global)?,
        workspace: args.workspace.clone(),
        keep_scopes: args.keep_scopes,
        auto_approve: args.auto_approve,
    };
    let terminal = Terminal::new(PlanFormat::Text, false);
    match super::runtime()?.block_on(engine::repair(&options, &terminal))? {
        RepairReport::NothingToRepair { workspace } => println!(
            "the state record of {workspace} is sealed and can be trusted (or there is none yet): nothing to repair"
        ),
        RepairReport::Replaced { workspace } => {
            println!("\nstate record of {workspace} replaced and sealed")
        }
    }
    Ok(ExitCode::SUCCESS)
}
