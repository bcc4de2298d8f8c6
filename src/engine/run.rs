//! Applying a plan to a whole environment: the guard, locks taken in a fixed order, workspaces
//! in parallel, state records written, locks released.

use std::collections::BTreeMap;

use super::EngineError;
use super::apply::{self, Progress, WorkspaceReport};
use super::connect::Connection;
use super::planner::{WorkspaceContext, fingerprint_live};
use super::state::{self, Applied, Lock, LockError, StateRecord};
use crate::model::{Kind, ResourceId, Role};
use crate::plan::Plan;

/// How long a lock is honoured before another run may take it over.
pub const LOCK_TTL_MS: i64 = 30 * 60 * 1000;

/// The outcome of an apply.
#[derive(Debug)]
pub struct ApplyReport {
    /// Per workspace that was applied.
    pub workspaces: Vec<WorkspaceReport>,
    /// Workspaces that could not be applied, and why.
    pub failures: Vec<(String, String)>,
}

impl ApplyReport {
    /// Whether everything succeeded.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty() && self.workspaces.iter().all(WorkspaceReport::succeeded)
    }
}

pub use crate::model::state::Provenance;

impl From<&crate::config::Provenance> for Provenance {
    fn from(p: &crate::config::Provenance) -> Self {
        match p {
            crate::config::Provenance::Commit { sha } => Provenance {
                commit: sha.clone(),
                dirty: false,
            },
            crate::config::Provenance::WorkingTree { head, dirty } => Provenance {
                commit: head.clone().unwrap_or_else(|| "working tree".into()),
                dirty: *dirty,
            },
        }
    }
}

/// Refuses to apply a plan file whose live state changed since it was computed.
pub fn check_not_stale(
    plan: &Plan,
    contexts: &BTreeMap<String, WorkspaceContext>,
) -> Result<(), EngineError> {
    for w in &plan.workspaces {
        if let Some(ctx) = contexts.get(&w.workspace)
            && fingerprint_live(&ctx.read) != w.live_fingerprint
        {
            return Err(EngineError::StalePlan {
                workspace: w.workspace.clone(),
            });
        }
    }
    Ok(())
}

/// The resources a saved plan acts on whose configuration (for that workspace) differs now
/// from when the plan was made, as `workspace: kind.key`.
pub fn config_changed_since(
    plan: &Plan,
    contexts: &BTreeMap<String, WorkspaceContext>,
) -> Vec<String> {
    let mut changed = Vec::new();
    for w in &plan.workspaces {
        let Some(ctx) = contexts.get(&w.workspace) else {
            continue;
        };
        let acted_on: std::collections::BTreeSet<&ResourceId> = w.resources_covered().collect();
        for resource in acted_on {
            let now = crate::plan::config_digest(&ctx.desired, resource);
            // A plan that recorded no digest for it cannot vouch for it either.
            if w.config_digests.get(&resource.to_string()) != Some(&now) {
                changed.push(format!("{}: {resource}", w.workspace));
            }
        }
    }
    changed
}

/// A promotion being carried out: recorded in the state records it writes.
#[derive(Debug, Clone)]
pub struct Promotion {
    /// The workspace becoming active.
    pub target: String,
    /// Workspaces that could not be reached and must be fenced when they answer.
    pub unreachable: Vec<String>,
}

