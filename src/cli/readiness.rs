//! `tandem readiness`: could a passive workspace take over right now? A verdict and the checks.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::plan::PlanFormat;
use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::engine;
use crate::plan::render;

/// Arguments of `tandem readiness`.
#[derive(Debug, Args)]
pub struct ReadinessArgs {
    /// Output format (markdown: a heading and a table, for an issue or a chat message).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 2 when a workspace is not ready (0: ready, 1: error).
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Runs the command: exit 1 on error; with `--detailed-exitcode`, 2 when not ready.
pub fn run(global: &GlobalArgs, args: &ReadinessArgs) -> miette::Result<ExitCode> {
    let options = engine::ReadinessOptions {
        load: load_options(global)?,
        client: ClientOptions::default(),
    };
    let report = super::runtime()?.block_on(engine::readiness(&options))?;
    let text = match args.format {
        PlanFormat::Json => super::json(&report),
        PlanFormat::Text => render::readiness(&report, false),
        PlanFormat::Markdown => render::readiness(&report, true),
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(super::CliError::from)?;
    // A check that could not be carried out is an error, not a verdict.
    Ok(if report.error {
        ExitCode::from(1)
    } else if args.detailed_exitcode && !report.ready {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
