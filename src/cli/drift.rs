//! `tandem drift`: how far each workspace has drifted from Git, each difference with a remedy.
//! Meant to run on a schedule in CI.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::plan::PlanFormat;
use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::engine;
use crate::plan::render;

/// Arguments of `tandem drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 2 when there is drift (0: none, 1: error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Requests in flight per workspace at most.
    #[arg(long, default_value_t = 16)]
    pub parallelism: usize,
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &DriftArgs) -> miette::Result<ExitCode> {
    let options = engine::DriftOptions {
        load: load_options(global)?,
        client: ClientOptions {
            parallelism: args.parallelism,
            ..ClientOptions::default()
        },
    };
    let report = super::runtime()?.block_on(engine::drift(&options))?;
    let text = match args.format {
        PlanFormat::Json => super::json(&report),
        PlanFormat::Text => render::drift(&report, false),
        PlanFormat::Markdown => render::drift(&report, true),
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(super::CliError::from)?;
    Ok(if !report.failures.is_empty() {
        ExitCode::from(1)
    } else if args.detailed_exitcode && !report.drift.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
