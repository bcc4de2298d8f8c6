//! `repair`: replace a state record that cannot be trusted with a new sealed one, after showing
//! what the old one claims.

use super::Operator;
use crate::client::{ClientOptions, WorkspaceClient};
use crate::config::{self, LoadOptions};
use crate::engine::repair::{Inspection, inspect, reseal};
use crate::engine::{EngineError, connect, run, state};
use crate::model::Role;

/// Which record to repair, and how.
#[derive(Debug, Clone)]
pub struct RepairOptions {
    /// Where the configuration is and which environment.
    pub load: LoadOptions,
    /// The workspace whose state record to replace.
    pub workspace: String,
    /// Keep the old record's list of scopes tandem created.
    pub keep_scopes: bool,
    /// Do not ask for confirmation.
    pub auto_approve: bool,
}

/// What a repair did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairReport {
    /// The record was sealed and trusted (or there was none): nothing was written.
    NothingToRepair {
        /// The workspace.
        workspace: String,
    },
    /// A new sealed record replaced it.
    Replaced {
        /// The workspace.
        workspace: String,
    },
}

/// Errors of `repair`.
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

/// Under the workspace's lock: inspects its record, tells the operator what the old one claims
/// and what the new one will hold, and (confirmed) writes the new sealed record.
pub async fn repair(
    options: &RepairOptions,
    operator: &dyn Operator,
) -> Result<RepairReport, EngineError> {
    let config = config::load(&options.load)?;
    let environment = &config.environment;
    let spec = super::workspace_named(environment, &options.workspace)?;
    let role = environment.role_of(&spec.name);
    let connection = connect::connect(spec, &options.load.root, &ClientOptions::default())
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
    let outcome = repair_locked(client, &environment.name, role, options, operator).await;
    if let Err(e) = state::release_lock(client, &environment.name, &lock).await {
        tracing::warn!(workspace = %spec.name, error = %e, "lock not released; it expires on its own");
    }
    connection.close().await;
    outcome
}

async fn repair_locked(
    client: &WorkspaceClient,
    environment: &str,
    role: Role,
    options: &RepairOptions,
    operator: &dyn Operator,
) -> Result<RepairReport, EngineError> {
    let name = client.name();
    let inspection = inspect(client, environment)
        .await
        .map_err(|e| RepairError::Workspace(e.to_string()))?;
    let Some(problem) = &inspection.problem else {
        return Ok(RepairReport::NothingToRepair {
            workspace: name.to_string(),
        });
    };
    if let Some(reason) = inspection.seal_problem() {
        return Err(RepairError::Seal {
            workspace: name.into(),
            reason: reason.into(),
        }
        .into());
    }
    operator.tell(&proposal(
        name,
        problem,
        &inspection,
        role,
        options.keep_scopes,
    ));
    let question = format!("\nReplace the state record of {name}? Only 'yes' is accepted: ");
    super::approve(
        operator,
        options.auto_approve,
        &question,
        RepairError::NeedsApproval,
        RepairError::Cancelled,
    )
    .await?;
    reseal(client, environment, role, inspection, options.keep_scopes)
        .await
        .map_err(|e| RepairError::Workspace(e.to_string()))?;
    Ok(RepairReport::Replaced {
        workspace: name.to_string(),
    })
}

/// What the old record claims and what the new one will hold, for the operator to check.
fn proposal(
    name: &str,
    problem: &str,
    inspection: &Inspection,
    role: Role,
    keep_scopes: bool,
) -> String {
    let listed = |items: Vec<&str>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    let mut out = format!("state record of {name}: {problem}\n\n");
    match &inspection.claims {
        Some(claims) => {
            out.push_str("it claims (none of it is trusted):\n");
            out.push_str(&format!("  role: {}\n", claims.role.as_str()));
            if let Some(applied) = &claims.last_applied {
                out.push_str(&format!(
                    "  last applied: {} at {} by {}\n",
                    applied.commit, applied.at, applied.by
                ));
            }
            let scopes = claims.managed_scopes.iter().map(String::as_str).collect();
            out.push_str(&format!("  scopes tandem created: {}\n", listed(scopes)));
            let fences = claims
                .pending_fences
                .iter()
                .map(|f| f.workspace.as_str())
                .collect();
            out.push_str(&format!("  pending fences: {}\n", listed(fences)));
            if claims.role != role {
                out.push_str(&format!(
                    "\n  WARNING: it says {} while the environment file says {}; if a promotion happened that this checkout does not know about, stop and pull it first\n",
                    claims.role.as_str(),
                    role.as_str()
                ));
            }
        }
        None => out.push_str("it holds nothing that can be read as a record\n"),
    }
    out.push_str("\nthe new record:\n");
    out.push_str(&format!(
        "  role: {} (from the environment file)\n",
        role.as_str()
    ));
    let kept = inspection
        .claims
        .as_ref()
        .map(|c| c.managed_scopes.len())
        .unwrap_or_default();
    if keep_scopes {
        out.push_str("  scopes tandem created: kept as listed above (--keep-scopes): removing one from the configuration deletes it\n");
    } else {
        out.push_str(&format!("  scopes tandem created: none ({kept} dropped: tandem will never delete them; --keep-scopes keeps them once you checked them)\n"));
    }
    out.push_str(
        "  secret fingerprints: none (the next apply writes every configured secret again)\n",
    );
    out.push_str(
        "  pending fences: none (the next apply makes every passive workspace passive anyway)",
    );
    out
}
