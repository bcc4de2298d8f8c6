//! `tandem repair <workspace>`: replace a state record that cannot be trusted with a new sealed
//! one, after showing what the old one claims.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Args;

use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::config;
use crate::engine::{connect, repair, run, state};

/// Arguments of `tandem repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The workspace whose state record to replace.
    pub workspace: String,
    /// Keep the old record's list of scopes tandem created (and so may delete): only after
    /// checking every one of them is really tandem's.
    #[arg(long)]
    pub keep_scopes: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
}

/// Errors of `tandem repair`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RepairError {
    /// The workspace failed.
    #[error("{0}")]
    Workspace(String),
    /// The seal scope cannot be used.
    #[error("workspace {workspace}: {reason}")]
    #[diagnostic(help("fix that first, then run `tandem repair {workspace}` again"))]
    Seal {
        /// Workspace.
        workspace: String,
        /// What is wrong.
        reason: String,
    },
    /// No terminal to confirm on.
    #[error("repair replaces the state record and there is no terminal to confirm it")]
    #[diagnostic(help("review what it printed and re-run with --auto-approve"))]
    NeedsApproval,
    /// The user said no.
    #[error("repair cancelled: nothing was written")]
    Cancelled,
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &RepairArgs) -> miette::Result<ExitCode> {
    let options = load_options(global)?;
    let config = config::load(&options)?;
    let environment = &config.environment;
    let spec = super::workspace_named(environment, &args.workspace)?;
    let role = environment.role_of(&spec.name);
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let connection = connect::connect(spec, &options.root, &ClientOptions::default())
            .await
            .map_err(|e| RepairError::Workspace(e.to_string()))?;
        let client = &connection.client;
        let lock = state::acquire_lock(client, &environment.name, "repair", run::LOCK_TTL_MS)
            .await
            .map_err(|e| match e {
                state::LockError::Held(l) => RepairError::Workspace(format!(
                    "workspace {} is locked by {} ({}) since {}: wait for that run, or `tandem unlock {}`",
                    spec.name, l.holder, l.operation, l.since, spec.name
                )),
                state::LockError::Client(e) => RepairError::Workspace(e.to_string()),
            });
        let lock = match lock {
            Ok(lock) => lock,
            Err(e) => {
                connection.close().await;
                return Err(e.into());
            }
        };
        let outcome = repair_locked(client, &environment.name, role, args, tty).await;
        if let Err(e) = state::release_lock(client, &environment.name, &lock).await {
            tracing::warn!(workspace = %spec.name, error = %e, "lock not released; it expires on its own");
        }
        connection.close().await;
        outcome
    })
}

async fn repair_locked(
    client: &crate::client::WorkspaceClient,
    environment: &str,
    role: crate::model::Role,
    args: &RepairArgs,
    tty: bool,
) -> miette::Result<ExitCode> {
    let name = client.name();
    let inspection = repair::inspect(client, environment)
        .await
        .map_err(|e| RepairError::Workspace(e.to_string()))?;
    let Some(problem) = &inspection.problem else {
        println!(
            "the state record of {name} is sealed and can be trusted (or there is none yet): nothing to repair"
        );
        return Ok(ExitCode::SUCCESS);
    };
    if let Some(reason) = inspection.seal_problem() {
        return Err(RepairError::Seal {
            workspace: name.into(),
            reason: reason.into(),
        }
        .into());
    }
    println!("state record of {name}: {problem}\n");
    match &inspection.claims {
        Some(claims) => {
            println!("it claims (none of it is trusted):");
            println!("  role: {}", claims.role.as_str());
            if let Some(applied) = &claims.last_applied {
                println!(
                    "  last applied: {} at {} by {}",
                    applied.commit, applied.at, applied.by
                );
            }
            let scopes: Vec<&str> = claims.managed_scopes.iter().map(String::as_str).collect();
            println!(
                "  scopes tandem created: {}",
                if scopes.is_empty() {
                    "none".into()
                } else {
                    scopes.join(", ")
                }
            );
            let fences: Vec<&str> = claims
                .pending_fences
                .iter()
                .map(|f| f.workspace.as_str())
                .collect();
            println!(
                "  pending fences: {}",
                if fences.is_empty() {
                    "none".into()
                } else {
                    fences.join(", ")
                }
            );
            if claims.role != role {
                println!(
                    "\n  WARNING: it says {} while the environment file says {}; if a promotion happened that this checkout does not know about, stop and pull it first",
                    claims.role.as_str(),
                    role.as_str()
                );
            }
        }
        None => println!("it holds nothing that can be read as a record"),
    }
    println!("\nthe new record:");
    println!("  role: {} (from the environment file)", role.as_str());
    let kept = inspection
        .claims
        .as_ref()
        .map(|c| c.managed_scopes.len())
        .unwrap_or_default();
    if args.keep_scopes {
        println!(
            "  scopes tandem created: kept as listed above (--keep-scopes): removing one from the configuration deletes it"
        );
    } else {
        println!(
            "  scopes tandem created: none ({kept} dropped: tandem will never delete them; --keep-scopes keeps them once you checked them)"
        );
    }
    println!("  secret fingerprints: none (the next apply writes every configured secret again)");
    println!(
        "  pending fences: none (the next apply makes every passive workspace passive anyway)"
    );
    if !args.auto_approve {
        if !tty {
            return Err(RepairError::NeedsApproval.into());
        }
        print!("\nReplace the state record of {name}? Only 'yes' is accepted: ");
        let _ = std::io::stdout().flush();
        if super::read_answer().await.trim() != "yes" {
            return Err(RepairError::Cancelled.into());
        }
    }
    repair::reseal(client, environment, role, inspection, args.keep_scopes)
        .await
        .map_err(|e| RepairError::Workspace(e.to_string()))?;
    println!("\nstate record of {name} replaced and sealed");
    Ok(ExitCode::SUCCESS)
}
