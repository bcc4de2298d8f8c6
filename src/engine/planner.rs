//! Planning an environment: every workspace read concurrently, the guard checked, role
//! overrides applied, and one [`WorkspacePlan`] computed per workspace.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::EngineError;
use super::connect::Connection;
use super::live::{self, LiveRead};
use super::secrets::read_value;
use super::state::StateRecord;
use crate::config::{self, Config};
use crate::model::{Kind, ResourceId, Role};
use crate::plan::{self, Plan, PlanInput, SecretKnowledge, WorkspaceFailure, WorkspacePlan};
use crate::policy::{self, WorkspaceDesired};

/// What planning one workspace produced, kept for applying.
pub struct WorkspaceContext {
    /// The live state read.
    pub read: LiveRead,
    /// The desired state, overrides applied.
    pub desired: WorkspaceDesired,
    /// Its plan.
    pub plan: WorkspacePlan,
}

/// How to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// Only these resources and what they reference (empty: all).
    pub targets: Vec<ResourceId>,
    /// The role of each workspace (from the environment file, or a promotion's).
    pub roles: BTreeMap<String, Role>,
    /// Refuse workspaces whose record says active while `roles` says passive (off for promote).
    pub enforce_guard: bool,
    /// Workspaces to leave out (they could not be locked).
    pub skip: BTreeSet<String>,
}

/// Plans every connected workspace: all are read first (concurrently), then planned.
/// Workspaces that could not be connected or read are reported as failures.
pub async fn plan_environment(
    config: &Config,
    connections: &[Connection],
    failures: Vec<WorkspaceFailure>,
    request: &PlanRequest,
) -> (Plan, BTreeMap<String, WorkspaceContext>) {
    let reads =
        futures::future::join_all(connections.iter().map(|c| read_one(config, c, request))).await;
    // A workspace another record says to fence was promoted away from while unreachable: its
    // own record still says active, and making it passive is exactly what must happen.
    // Only fences recorded by the workspace that is active now count: a fence left in an old
    // record must never switch the guard off.
    let fenced: BTreeSet<String> = reads
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|(_, role, _)| *role == Role::Active)
        .filter_map(|(read, _, _)| read.record.as_ref())
        .filter(|record| record.role == Role::Active)
        .flat_map(|record| record.pending_fences.iter().map(|f| f.workspace.clone()))
        .collect();
    let mut contexts = BTreeMap::new();
    let mut failures = failures;
    let mut workspaces = Vec::new();
    for (connection, result) in connections.iter().zip(reads) {
        let name = &connection.spec.name;
        let planned = result.and_then(|(read, role, resources)| {
            if request.enforce_guard && !fenced.contains(name) {
                guard(name, role, read.record.as_ref())?;
            }
            Ok(plan_one(config, connection, request, read, role, resources))
        });
        match planned {
            Ok(context) => {
                workspaces.push(context.plan.clone());
                contexts.insert(name.clone(), context);
            }
            Err(e) => failures.push(WorkspaceFailure {
                workspace: name.clone(),
                guard: matches!(e, EngineError::Guard { .. }),
                error: e.to_string(),
            }),
        }
    }
    let provenance = super::run::Provenance::from(&config.provenance);
    let (config_commit, config_dirty) = (provenance.commit, provenance.dirty);
    let plan = Plan {
        format_version: plan::PLAN_FORMAT_VERSION,
        environment: config.environment.name.clone(),
        active: request
            .roles
            .iter()
            .find(|(_, r)| **r == Role::Active)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| config.environment.active.clone()),
        config_commit,
        config_dirty,
        changed_files: None,
        changed_resources: Vec::new(),
        workspaces,
        failures,
    };
    (plan, contexts)
}

fn role_of(config: &Config, request: &PlanRequest, name: &str) -> Role {
    request
        .roles
        .get(name)
        .copied()
        .unwrap_or_else(|| config.environment.role_of(name))
}

async fn read_one(
    config: &Config,
    connection: &Connection,
    request: &PlanRequest,
) -> Result<(LiveRead, Role, crate::model::Resources), EngineError> {
    let name = &connection.spec.name;
    let role = role_of(config, request, name);
    // Computed once per workspace: it is the most expensive step of planning.
    let resources = config::resources_for_role(config, name, role);
    let scope_names: BTreeMap<String, String> = resources
        .secret_scopes
        .iter()
        .map(|(k, s)| (k.clone(), s.name().to_string()))
        .collect();
    Ok((
        live::read(&connection.client, &config.environment.name, &scope_names).await?,
        role,
        resources,
    ))
}