/// Applies `plan` (computed with `contexts`) to the connected workspaces. Pending fences of
/// workspaces made passive here are cleared; a promotion is recorded in the target's record.
pub async fn apply_environment(
    environment: &str,
    connections: &[Connection],
    plan: &Plan,
    contexts: &BTreeMap<String, WorkspaceContext>,
    provenance: &Provenance,
    promotion: Option<&Promotion>,
    progress: &dyn Progress,
) -> Result<ApplyReport, EngineError> {
    if let Some(guarded) = plan.failures.iter().find(|f| f.guard) {
        return Err(EngineError::Refused {
            reason: guarded.error.clone(),
        });
    }
    // A promotion goes on without a workspace it may not reach (it records a fence); an apply
    // writes nowhere while any workspace's credentials are wrong.
    if promotion.is_none()
        && let Some(misconfigured) = plan.failures.iter().find(|f| f.misconfigured)
    {
        return Err(EngineError::Misconfigured {
            reason: format!(
                "{}; nothing was written to any workspace",
                misconfigured.described()
            ),
        });
    }
    let mut targets: Vec<&Connection> = connections
        .iter()
        .filter(|c| contexts.contains_key(&c.spec.name))
        .collect();
    targets.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));

    let work = targets.iter().filter_map(|c| {
        let ctx = contexts.get(&c.spec.name)?;
        let workspace_plan = plan
            .workspaces
            .iter()
            .find(|w| w.workspace == c.spec.name)?;
        Some(async move {
            let record = ctx.read.record.clone().unwrap_or_else(|| {
                StateRecord::new(environment, &c.spec.name, workspace_plan.role)
            });
            let (report, mut record) = apply::apply_workspace(
                &c.client,
                environment,
                c.embedded.is_some(),
                workspace_plan,
                live_ids(ctx),
                (record, ctx.grant_writes.as_ref()),
                progress,
            )
            .await;
            record.role = workspace_plan.role;
            if report.succeeded() {
                record.last_applied = Some(Applied {
                    commit: provenance.commit.clone(),
                    dirty: provenance.dirty,
                    at: state::rfc3339(state::now_ms()),
                    by: state::operator(),
                });
            }
            (*c, report, record)
        })
    });
    let results = futures::future::join_all(work).await;

    // A workspace applied passive without failures is fenced: no record needs to remember it.
    let fenced: Vec<String> = results
        .iter()
        .filter(|(_, report, record)| record.role == Role::Passive && report.succeeded())
        .map(|(c, _, _)| c.spec.name.clone())
        .collect();
    // A promotion's waived unreachable workspaces are not failures: their fence is recorded.
    let waived = |w: &str| promotion.is_some_and(|p| p.unreachable.iter().any(|u| u == w));
    let mut failures: Vec<(String, String)> = plan
        .failures
        .iter()
        .filter(|f| !waived(&f.workspace))
        .map(|f| (f.workspace.clone(), f.described()))
        .collect();
    // A workspace of a saved plan that could not be read now is not applied: say so.
    for w in &plan.workspaces {
        if !contexts.contains_key(&w.workspace)
            && !waived(&w.workspace)
            && !failures.iter().any(|(f, _)| f == &w.workspace)
        {
            failures.push((
                w.workspace.clone(),
                "not applied: the workspace could not be read or locked".into(),
            ));
        }
    }
    let mut report = ApplyReport {
        workspaces: Vec::new(),
        failures,
    };
    let writes = results
        .into_iter()
        .map(|(c, workspace_report, mut record)| {
            record
                .pending_fences
                .retain(|f| !fenced.contains(&f.workspace));
            if let Some(p) = promotion {
                // The target is active now: a fence for it (from an earlier failover) is obsolete.
                record.pending_fences.retain(|f| f.workspace != p.target);
            }
            if let Some(p) = promotion.filter(|p| p.target == c.spec.name) {
                record.promoted_at = Some(state::rfc3339(state::now_ms()));
                record.promoted_by = Some(state::operator());
                for workspace in &p.unreachable {
                    if !record
                        .pending_fences
                        .iter()
                        .any(|f| &f.workspace == workspace)
                    {
                        record.pending_fences.push(state::PendingFence {
                            workspace: workspace.clone(),
                            since: state::rfc3339(state::now_ms()),
                        });
                    }
                }
            }
            async move {
                let written = state::write_state_record(&c.client, &mut record).await;
                (
                    workspace_report,
                    written.err().map(|e| {
                        (
                            c.spec.name.clone(),
                            format!("state record not written: {e}"),
                        )
                    }),
                )
            }
        });
    for (workspace_report, failure) in futures::future::join_all(writes).await {
        report.workspaces.push(workspace_report);
        report.failures.extend(failure);
    }
    Ok(report)
}

/// How often a running command renews its locks: three times per lifetime, so two renewals in
/// a row can fail (a workspace briefly down) before a lock expires under a live run.
pub const LOCK_RENEWAL_MS: i64 = LOCK_TTL_MS / 3;

/// The locks one run holds, and the workspaces whose lock could not be asked for.
#[derive(Debug, Default)]
pub struct Locks {
    /// Workspace → lock.
    pub held: BTreeMap<String, Lock>,
    /// Workspaces that failed while locking (unreachable): they are left out of the run.
    pub failed: Vec<crate::plan::WorkspaceFailure>,
    /// Renews the held locks while the run lasts.
    keeper: Option<LockKeeper>,
}

impl Locks {
    /// Resolves (with the reason) when a held lock is found to be someone else's: the run must
    /// stop writing. Pending forever while the locks are ours.
    pub fn lost(&self) -> impl Future<Output = String> + use<> {
        let lost = self.keeper.as_ref().map(|k| k.lost.clone());
        async move {
            match lost {
                Some(lost) => LockKeeper::wait_lost(lost).await,
                None => std::future::pending().await,
            }
        }
    }
}

/// A background task renewing a run's locks before they expire.
#[derive(Debug)]
pub struct LockKeeper {
    task: tokio::task::JoinHandle<()>,
    lost: tokio::sync::watch::Receiver<Option<String>>,
}

