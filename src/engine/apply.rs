//! Carrying out a workspace's plan: pools, clusters and jobs in dependency order (independent
//! resources in parallel), then scopes, secrets and ACLs, then deletions. A create whose outcome
//! is unknown is looked up by its tags before it is tried again, so a flaky network never leaves
//! duplicates; a failed action is reported and independent work goes on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use super::grant_writes::GrantWrites;
use super::live::permissions_object;
use super::objects;
use super::secrets::read_value;
use super::state::{SecretWrite, StateRecord};
use crate::client::api::secrets::SecretValue;
use crate::client::api::{clusters, permissions, secrets};
use crate::client::{ClientError, Retry, WorkspaceClient};
use crate::config::refs;
use crate::model::live::Grant;
use crate::model::{Kind, ResourceId};
use crate::plan::{
    Action, PlannedAction, TAG_ENV, TAG_KEY, TAG_MANAGED, TAG_MANAGED_VALUE, WorkspacePlan,
};

/// The outcome of one action.
#[derive(Debug, Clone)]
pub struct ActionOutcome {
    /// The resource.
    pub resource: ResourceId,
    /// The action's verb.
    pub verb: &'static str,
    /// `Ok(detail)` or the error.
    pub result: Result<String, String>,
}

/// Reports progress as actions finish.
pub trait Progress: Sync {
    /// An action of `workspace` finished.
    fn finished(&self, workspace: &str, outcome: &ActionOutcome);
}

/// What applying one workspace did.
#[derive(Debug, Clone)]
pub struct WorkspaceReport {
    /// Workspace name.
    pub workspace: String,
    /// Every action's outcome.
    pub outcomes: Vec<ActionOutcome>,
}

impl WorkspaceReport {
    /// Whether every action succeeded.
    pub fn succeeded(&self) -> bool {
        self.outcomes.iter().all(|o| o.result.is_ok())
    }
}

/// Shared state of one workspace's apply.
struct Run<'a> {
    client: &'a WorkspaceClient,
    environment: &'a str,
    workspace: &'a str,
    progress: &'a dyn Progress,
    /// An embedded workspace: unreadable secret sources get a placeholder value.
    placeholder_secrets: bool,
    /// IDs of managed objects, live and created in this run.
    ids: Mutex<BTreeMap<ResourceId, String>>,
    /// Resources whose create or update failed (their dependents are skipped).
    failed: Mutex<BTreeSet<ResourceId>>,
    outcomes: Mutex<Vec<ActionOutcome>>,
    record: Mutex<StateRecord>,
    /// Held while the workspace's fingerprint key is made (by the first secret written).
    key_made: tokio::sync::Mutex<()>,
    /// Grants written while the workspace was read: collected, not written again.
    grant_writes: Option<&'a GrantWrites>,
}

/// Applies `plan` to the workspace; `ids` are the live IDs the plan was computed with. The state
/// record is updated with what was done (and written by the caller).
#[allow(clippy::too_many_arguments)]
pub async fn apply_workspace(
    client: &WorkspaceClient,
    environment: &str,
    placeholder_secrets: bool,
    plan: &WorkspacePlan,
    ids: BTreeMap<ResourceId, String>,
    (record, grant_writes): (StateRecord, Option<&GrantWrites>),
    progress: &dyn Progress,
) -> (WorkspaceReport, StateRecord) {
    let run = Run {
        key_made: tokio::sync::Mutex::new(()),
        grant_writes,
        client,
        environment,
        workspace: &plan.workspace,
        progress,
        placeholder_secrets,
        ids: Mutex::new(ids),
        failed: Mutex::new(BTreeSet::new()),
        outcomes: Mutex::new(Vec::new()),
        record: Mutex::new(record),
    };
    let (deletions, work): (Vec<&PlannedAction>, Vec<&PlannedAction>) = plan
        .actions
        .iter()
        .partition(|a| matches!(a.action, Action::Delete { .. } | Action::DeleteScope { .. }));
    for kind in Kind::tagged() {
        run.resources_in_parallel(work.iter().copied().filter(|a| a.resource.kind == kind))
            .await;
    }
    run.resources_in_parallel(
        work.iter()
            .copied()
            .filter(|a| a.resource.kind == Kind::SecretScopes),
    )
    .await;
    // Jobs first (they use the clusters and pools), scopes last.
    for kind in Kind::tagged().rev().chain([Kind::SecretScopes]) {
        let group: Vec<&PlannedAction> = deletions
            .iter()
            .copied()
            .filter(|a| a.resource.kind == kind)
            .collect();
        futures::future::join_all(group.into_iter().map(|a| run.one(a))).await;
    }
    let outcomes = run.outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
    let record = run.record.into_inner().unwrap_or_else(|p| p.into_inner());
    (
        WorkspaceReport {
            workspace: plan.workspace.clone(),
            outcomes,
        },
        record,
    )
}

