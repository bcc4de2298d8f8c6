//! `tandem show PLANFILE`: a plan saved by `tandem plan --out` rendered as text, Markdown or
//! JSON, without the environment file, any workspace or any credential (CI plans once, then
//! renders the saved plan as often as it needs).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::plan::{PlanFormat, render_plan};
use crate::engine;

/// Arguments of `tandem show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The plan file (from `tandem plan --out FILE`).
    #[arg(value_name = "PLANFILE")]
    pub plan_file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

/// Runs the command: exit 0, or 1 when the file is not a plan tandem can read.
pub fn run(args: &ShowArgs) -> miette::Result<ExitCode> {
    let report = engine::show(&engine::ShowOptions {
        plan_file: args.plan_file.clone(),
    })?;
    let text = render_plan(&report.plan, &report.origins, args.format);
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(super::CliError::from)?;
    Ok(ExitCode::SUCCESS)
}