impl LockKeeper {
    /// Renews every `(client, lock)` each `interval`, pushing expiries `ttl_ms` ahead.
    pub fn start(
        environment: &str,
        held: Vec<(std::sync::Arc<crate::client::WorkspaceClient>, Lock)>,
        interval: std::time::Duration,
        ttl_ms: i64,
    ) -> Self {
        let (tx, lost) = tokio::sync::watch::channel(None);
        let environment = environment.to_string();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let renewals = held.iter().map(|(client, lock)| {
                    let environment = &environment;
                    async move {
                        let outcome = state::renew_lock(client, environment, lock, ttl_ms).await;
                        (client.name().to_string(), outcome)
                    }
                });
                for (workspace, outcome) in futures::future::join_all(renewals).await {
                    match outcome {
                        Ok(state::Renewal::Renewed) => {
                            tracing::debug!(%workspace, "lock renewed");
                        }
                        Ok(state::Renewal::Lost) => {
                            tracing::error!(%workspace, "the lock was taken over by another run");
                            let _ = tx.send(Some(format!(
                                "the lock on workspace {workspace} was taken over by another run"
                            )));
                            return;
                        }
                        // Tried again at the next turn, well before the lock expires.
                        Err(e) => tracing::warn!(%workspace, error = %e, "lock not renewed"),
                    }
                }
            }
        });
        LockKeeper { task, lost }
    }

    /// Resolves when a lock is lost, with the reason.
    pub async fn lost(&self) -> String {
        Self::wait_lost(self.lost.clone()).await
    }

    async fn wait_lost(mut lost: tokio::sync::watch::Receiver<Option<String>>) -> String {
        match lost.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            // The keeper ended without losing anything (it was stopped): never resolves.
            Err(_) => std::future::pending().await,
        }
    }

    /// Stops renewing.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for LockKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Takes the lock in every connected workspace, in name order. A lock someone else holds stops
/// everything (after giving back the ones taken); a workspace that fails is left out.
pub async fn take_locks(
    environment: &str,
    connections: &[Connection],
    operation: &str,
) -> Result<Locks, EngineError> {
    let mut ordered: Vec<&Connection> = connections.iter().collect();
    ordered.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    let mut locks = Locks::default();
    for c in ordered {
        match state::acquire_lock(&c.client, environment, operation, LOCK_TTL_MS).await {
            Ok(lock) => {
                locks.held.insert(c.spec.name.clone(), lock);
            }
            Err(LockError::Held(lock)) => {
                release_locks(environment, connections, &locks).await;
                return Err(EngineError::Locked {
                    workspace: c.spec.name.clone(),
                    holder: lock.holder,
                    operation: lock.operation,
                    since: lock.since,
                });
            }
            Err(LockError::Client(e)) => locks.failed.push(crate::plan::WorkspaceFailure {
                misconfigured: false,
                authentication: e.is_authentication(),
                workspace: c.spec.name.clone(),
                error: e.to_string(),
                guard: false,
            }),
        }
    }
    let held = connections
        .iter()
        .filter_map(|c| {
            let lock = locks.held.get(&c.spec.name)?;
            Some((std::sync::Arc::clone(&c.client), lock.clone()))
        })
        .collect();
    locks.keeper = Some(LockKeeper::start(
        environment,
        held,
        std::time::Duration::from_millis(LOCK_RENEWAL_MS as u64),
        LOCK_TTL_MS,
    ));
    Ok(locks)
}

/// Gives back the locks (best effort: a lock not given back expires).
pub async fn release_locks(environment: &str, connections: &[Connection], locks: &Locks) {
    if let Some(keeper) = &locks.keeper {
        keeper.stop();
    }
    // Side by side: unlike taking them, giving locks back cannot deadlock two runs.
    let releases = connections.iter().filter_map(|c| {
        let lock = locks.held.get(&c.spec.name)?;
        Some(async move {
            if let Err(e) = state::release_lock(&c.client, environment, lock).await {
                tracing::warn!(workspace = %c.spec.name, error = %e, "lock not released; it expires on its own");
            }
        })
    });
    futures::future::join_all(releases).await;
}

/// IDs of the live managed objects, for resolving references while applying.
fn live_ids(ctx: &WorkspaceContext) -> BTreeMap<ResourceId, String> {
    let live = &ctx.read.live;
    let mut ids = BTreeMap::new();
    for kind in Kind::tagged() {
        for (key, object) in live.objects(kind).into_iter().flatten() {
            ids.insert(
                ResourceId {
                    kind,
                    key: key.clone(),
                },
                object.id.clone(),
            );
        }
    }
    ids
}

/// The role each workspace has according to the environment file.
pub fn roles_from_file(environment: &crate::config::Environment) -> BTreeMap<String, Role> {
    environment
        .workspaces
        .iter()
        .map(|w| (w.name.clone(), environment.role_of(&w.name)))
        .collect()
}