fn plan_one(
    config: &Config,
    connection: &Connection,
    request: &PlanRequest,
    read: LiveRead,
    role: Role,
    resources: crate::model::Resources,
) -> WorkspaceContext {
    let name = &connection.spec.name;
    let desired = policy::for_role(resources, role);
    let secrets = secret_knowledge(
        name,
        &desired,
        read.record.as_ref(),
        connection.embedded.is_some(),
    );
    let input = PlanInput {
        workspace: name,
        environment: &config.environment.name,
        desired: &desired,
        live: &read.live,
        secrets: &secrets,
        caller: read.caller.as_deref(),
        live_fingerprint: fingerprint_live(&read),
    };
    let mut plan = plan::plan_workspace(&input);
    if !request.targets.is_empty() {
        let allowed = with_dependencies(config, &request.targets);
        plan.actions.retain(|a| allowed.contains(&a.resource));
    }
    if let Some(record) = &read.record {
        for fence in &record.pending_fences {
            plan.notes.push(format!("pending fence: workspace {} must be made passive (since {}); it is fenced as soon as it answers", fence.workspace, fence.since));
        }
    }
    WorkspaceContext {
        read,
        desired,
        plan,
    }
}

/// tandem never re-zeroes an active workspace: if the record says active while the environment
/// file says passive, a promotion happened that the file does not know about.
fn guard(workspace: &str, role: Role, record: Option<&StateRecord>) -> Result<(), EngineError> {
    match record {
        Some(r) if r.role == Role::Active && role == Role::Passive => Err(EngineError::Guard {
            workspace: workspace.into(),
            promoted_at: r
                .promoted_at
                .clone()
                .unwrap_or_else(|| "an unknown time".into()),
            promoted_by: r.promoted_by.clone().unwrap_or_else(|| "someone".into()),
        }),
        _ => Ok(()),
    }
}

fn secret_knowledge(
    workspace: &str,
    desired: &WorkspaceDesired,
    record: Option<&StateRecord>,
    placeholders: bool,
) -> SecretKnowledge {
    let mut knowledge = SecretKnowledge::default();
    for scope in desired.resources.secret_scopes.values() {
        let mut fps = BTreeMap::new();
        for (key, source) in &scope.secrets {
            let fp = match (record, source.for_workspace(workspace)) {
                (Some(r), Some(s)) => read_value(s, placeholders).ok().map(|v| r.fingerprint(&v)),
                _ => None,
            };
            fps.insert(key.clone(), fp);
        }
        knowledge.desired.insert(scope.name().to_string(), fps);
    }
    if let Some(r) = record {
        knowledge.recorded = r
            .secrets
            .iter()
            .map(|(s, keys)| {
                (
                    s.clone(),
                    keys.iter()
                        .map(|(k, w)| (k.clone(), w.fingerprint.clone()))
                        .collect(),
                )
            })
            .collect();
        knowledge.managed_scopes = r.managed_scopes.clone();
    }
    knowledge
}

/// A digest of what the plan was computed from, to refuse applying a stale plan.
pub fn fingerprint_live(read: &LiveRead) -> String {
    // Objects that are not tandem's do not make a plan stale.
    let mut managed = read.live.clone();
    managed.unmanaged.clear();
    let json = serde_json::to_vec(&managed).unwrap_or_default();
    let digest = Sha256::digest(json);
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The targets and every resource they reference, transitively.
fn with_dependencies(config: &Config, targets: &[ResourceId]) -> BTreeSet<ResourceId> {
    let json = serde_json::to_value(&config.resources).unwrap_or_default();
    let mut allowed: BTreeSet<ResourceId> = BTreeSet::new();
    let mut queue: Vec<ResourceId> = targets.to_vec();
    while let Some(id) = queue.pop() {
        if !allowed.insert(id.clone()) {
            continue;
        }
        let Some(node) = json.get(id.kind.as_str()).and_then(|k| k.get(&id.key)) else {
            continue;
        };
        let mut found = Vec::new();
        collect_refs(node, &mut found);
        queue.extend(found);
    }
    allowed
}

fn collect_refs(value: &serde_json::Value, out: &mut Vec<ResourceId>) {
    match value {
        serde_json::Value::String(s) => {
            for o in config::refs::scan(s) {
                if let Ok(config::refs::Reference::ResourceId(id)) = o.reference {
                    out.push(id);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Parses `--target kind.key`.
pub fn parse_target(text: &str) -> Option<ResourceId> {
    let (kind, key) = text.split_once('.')?;
    Some(ResourceId {
        kind: Kind::parse(kind)?,
        key: key.to_string(),
    })
}
