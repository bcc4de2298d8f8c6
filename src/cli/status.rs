//! `tandem status`: the first command of an incident — who is active, according to whom.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{GlobalArgs, OutputFormat, load_options};
use crate::config;
use crate::engine::status::{self, WorkspaceStatus};

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
    let options = load_options(global)?;
    let config = config::load(&options)?;
    let runtime = super::runtime()?;
    let statuses = runtime.block_on(status::status(
        &config.environment,
        &options.root,
        Duration::from_secs(args.timeout.max(1)),
    ));
    let text = match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&serde_json::json!({
            "format_version": 1,
            "environment": config.environment.name,
            "active": config.environment.active,
            "workspaces": statuses,
        }))
        .map(|s| s + "\n")
        .unwrap_or_default(),
        OutputFormat::Text => render(
            &config.environment.name,
            &statuses,
            super::colour_enabled(std::io::stdout().is_terminal()),
        ),
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(super::CliError::from)?;
    let healthy = statuses.iter().all(|s| s.reachable && !s.role_mismatch);
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn render(environment: &str, statuses: &[WorkspaceStatus], colour: bool) -> String {
    let loud = |t: &str| {
        if colour {
            format!("\x1b[1;31m{t}\x1b[0m")
        } else {
            t.to_string()
        }
    };
    let mut out = format!("environment {environment}\n");
    for s in statuses {
        out.push_str(&format!("\n{} ({})\n", s.workspace, s.host));
        let record_role = s
            .role_in_record
            .map(|r| r.as_str().to_string())
            .unwrap_or_else(|| "unknown".into());
        out.push_str(&format!(
            "  role          {} (environment file), {} (state record)\n",
            s.role_in_file.as_str(),
            record_role
        ));
        if let Some(auth) = &s.auth {
            out.push_str(&format!("  auth          {auth}\n"));
        }
        if s.role_mismatch {
            out.push_str(&format!("  {}\n", loud("ROLES DISAGREE: a promotion is not reflected in the environment file (or the reverse)")));
        }
        if !s.reachable {
            out.push_str(&format!(
                "  {}  {}\n",
                loud("UNREACHABLE"),
                s.error.clone().unwrap_or_default()
            ));
            continue;
        }
        match s.record.as_ref().and_then(|r| r.last_applied.as_ref()) {
            Some(a) => {
                let lag = match s.commits_behind {
                    Some(0) => "up to date with HEAD".to_string(),
                    Some(n) => format!("{n} commit(s) behind HEAD"),
                    None => "not an ancestor of HEAD".to_string(),
                };
                out.push_str(&format!(
                    "  last apply    {} at {} by {}{} — {lag}\n",
                    &a.commit[..a.commit.len().min(7)],
                    a.at,
                    a.by,
                    if a.dirty { " (dirty tree)" } else { "" }
                ));
            }
            None => out.push_str("  last apply    never\n"),
        }
        if let Some(r) = &s.record
            && let Some(at) = &r.promoted_at
        {
            out.push_str(&format!(
                "  promoted      {at} by {}\n",
                r.promoted_by.clone().unwrap_or_default()
            ));
        }
        match &s.lock {
            Some(l) => out.push_str(&format!(
                "  lock          held by {} ({}) since {}\n",
                l.holder, l.operation, l.since
            )),
            None => out.push_str("  lock          free\n"),
        }
        for fence in s.record.iter().flat_map(|r| &r.pending_fences) {
            out.push_str(&format!(
                "  {}  {} must be made passive (since {})\n",
                loud("PENDING FENCE"),
                fence.workspace,
                fence.since
            ));
        }
    }
    out
}
