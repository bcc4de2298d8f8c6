//! `destroy`: every object tandem manages in the environment deleted from every workspace — the
//! jobs, clusters and pools carrying its tags, the secret scopes its state record says it
//! created (never another scope), then its state record and, last, its seal scope. Planned
//! like an apply against a configuration that declares nothing, shown, and carried out only
//! after the environment's name is typed (or `--auto-approve`).

use super::Operator;
use crate::client::ClientOptions;
use crate::config::{self, LoadOptions};
use crate::engine::apply::{self, WorkspaceReport};
use crate::engine::connect::Connection;
use crate::engine::planner::WorkspaceContext;
use crate::engine::session::Session;
use crate::engine::{EngineError, state};
use crate::plan::{Action, Plan, WorkspacePlan};

/// How to destroy.
#[derive(Debug, Clone)]
pub struct DestroyOptions {
    /// Where the configuration is and which environment (only its environment file is read).
    pub load: LoadOptions,
    /// Requests in flight and retries.
    pub client: ClientOptions,
    /// Do not ask for the typed confirmation.
    pub auto_approve: bool,
}

/// What a destroy did.
#[derive(Debug)]
pub struct DestroyReport {
    /// The environment.
    pub environment: String,
    /// The deletions planned (and shown before they were made).
    pub plan: Plan,
    /// What each workspace's deletions did.
    pub workspaces: Vec<WorkspaceReport>,
    /// Workspaces whose state record and seal scope were removed: nothing of tandem's is left.
    pub cleared: Vec<String>,
    /// Workspaces not (entirely) destroyed, and why.
    pub failures: Vec<(String, String)>,
}

impl DestroyReport {
    /// Whether every workspace was destroyed entirely.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty() && self.workspaces.iter().all(WorkspaceReport::succeeded)
    }
}

/// Why a destroy was refused before it deleted anything.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DestroyError {
    /// No terminal to type the confirmation on, and no `--auto-approve`.
    #[error(
        "destroy deletes everything tandem manages in environment {0}, and there is no terminal to confirm it"
    )]
    #[diagnostic(help(
        "run it on a terminal and type the environment's name, or pass --auto-approve"
    ))]
    NeedsConfirmation(String),
    /// The environment's name was not typed.
    #[error("destroy cancelled: the environment's name was not typed")]
    Cancelled,
}

/// Takes every workspace's lock, plans the deletion of everything tandem manages there, shows
/// it, asks for the environment's name (unless `auto_approve`), deletes, and removes each fully
/// destroyed workspace's state record and seal scope; a workspace where a deletion failed keeps
/// its record (what is left), so running destroy again finishes it.
pub async fn destroy(
    options: &DestroyOptions,
    operator: &dyn Operator,
) -> Result<DestroyReport, EngineError> {
    let config = config::load_environment_only(&options.load)?;
    let environment = config.environment.name.clone();
    if !options.auto_approve && !operator.can_answer() {
        return Err(DestroyError::NeedsConfirmation(environment).into());
    }
    // Everything goes whatever the roles: a record that disagrees with the file is no reason to
    // keep anything (no guard).
    let (session, mut interrupts) = super::lock_as_filed(
        &config,
        &options.load.root,
        &options.client,
        (Vec::new(), false),
        "destroy",
    )
    .await?;
    session
        .run(
            &environment,
            &mut interrupts,
            async |session: &mut Session| {
                destroy_locked(session, &environment, options.auto_approve, operator).await
            },
        )
        .await
}

/// Shows, confirms and carries out the deletions while every lock is held.
async fn destroy_locked(
    session: &Session,
    environment: &str,
    auto_approve: bool,
    operator: &dyn Operator,
) -> Result<DestroyReport, EngineError> {
    let mut plan = session.plan.clone();
    // The plan's own reason (gone from the configuration) would say nothing here.
    let reason = format!("tagged by tandem for environment {environment}");
    for action in plan.workspaces.iter_mut().flat_map(|w| &mut w.actions) {
        if let Action::Delete { reason: why, .. } = &mut action.action {
            why.clone_from(&reason);
        }
    }
    let failures: Vec<(String, String)> = plan
        .failures
        .iter()
        .map(|f| (f.workspace.clone(), format!("not destroyed: {}", f.error)))
        .collect();
    let recorded: Vec<&str> = session
        .contexts
        .iter()
        .filter(|(_, ctx)| ctx.read.record.is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    let report = |workspaces, cleared| DestroyReport {
        environment: environment.to_string(),
        plan: plan.clone(),
        workspaces,
        cleared,
        failures: failures.clone(),
    };
    if !plan.has_changes() && recorded.is_empty() {
        operator.tell(&format!(
            "nothing to destroy: tandem manages nothing in environment {environment} in the workspaces it could read"
        ));
        return Ok(report(Vec::new(), Vec::new()));
    }
    operator.review(&plan, &Default::default());
    for name in &recorded {
        operator.tell(&format!(
            "{name}  then: delete tandem's state record and its seal scope {}",
            state::seal_scope(environment)
        ));
    }
    if !auto_approve {
        let deletions: usize = plan.workspaces.iter().map(|w| w.actions.len()).sum();
        let question = format!(
            "\nDestroy everything tandem manages in environment {environment} ({deletions} deletion(s) in {} workspace(s))? Type the environment's name to confirm: ",
            plan.workspaces.len()
        );
        if operator.answer(&question).await != environment {
            return Err(DestroyError::Cancelled.into());
        }
    }
    operator.starting(&plan);
    let work = session.connections.iter().filter_map(|c| {
        let ctx = session.contexts.get(&c.spec.name)?;
        let workspace_plan = plan
            .workspaces
            .iter()
            .find(|w| w.workspace == c.spec.name)?;
        Some(destroy_workspace(
            c,
            ctx,
            workspace_plan,
            environment,
            operator,
        ))
    });
    let results = futures::future::join_all(work).await;
    operator.done();
    let mut out = report(Vec::new(), Vec::new());
    for (workspace_report, cleared) in results {
        match cleared {
            Ok(true) => out.cleared.push(workspace_report.workspace.clone()),
            Ok(false) => {}
            Err(e) => out.failures.push((workspace_report.workspace.clone(), e)),
        }
        out.workspaces.push(workspace_report);
    }
    Ok(out)
}

/// Deletes one workspace's objects, then its record and seal scope when all went (`Ok(true)`);
/// after a failed deletion, the record of what is left is written instead (`Ok(false)`).
async fn destroy_workspace(
    connection: &Connection,
    ctx: &WorkspaceContext,
    plan: &WorkspacePlan,
    environment: &str,
    operator: &dyn Operator,
) -> (WorkspaceReport, Result<bool, String>) {
    let client = &connection.client;
    let record =
        ctx.read.record.clone().unwrap_or_else(|| {
            state::StateRecord::new(environment, &connection.spec.name, plan.role)
        });
    // Deletions carry their IDs: no reference is resolved.
    let (report, mut record) = apply::apply_workspace(
        client,
        environment,
        connection.embedded.is_some(),
        plan,
        Default::default(),
        (record, None),
        operator,
    )
    .await;
    if !report.succeeded() {
        let kept = match ctx.read.record {
            Some(_) => state::write_state_record(client, &mut record)
                .await
                .map_err(|e| format!("state record not written: {e}")),
            None => Ok(()),
        };
        return (report, kept.map(|()| false));
    }
    let removed = state::remove_state_record(client, environment)
        .await
        .map(|()| true)
        .map_err(|e| format!("state record or seal scope not removed: {e}"));
    (report, removed)
}
