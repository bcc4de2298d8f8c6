//! `tandem readiness`: could a passive workspace take over right now? A verdict and the checks.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::{GlobalArgs, OutputFormat, load_options};
use crate::client::ClientOptions;
use crate::config;
use crate::engine::{planner, readiness, run};

/// Arguments of `tandem readiness`.
#[derive(Debug, Args)]
pub struct ReadinessArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Runs the command: exit 0 ready, 2 not ready, 1 error.
pub fn run(global: &GlobalArgs, args: &ReadinessArgs) -> miette::Result<ExitCode> {
    let options = load_options(global)?;
    let config = config::load(&options)?;
    let runtime = super::runtime()?;
    let checks = runtime.block_on(async {
        let request = planner::PlanRequest {
            targets: Vec::new(),
            roles: run::roles_from_file(&config.environment),
            enforce_guard: false,
            skip: Default::default(),
            grants_rewritten: Default::default(),
            early_grant_writes: None,
        };
        let (connections, plan, contexts) =
            super::connect_and_plan(&config, &options.root, &ClientOptions::default(), &request)
                .await;
        let checks =
            readiness::readiness(&config, &options.root, &connections, &plan, &contexts).await;
        crate::engine::connect::close_all(connections).await;
        checks
    });
    let ready = checks.iter().all(|c| c.ok);
    // A check that could not be carried out is an error, not a verdict.
    let error = checks.iter().any(|c| c.error);
    let text = match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&serde_json::json!({
            "format_version": 1,
            "environment": config.environment.name,
            "ready": ready,
            "error": error,
            "checks": checks,
        }))
        .map(|s| s + "\n")
        .unwrap_or_default(),
        OutputFormat::Text => render(&config.environment.name, &checks, ready, error),
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(super::CliError::from)?;
    Ok(if error {
        ExitCode::from(1)
    } else if ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn render(environment: &str, checks: &[readiness::Check], ready: bool, error: bool) -> String {
    let verdict = if ready {
        "READY: failover would work now".to_string()
    } else {
        let failing: Vec<String> = checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.workspace, c.check))
            .collect();
        format!(
            "{}: {}",
            if error { "ERROR" } else { "NOT READY" },
            failing.join("; ")
        )
    };
    let mut out = format!("{verdict}\nenv {environment}\n\n");
    let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    let name_width = checks.iter().map(|c| c.workspace.len()).max().unwrap_or(0);
    for c in checks {
        let mark = match (c.ok, c.error) {
            (true, _) => "ok   ",
            (false, false) => "FAIL ",
            (false, true) => "ERROR",
        };
        out.push_str(&format!(
            "{mark}  {:name_width$}  {:width$}  {}\n",
            c.workspace, c.check, c.detail
        ));
    }
    out
}