impl Run<'_> {
    /// Runs each resource's actions in order, different resources concurrently.
    async fn resources_in_parallel<'p>(&self, actions: impl Iterator<Item = &'p PlannedAction>) {
        let mut by_resource: BTreeMap<&ResourceId, Vec<&PlannedAction>> = BTreeMap::new();
        for a in actions {
            by_resource.entry(&a.resource).or_default().push(a);
        }
        // Waves: a resource that references another one of this group getting its ID in this
        // apply (a job running a job created or replaced here) waits for it. Every other ID is
        // known already, so a group without creates (a promotion, say) is one wave.
        let fresh: BTreeSet<&ResourceId> = by_resource
            .iter()
            .filter(|(_, chain)| {
                chain
                    .iter()
                    .any(|a| matches!(a.action, Action::Create { .. } | Action::Replace { .. }))
            })
            .map(|(id, _)| *id)
            .collect();
        let mut pending: BTreeMap<&ResourceId, (Vec<&PlannedAction>, BTreeSet<ResourceId>)> =
            by_resource
                .into_iter()
                .map(|(id, chain)| {
                    let deps = if fresh.is_empty() {
                        BTreeSet::new()
                    } else {
                        chain
                            .iter()
                            .flat_map(|a| body_of(&a.action).map(references).unwrap_or_default())
                            .filter(|d| d != id && fresh.contains(d))
                            .collect()
                    };
                    (id, (chain, deps))
                })
                .collect();
        while !pending.is_empty() {
            let waiting: BTreeSet<ResourceId> = pending.keys().map(|id| (*id).clone()).collect();
            let mut ready: Vec<&ResourceId> = pending
                .iter()
                .filter(|(_, (_, deps))| deps.is_disjoint(&waiting))
                .map(|(id, _)| *id)
                .collect();
            if ready.is_empty() {
                ready = pending.keys().copied().collect(); // a cycle: validation forbids it; go on
            }
            let wave: Vec<Vec<&PlannedAction>> = ready
                .iter()
                .filter_map(|id| pending.remove(id))
                .map(|(chain, _)| chain)
                .collect();
            // A few chains per request slot are under way at once, not the whole wave: each
            // prepares its request (references resolved, body serialised) just before it can
            // be sent, instead of thousands at the start holding up everything else.
            let under_way = self.client.parallelism().max(1) * 4;
            futures::stream::iter(wave.into_iter().map(|chain| self.chain(chain)))
                .buffer_unordered(under_way)
                .collect::<()>()
                .await;
        }
    }

    /// One resource's actions in order; a failed create or update stops the rest, while one
    /// secret that cannot be read does not hold back the others or the ACLs.
    async fn chain(&self, chain: Vec<&PlannedAction>) {
        for action in chain {
            let structural = matches!(
                action.action,
                Action::Create { .. }
                    | Action::Update { .. }
                    | Action::Replace { .. }
                    | Action::CreateScope { .. }
            );
            if !self.one(action).await && structural {
                break;
            }
        }
    }

    /// Carries out one action and records its outcome; false when it failed.
    async fn one(&self, planned: &PlannedAction) -> bool {
        let result = match self.blocked_by(&planned.action) {
            Some(dependency) => Err(format!("skipped: {dependency} failed")),
            None => self.execute(planned).await.map_err(|e| e.to_string()),
        };
        let ok = result.is_ok();
        if !ok
            && matches!(
                planned.action,
                Action::Create { .. }
                    | Action::Update { .. }
                    | Action::Replace { .. }
                    | Action::CreateScope { .. }
            )
        {
            self.failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(planned.resource.clone());
        }
        let outcome = ActionOutcome {
            resource: planned.resource.clone(),
            verb: planned.action.verb(),
            result,
        };
        self.progress.finished(self.workspace, &outcome);
        self.outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(outcome);
        ok
    }

    /// A resource this action's body references whose own create failed.
    fn blocked_by(&self, action: &Action) -> Option<ResourceId> {
        let body = match action {
            Action::Create { body }
            | Action::Update { body, .. }
            | Action::Replace { body, .. } => body,
            _ => return None,
        };
        let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if failed.is_empty() {
            return None; // the usual case, and scanning thousands of bodies is not free
        }
        references(body).into_iter().find(|r| failed.contains(r))
    }

    fn id_of(&self, resource: &ResourceId) -> Option<String> {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(resource)
            .cloned()
    }

    fn set_id(&self, resource: &ResourceId, id: String) {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(resource.clone(), id);
    }

    /// Replaces references with the IDs known now (objects created earlier in this run).
    fn resolve(&self, body: &Value) -> Result<Value, ClientError> {
        // Resolved under the lock (it is quick): copying the map for each of thousands of
        // actions stalled the whole apply.
        let ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        let resolved =
            refs::resolve_resource_ids(body, &|id| ids.get(id).map(|v| id.kind.spec().id_value(v)));
        drop(ids);
        resolved.map_err(|missing| {
            self.local_error(format!(
                "{missing} has no ID in this workspace (it was not created)"
            ))
        })
    }

    fn local_error(&self, reason: String) -> ClientError {
        ClientError::Local {
            workspace: self.workspace.into(),
            reason,
        }
    }

    async fn execute(&self, planned: &PlannedAction) -> Result<String, ClientError> {
        let resource = &planned.resource;
        match &planned.action {
            Action::Create { body } => {
                let body = self.resolve(body)?;
                let id = self.create(resource, &body).await?;
                self.set_id(resource, id.clone());
                Ok(format!("id {id}"))
            }
            Action::Update { id, body, .. } => {
                let body = self.resolve(body)?;
                objects::edit(self.client, resource.kind, id, &body).await?;
                Ok(format!("id {id}"))
            }
            Action::Replace { id, body, .. } => {
                self.delete(resource.kind, id).await?;
                let body = self.resolve(body)?;
                let new_id = self.create(resource, &body).await?;
                self.set_id(resource, new_id.clone());
                Ok(format!("id {id} → {new_id}"))
            }
            Action::Delete { id, .. } => {
                self.delete(resource.kind, id).await?;
                Ok(format!("id {id}"))
            }
            Action::Start { id } => {
                let id = id
                    .clone()
                    .or_else(|| self.id_of(resource))
                    .ok_or_else(|| self.local_error("no cluster ID".into()))?;
                match clusters::start(self.client, &id).await {
                    Ok(_) => Ok(format!("id {id}")),
                    // Already starting or running: what we wanted.
                    Err(ClientError::Api { code, .. }) if code == "INVALID_STATE" => {
                        Ok(format!("id {id} (already running)"))
                    }
                    Err(e) => Err(e),
                }
            }
            Action::Terminate { id } => {
                let id = id
                    .clone()
                    .or_else(|| self.id_of(resource))
                    .ok_or_else(|| self.local_error("no cluster ID".into()))?;
                clusters::terminate(self.client, &id).await?;
                Ok(format!("id {id}"))
            }
            Action::SetPermissions {
                id,
                after,
                keep_owner,
                ..
            } => {
                let id = id
                    .clone()
                    .or_else(|| self.id_of(resource))
                    .ok_or_else(|| self.local_error("no object ID".into()))?;
                if let Some(writes) = self.grant_writes
                    && resource.kind == Kind::Jobs
                    && let Some(written) = writes.take(&resource.key, &id, after).await
                {
                    return Ok(format!("{written} grants"));
                }
                let object = permissions_object(resource.kind).ok_or_else(|| {
                    self.local_error("secret scopes have ACLs, not permissions".into())
                })?;
                let mut acl: Vec<Value> = after.iter().map(Grant::acl_entry).collect();
                if *keep_owner && !after.iter().any(|g| g.level == "IS_OWNER") {
                    // A new job is owned by its creator; keep whoever owns it now.
                    let current = permissions::get(self.client, object, &id).await?;
                    if let Some(owner) = Grant::direct_in(&current)
                        .into_iter()
                        .find(|g| g.level == "IS_OWNER")
                    {
                        acl.push(owner.acl_entry());
                    }
                }
                let granted = acl.len();
                permissions::set(self.client, object, &id, acl).await?;
                Ok(format!("{granted} grants"))
            }
            Action::CreateScope { name } => {
                self.create_scope(name).await?;
                self.record
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .managed_scopes
                    .insert(name.clone());
                Ok(name.clone())
            }
            Action::DeleteScope { name } => {
                match secrets::delete_scope(self.client, name).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
                let mut record = self.record.lock().unwrap_or_else(|p| p.into_inner());
                record.managed_scopes.remove(name);
                record.secrets.remove(name);
                Ok(name.clone())
            }
            Action::PutSecret {
                scope, key, source, ..
            } => self.put_secret(scope, key, source.as_ref()).await,
            Action::DeleteSecret { scope, key } => {
                match secrets::delete(self.client, scope, key).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
                if let Some(keys) = self
                    .record
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .secrets
                    .get_mut(scope)
                {
                    keys.remove(key);
                }
                Ok(key.clone())
            }
            Action::PutAcl {
                scope,
                principal,
                permission,
                ..
            } => {
                secrets::put_acl(self.client, scope, principal, permission).await?;
                Ok(format!("{principal} {permission}"))
            }
            Action::DeleteAcl {
                scope, principal, ..
            } => match secrets::delete_acl(self.client, scope, principal).await {
                Ok(_) => Ok(principal.clone()),
                Err(e) if e.is_not_found() => Ok(principal.clone()),
                Err(e) => Err(e),
            },
        }
    }

    /// Creates an object; when the outcome is unknown, finds it by its tags before trying again.
    async fn create(&self, resource: &ResourceId, body: &Value) -> Result<String, ClientError> {
        let mut last = None;
        for _ in 0..5 {
            match objects::create(self.client, resource.kind, body).await {
                Ok(id) => return Ok(id),
                Err(e @ ClientError::OutcomeUnknown { .. }) => {
                    if let ClientError::OutcomeUnknown { reason, .. } = &e {
                        tracing::info!(workspace = self.workspace, %resource, %reason, "create outcome unknown; looking it up by its tags");
                    }
                    if let Some(id) = self.find_by_tags(resource, body).await? {
                        return Ok(id);
                    }
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
        // Five unknown outcomes, and nothing found by its tags: the last one says why.
        Err(last.unwrap_or_else(|| self.local_error("the create was not tried".into())))
    }

    /// The ID of the managed object with `resource`'s tags, if one exists.
    async fn find_by_tags(
        &self,
        resource: &ResourceId,
        body: &Value,
    ) -> Result<Option<String>, ClientError> {
        let ours = |tags: Option<&Value>| {
            let Some(tags) = tags.and_then(Value::as_object) else {
                return false;
            };
            let is = |k: &str, v: &str| tags.get(k).and_then(Value::as_str) == Some(v);
            is(TAG_MANAGED, TAG_MANAGED_VALUE)
                && is(TAG_ENV, self.environment)
                && is(TAG_KEY, &resource.key)
        };
        objects::find_tagged(self.client, resource.kind, body, ours).await
    }

    /// Creates a scope; an unknown outcome is checked by listing before trying again.
    async fn create_scope(&self, name: &str) -> Result<(), ClientError> {
        let mut last = None;
        for _ in 0..5 {
            match secrets::create_scope(self.client, name, Retry::Unsafe).await {
                Ok(_) => return Ok(()),
                Err(ClientError::Api { code, .. }) if code == "RESOURCE_ALREADY_EXISTS" => {
                    return Ok(());
                }
                Err(e @ ClientError::OutcomeUnknown { .. }) => {
                    if self.scope_exists(name).await? {
                        return Ok(());
                    }
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| self.local_error(format!("scope {name} could not be created"))))
    }

    async fn scope_exists(&self, name: &str) -> Result<bool, ClientError> {
        Ok(secrets::list_scopes(self.client)
            .await?
            .iter()
            .any(|s| s.get("name").and_then(Value::as_str) == Some(name)))
    }

    async fn delete(&self, kind: Kind, id: &str) -> Result<(), ClientError> {
        objects::delete(self.client, kind, id).await
    }

    /// Writes a secret if its value differs from what tandem last wrote; records the fingerprint.
    async fn put_secret(
        &self,
        scope: &str,
        key: &str,
        source: Option<&crate::model::ValueSource>,
    ) -> Result<String, ClientError> {
        let source = source.ok_or_else(|| {
            self.local_error(format!(
                "secret {scope}/{key} has no source for this workspace"
            ))
        })?;
        let value = read_value(source, self.placeholder_secrets)
            .map_err(|reason| self.local_error(format!("secret {scope}/{key}: {reason}")))?;
        self.ensure_fingerprint_key().await?;
        let (fingerprint, unchanged) = {
            let record = self.record.lock().unwrap_or_else(|p| p.into_inner());
            let fp = record.fingerprint(&value).ok_or_else(|| {
                self.local_error(format!(
                    "secret {scope}/{key}: the workspace has no fingerprint key"
                ))
            })?;
            let same = record
                .secrets
                .get(scope)
                .and_then(|k| k.get(key))
                .is_some_and(|w| w.fingerprint == fp);
            (fp, same)
        };
        if unchanged && self.secret_exists(scope, key).await? {
            return Ok(format!("{key} unchanged"));
        }
        let secret = match std::str::from_utf8(&value) {
            Ok(text) => SecretValue::Text(text),
            Err(_) => SecretValue::Bytes(&value),
        };
        secrets::put(self.client, scope, key, secret).await?;
        let last_updated = self.secret_timestamp(scope, key).await?.unwrap_or_default();
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .secrets
            .entry(scope.to_string())
            .or_default()
            .insert(
                key.to_string(),
                SecretWrite {
                    fingerprint,
                    last_updated,
                },
            );
        Ok(format!("{key} written"))
    }

    /// Secrets are fingerprinted under the workspace's key: the first one written makes it.
    async fn ensure_fingerprint_key(&self) -> Result<(), ClientError> {
        let _making = self.key_made.lock().await;
        let mut seal = {
            let record = self.record.lock().unwrap_or_else(|p| p.into_inner());
            if record.seal.key.is_some() {
                return Ok(());
            }
            record.seal.clone()
        };
        super::state::ensure_fingerprint_key(self.client, self.environment, &mut seal).await?;
        self.record.lock().unwrap_or_else(|p| p.into_inner()).seal = seal;
        Ok(())
    }

    async fn secret_timestamp(&self, scope: &str, key: &str) -> Result<Option<i64>, ClientError> {
        Ok(secrets::list(self.client, scope)
            .await?
            .iter()
            .find(|s| s.get("key").and_then(Value::as_str) == Some(key))
            .and_then(|s| s.get("last_updated_timestamp"))
            .and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
            }))
    }

    async fn secret_exists(&self, scope: &str, key: &str) -> Result<bool, ClientError> {
        Ok(self.secret_timestamp(scope, key).await?.is_some())
    }
}

/// The request body of a create, update or replace.
fn body_of(action: &Action) -> Option<&Value> {
    match action {
        Action::Create { body } | Action::Update { body, .. } | Action::Replace { body, .. } => {
            Some(body)
        }
        _ => None,
    }
}

fn references(value: &Value) -> Vec<ResourceId> {
    let mut out = Vec::new();
    let mut visit = vec![value];
    while let Some(v) = visit.pop() {
        match v {
            Value::String(s) => {
                out.extend(refs::scan(s).into_iter().filter_map(|o| match o.reference {
                    Ok(refs::Reference::ResourceId(id)) => Some(id),
                    _ => None,
                }))
            }
            Value::Array(items) => visit.extend(items),
            Value::Object(map) => visit.extend(map.values()),
            _ => {}
        }
    }
    out
}
