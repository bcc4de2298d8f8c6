//! `tandem plan`: what apply would change in every workspace of the environment.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::config::{self, Config};
use crate::engine::{planner, run};
use crate::plan::{Plan, render};

/// Plan output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// For people: grouped by resource, every workspace side by side.
    Text,
    /// For programs: the versioned plan document.
    Json,
    /// For a pull-request comment.
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
    let options = load_options(global)?;
    let runtime = super::runtime()?;
    let client = ClientOptions {
        parallelism: args.parallelism,
        ..ClientOptions::default()
    };
    // Reading the workspaces takes longer than loading the configuration: start it first.
    let early = super::EarlyReads::start(&options, &runtime, &client);
    let config = config::load(&options)?;
    let targets = super::parse_targets(&args.targets, &config)?;
    let changed = match &args.base {
        Some(rev) => Some(config::source::changed_since(&options.root, rev)?),
        None => None,
    };
    let mut plan = runtime.block_on(async {
        let request = planner::PlanRequest {
            targets: targets.clone(),
            roles: run::roles_from_file(&config.environment),
            enforce_guard: true,
            skip: Default::default(),
            grants_rewritten: Default::default(),
            early_grant_writes: None,
        };
        let (connections, plan, _) =
            super::connect_and_plan_early(&config, &options.root, &client, &request, early).await;
        crate::engine::connect::close_all(connections).await;
        plan
    });
    if let Some(files) = changed {
        // Only configuration: the resource files the environment includes and its own file.
        let env_file = format!("environments/{}.yaml", config.environment.name);
        let deleted_config = |f: &str| {
            [".yaml", ".yml", ".hcl"].iter().any(|e| f.ends_with(e))
                && !options.root.join(f).exists()
        };
        let files: Vec<String> = files
            .into_iter()
            .filter(|f| config.files.contains(f) || *f == env_file || deleted_config(f))
            .collect();
        plan.changed_resources = config
            .origins
            .iter()
            .filter(|(_, o)| files.contains(&o.file))
            .map(|(id, _)| id.clone())
            .collect();
        plan.changed_files = Some(files);
    }
    if let Some(path) = &args.out {
        let json = serde_json::to_vec_pretty(&plan).map_err(|e| miette::miette!("{e}"))?;
        std::fs::write(path, json)
            .map_err(|e| miette::miette!("cannot write {}: {e}", path.display()))?;
    }
    let text = render_plan(&plan, &config, args.format);
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(super::CliError::from)?;
    Ok(exit_code(&plan, args.detailed_exitcode))
}

/// Renders a plan in `format`.
pub fn render_plan(plan: &Plan, config: &Config, format: PlanFormat) -> String {
    let origins: render::Origins = config
        .origins
        .iter()
        .map(|(id, o)| (id.clone(), format!("{}:{}", o.file, o.line)))
        .collect();
    match format {
        PlanFormat::Text => render::text(
            plan,
            &origins,
            render::Style::new(super::colour_enabled(std::io::stdout().is_terminal())),
        ),
        PlanFormat::Markdown => render::markdown(plan, &origins),
        PlanFormat::Json => serde_json::to_string_pretty(plan)
            .map(|s| s + "\n")
            .unwrap_or_default(),
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
