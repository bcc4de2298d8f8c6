//! `tandem compare <ws> <ws>`: every object that differs between two workspaces of the
//! environment. Meant to run on a schedule beside `drift`.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::plan::PlanFormat;
use super::{GlobalArgs, load_options};
use crate::engine;
use crate::plan::render;

/// Arguments of `tandem compare`.
#[derive(Debug, Args)]
#[command(after_help = "\
Reads both workspaces as export does: objects are paired by tandem's key or by name, and \
compared after the same cleaning (server defaults and tandem's tags dropped, IDs of paired \
objects as references). The fields tandem sets by role (a passive job's concurrency, paused \
schedules and held-back grants, a passive pool's idle instances, cluster states) are not \
compared; secret values cannot be read, so only secret keys are. Lists objects only one \
workspace holds, fields that differ, and objects tandem manages on one side only. Writes nothing.")]
pub struct CompareArgs {
    /// The first workspace.
    pub a: String,
    /// The second workspace.
    pub b: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 2 when the workspaces differ (0: they do not, 1: error).
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &CompareArgs) -> miette::Result<ExitCode> {
    let options = engine::CompareOptions {
        load: load_options(global)?,
        workspaces: [args.a.clone(), args.b.clone()],
    };
    let report = super::runtime()?.block_on(engine::compare(&options))?;
    let text = match args.format {
        PlanFormat::Json => super::json(&report),
        PlanFormat::Text => render::compare(&report, false),
        PlanFormat::Markdown => render::compare(&report, true),
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(super::CliError::from)?;
    Ok(
        if args.detailed_exitcode && !report.differences.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        },
    )
}
