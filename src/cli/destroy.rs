//! `tandem destroy`: delete everything tandem manages in the environment, in every workspace.

use std::process::ExitCode;

use clap::Args;

use super::operator::Terminal;
use super::plan::PlanFormat;
use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::engine;

/// Arguments of `tandem destroy`.
#[derive(Debug, Args)]
#[command(after_help = "\
Deletes, in every workspace of the environment and under its lock, every job, cluster and pool \
carrying tandem's tags for the environment and every secret scope its state record says tandem \
created (adopted ones included) — never an object without its tags, nor a scope it does not own \
— then the state record and, last, tandem's seal scope (tandem.<env>). The deletions are shown \
first; type the environment's name to confirm. Without a terminal it refuses unless \
--auto-approve. A workspace where a deletion failed keeps its record of what is left: run destroy \
again.")]
pub struct DestroyArgs {
    /// Do not ask for the typed confirmation.
    #[arg(long)]
    pub auto_approve: bool,
}

/// Runs the command: exit 1 when a workspace was not entirely destroyed.
pub fn run(global: &GlobalArgs, args: &DestroyArgs) -> miette::Result<ExitCode> {
    let options = engine::DestroyOptions {
        load: load_options(global)?,
        client: ClientOptions::default(),
        auto_approve: args.auto_approve,
    };
    let terminal = Terminal::new(PlanFormat::Text, true);
    let report = super::runtime()?.block_on(engine::destroy(&options, &terminal))?;
    for workspace in &report.cleared {
        println!(
            "{workspace}  destroyed: nothing of environment {} is left",
            report.environment
        );
    }
    for (workspace, error) in &report.failures {
        println!("{workspace}  {error}");
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
