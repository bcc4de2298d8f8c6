//! `tandem plan`: what apply would change in every workspace of the environment.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::engine;
use crate::plan::{Plan, render};

/// Plan output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// For people: grouped by resource, every workspace side by side, most important first.
    Text,
    /// For programs: the versioned plan document (schemas/plan-output.schema.json).
    Json,
    /// For a pull-request comment: a summary, the passive overrides, then the resources.
    Markdown,
}

/// Arguments of `tandem plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 2 when there are changes (0: none, 1: error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan to FILE (apply it later with `tandem apply FILE`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Limit to these resources and what they reference (`jobs.nightly_etl`; repeatable).
    #[arg(long = "target", value_name = "KIND.KEY")]
    pub targets: Vec<String>,
    /// Requests in flight per workspace at most (adapts down on 429).
    #[arg(long, default_value_t = 16)]
    pub parallelism: usize,
    /// List the config files changed since the merge base with REVISION (e.g. origin/main) and
    /// mark the resources they define.
    #[arg(long, value_name = "REVISION")]
    pub base: Option<String>,
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &PlanArgs) -> miette::Result<ExitCode> {
    let options = engine::PlanOptions {
        load: load_options(global)?,
        client: ClientOptions {
            parallelism: args.parallelism,
            ..ClientOptions::default()
        },
        targets: args.targets.clone(),
        base: args.base.clone(),
    };
    let report = super::runtime()?.block_on(engine::plan(&options))?;
    if let Some(path) = &args.out {
        let json = serde_json::to_vec_pretty(&report.plan).map_err(|e| miette::miette!("{e}"))?;
        std::fs::write(path, json)
            .map_err(|e| miette::miette!("cannot write {}: {e}", path.display()))?;
    }
    let text = render_plan(&report.plan, &report.origins, args.format);
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(super::CliError::from)?;
    Ok(exit_code(&report.plan, args.detailed_exitcode))
}

/// Renders a plan in `format`.
pub fn render_plan(plan: &Plan, origins: &render::Origins, format: PlanFormat) -> String {
    match format {
        PlanFormat::Text => render::text(
            plan,
            origins,
            render::Style::new(super::colour_enabled(std::io::stdout().is_terminal())),
        ),
        PlanFormat::Markdown => render::markdown(plan, origins),
        PlanFormat::Json => super::json(plan),
    }
}

/// 1 when a workspace failed; with `detailed`, 2 when there are changes.
pub fn exit_code(plan: &Plan, detailed: bool) -> ExitCode {
    if !plan.failures.is_empty() {
        ExitCode::from(1)
    } else if detailed && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
