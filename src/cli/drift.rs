//! `tandem drift`: how far each workspace has drifted from Git, each difference with a remedy.
//! Meant to run on a schedule in CI.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::plan::PlanFormat;
use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::config;
use crate::engine::{drift, planner, run};
use crate::plan::drift::Drift;

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
    let options = load_options(global)?;
    let config = config::load(&options)?;
    let runtime = super::runtime()?;
    let client = ClientOptions {
        parallelism: args.parallelism,
        ..ClientOptions::default()
    };
    let (drifts, failures) = runtime.block_on(async {
        // The guard's case (record active, file passive) is drift to report, not a refusal.
        let request = planner::PlanRequest {
            targets: Vec::new(),
            roles: run::roles_from_file(&config.environment),
            enforce_guard: false,
            skip: Default::default(),
            grants_rewritten: Default::default(),
            early_grant_writes: None,
        };
        let (connections, plan, contexts) =
            super::connect_and_plan(&config, &options.root, &client, &request).await;
        crate::engine::connect::close_all(connections).await;
        (drift::environment_drift(&plan, &contexts), plan.failures)
    });
    let text = match args.format {
        PlanFormat::Json => serde_json::to_string_pretty(&serde_json::json!({
            "format_version": 1,
            "environment": config.environment.name,
            "drift": drifts,
            "failures": failures,
        }))
        .map(|s| s + "\n")
        .unwrap_or_default(),
        PlanFormat::Text => render(&config.environment.name, &drifts, false),
        PlanFormat::Markdown => render(&config.environment.name, &drifts, true),
    };
    let mut text = text;
    if args.format != PlanFormat::Json {
        for f in &failures {
            let _ = writeln!(text, "{}: error: {}", f.workspace, f.error);
        }
    }
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(super::CliError::from)?;
    Ok(if !failures.is_empty() {
        ExitCode::from(1)
    } else if args.detailed_exitcode && !drifts.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn render(environment: &str, drifts: &[Drift], markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        let _ = writeln!(out, "### tandem drift · env {environment}\n");
        if drifts.is_empty() {
            out.push_str("No drift: every workspace matches the configuration.\n");
            return out;
        }
        out.push_str(
            "| workspace | resource | kind | what differs | remedy |\n|---|---|---|---|---|\n",
        );
        for d in drifts {
            let resource = d
                .resource
                .as_ref()
                .map(|r| format!("`{r}`"))
                .unwrap_or_default();
            let cell = |s: &str| s.replace('|', "\\|");
            let _ = writeln!(
                out,
                "| {} | {resource} | {:?} | {} | {} |",
                d.workspace,
                d.kind,
                cell(&d.detail),
                cell(&d.remedy)
            );
        }
        return out;
    }
    let _ = writeln!(out, "tandem drift · env {environment}");
    if drifts.is_empty() {
        out.push_str("no drift: every workspace matches the configuration\n");
        return out;
    }
    for d in drifts {
        let resource = d
            .resource
            .as_ref()
            .map(|r| format!(" {r}"))
            .unwrap_or_default();
        let kind = serde_json::to_value(d.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{}{resource}: {kind}\n  {}\n  remedy: {}",
            d.workspace, d.detail, d.remedy
        );
    }
    let _ = writeln!(out, "\n{} difference(s)", drifts.len());
    out
}
