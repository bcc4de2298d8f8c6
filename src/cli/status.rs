//! `tandem status`: the first command of an incident — who is active, according to whom.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{GlobalArgs, OutputFormat, load_options};
use crate::engine;
use crate::plan::render;

/// Arguments of `tandem status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Seconds to wait for each workspace.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// Runs the command; exit 1 when a workspace is unreachable or roles disagree.
pub fn run(global: &GlobalArgs, args: &StatusArgs) -> miette::Result<ExitCode> {
    let options = engine::StatusOptions {
        load: load_options(global)?,
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let report = super::runtime()?.block_on(engine::status(&options))?;
    let text = match args.format {
        OutputFormat::Json => super::json(&report),
        OutputFormat::Text => render::status(
            &report,
            render::Style::new(super::colour_enabled(std::io::stdout().is_terminal())),
        ),
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(super::CliError::from)?;
    Ok(if report.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
