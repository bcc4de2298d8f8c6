//! Planning an environment: every workspace read concurrently, the guard checked, role
//! overrides applied, and one [`WorkspacePlan`] computed per workspace.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use super::EngineError;
use super::connect::Connection;
use super::grant_writes::{GrantWrites, JobGrants};
use super::live::{self, GrantReads, GrantReadsLater, LiveRead, ObjectsRead};
use super::secrets::{SourceProblem, read_source};
use super::state::StateRecord;
use crate::config::{self, Config};
use crate::model::live::Grant;
use crate::model::{Kind, ResourceId, Role};
use crate::plan::{
    self, DesiredValue, Plan, PlanInput, SecretKnowledge, WorkspaceFailure, WorkspacePlan,
};
use crate::policy::{self, WorkspaceDesired};

/// One workspace read, with its role and desired resources.
type WorkspaceRead = Result<(LiveRead, Role, WorkspaceDesired), EngineError>;

/// What planning one workspace produced, kept for applying.
pub struct WorkspaceContext {
    /// The live state read.
    pub read: LiveRead,
    /// The desired state, overrides applied.
    pub desired: WorkspaceDesired,
    /// Its plan.
    pub plan: WorkspacePlan,
    /// Grants written while it was read, for the apply to collect.
    pub grant_writes: Option<GrantWrites>,
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
    /// Per workspace, jobs whose grants this run rewrites whatever they are (a promotion
    /// flipping held-back grants): they are not read.
    pub grants_rewritten: BTreeMap<String, BTreeSet<String>>,
    /// Write those grants as soon as their jobs are listed (nothing is confirmed before the
    /// apply), counting here the writes sent.
    pub early_grant_writes: Option<Arc<AtomicUsize>>,
}

/// Reads of tandem's objects (everything but the secret scopes) under way in the background,
/// one per workspace: started before the configuration is loaded, they overlap its parsing.
pub struct ObjectReads {
    reads: BTreeMap<String, JoinHandle<Result<ObjectsRead, EngineError>>>,
    grant_writes: BTreeMap<String, GrantWrites>,
    /// Started without the configuration: which grants to read is told here once it loads.
    grants_later: Option<GrantReadsLater>,
}

impl ObjectReads {
    /// Starts reading every connected workspace of `environment` on the runtime's workers.
    /// Only the grants of objects whose configuration lists permissions are read (without
    /// `config`, those reads wait for [`ObjectReads::configured`]); the grants of the jobs
    /// `request.grants_rewritten` names for a workspace are not read (and written as they are
    /// listed, if `request.early_grant_writes` says so and the `desired` states they come from
    /// are known already).
    pub fn start(
        connections: &[Connection],
        environment: &str,
        config: Option<&Config>,
        request: &PlanRequest,
        desired: Option<&DesiredStates>,
    ) -> Self {
        let (grants, grants_later) = match config {
            Some(config) => (GrantReads::of(config.resources.with_permissions()), None),
            None => {
                let (grants, later) = GrantReads::later();
                (grants, Some(later))
            }
        };
        let mut grant_writes = BTreeMap::new();
        let reads = connections
            .iter()
            .map(|c| {
                let client = Arc::clone(&c.client);
                let environment = environment.to_string();
                let grants = grants.clone();
                let unread = request
                    .grants_rewritten
                    .get(&c.spec.name)
                    .cloned()
                    .unwrap_or_default();
                let blind = desired
                    .and_then(|d| d.0.get(&c.spec.name))
                    .and_then(|d| d.as_ref().ok())
                    .map(|(_, _, d)| blind_grants(request, &c.spec.name, d))
                    .unwrap_or_default();
                let writer = match &request.early_grant_writes {
                    Some(sent) if !blind.is_empty() => {
                        let writes = GrantWrites::new(Arc::clone(&client), blind, Arc::clone(sent));
                        let writer = writes.writer();
                        grant_writes.insert(c.spec.name.clone(), writes);
                        Some(writer)
                    }
                    _ => None,
                };
                let read = tokio::spawn(async move {
                    live::read_objects(&client, &environment, &grants, &unread, writer.as_ref())
                        .await
                });
                (c.spec.name.clone(), read)
            })
            .collect();
        ObjectReads {
            reads,
            grant_writes,
            grants_later,
        }
    }

    /// The configuration has loaded: the permissions reads it needs go out.
    pub fn configured(&self, config: &Config) {
        if let Some(later) = &self.grants_later {
            later.know(config.resources.with_permissions());
        }
    }

    /// The read of `workspace`, to await.
    fn take(
        &mut self,
        workspace: &str,
    ) -> impl Future<Output = Result<ObjectsRead, EngineError>> + use<> {
        let read = self.reads.remove(workspace);
        let workspace = workspace.to_string();
        async move {
            let Some(read) = read else {
                return Err(EngineError::ReadTask {
                    workspace,
                    reason: "it was never started".into(),
                });
            };
            match read.await {
                Ok(result) => Ok(result?),
                Err(e) => Err(EngineError::ReadTask {
                    workspace,
                    reason: e.to_string(),
                }),
            }
        }
    }
}

/// Plans every connected workspace: all are read first (concurrently), then planned.
/// Workspaces that could not be connected or read are reported as failures.
pub async fn plan_environment(
    config: &Config,
    connections: &[Connection],
    failures: Vec<WorkspaceFailure>,
    request: &PlanRequest,
) -> (Plan, BTreeMap<String, WorkspaceContext>) {
    let reads = ObjectReads::start(
        connections,
        &config.environment.name,
        Some(config),
        request,
        None,
    );
    plan_environment_from(config, connections, failures, request, reads).await
}

/// [`plan_environment`] with the desired states computed already (while the locks were
/// taken, say).
pub async fn plan_environment_desired(
    config: &Config,
    connections: &[Connection],
    failures: Vec<WorkspaceFailure>,
    request: &PlanRequest,
    desired: DesiredStates,
) -> (Plan, BTreeMap<String, WorkspaceContext>) {
    let reads = ObjectReads::start(
        connections,
        &config.environment.name,
        Some(config),
        request,
        Some(&desired),
    );
    plan_read(config, connections, failures, request, reads, desired).await
}

/// [`plan_environment`] with object reads already under way.
pub async fn plan_environment_from(
    config: &Config,
    connections: &[Connection],
    failures: Vec<WorkspaceFailure>,
    request: &PlanRequest,
    objects: ObjectReads,
) -> (Plan, BTreeMap<String, WorkspaceContext>) {
    objects.configured(config);
    // Done on this thread (and one more) while the runtime's workers carry the reads.
    let desired = desired_states(config, connections, request);
    plan_read(config, connections, failures, request, objects, desired).await
}

/// Each workspace's role, the secret scopes to read and its desired state for that role.
pub struct DesiredStates(BTreeMap<String, Result<DesiredState, EngineError>>);

/// One workspace's role, the secret scopes to read (key → name) and its desired state.
type DesiredState = (Role, BTreeMap<String, String>, WorkspaceDesired);

/// The desired state of each connected workspace: the costliest computation of planning.
pub fn desired_states(
    config: &Config,
    connections: &[Connection],
    request: &PlanRequest,
) -> DesiredStates {
    let states = crate::parallel::map(connections, |c| {
        (
            c.spec.name.clone(),
            desired_state(config, request, &c.spec.name),
        )
    });
    tracing::debug!("desired states computed");
    DesiredStates(states.into_iter().collect())
}

fn desired_state(
    config: &Config,
    request: &PlanRequest,
    workspace: &str,
) -> Result<DesiredState, EngineError> {
    let role = role_of(config, request, workspace);
    let desired = policy::desired_for(
        &config.resources,
        &config.workspace_scope(workspace, role),
        role,
    )?;
    let scope_names = desired
        .resources
        .secret_scopes
        .iter()
        .map(|(k, s)| (k.clone(), s.name().to_string()))
        .collect();
    Ok((role, scope_names, desired))
}

async fn plan_read(
    config: &Config,
    connections: &[Connection],
    failures: Vec<WorkspaceFailure>,
    request: &PlanRequest,
    mut objects: ObjectReads,
    DesiredStates(mut desired): DesiredStates,
) -> (Plan, BTreeMap<String, WorkspaceContext>) {
    let mut reads = Vec::new();
    for connection in connections {
        let name = &connection.spec.name;
        let desired = desired
            .remove(name)
            .unwrap_or_else(|| desired_state(config, request, name));
        let objects = objects.take(name);
        reads.push(async move {
            let (role, scope_names, desired) = desired?;
            let scopes = async {
                live::read_scopes(&connection.client, &scope_names)
                    .await
                    .map_err(EngineError::from)
            };
            let (objects, scopes) = futures::future::try_join(objects, scopes).await?;
            Ok::<_, EngineError>((objects.with_scopes(scopes), role, desired))
        });
    }
    let reads = futures::future::join_all(reads).await;
    tracing::debug!("workspaces read");
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
    let work: Vec<(&Connection, WorkspaceRead)> = connections.iter().zip(reads).collect();
    let planned = crate::parallel::map_owned(work, |(connection, result)| {
        let name = &connection.spec.name;
        let planned = result.and_then(|(read, role, desired)| {
            if request.enforce_guard && !fenced.contains(name) {
                guard(name, role, read.record.as_ref())?;
            }
            Ok(plan_one(config, connection, request, read, desired))
        });
        (name.clone(), planned)
    });
    tracing::debug!("workspaces planned");
    let mut contexts = BTreeMap::new();
    let mut failures = failures;
    let mut workspaces = Vec::new();
    for (name, planned) in planned {
        match planned {
            Ok(mut context) => {
                context.grant_writes = objects.grant_writes.remove(&name);
                workspaces.push(context.plan.clone());
                contexts.insert(name, context);
            }
            Err(e) => failures.push(WorkspaceFailure {
                authentication: e.is_authentication(),
                // No desired state: applying elsewhere would deploy half a configuration.
                misconfigured: matches!(e, EngineError::Config(_) | EngineError::RoleStep(_)),
                // What to do travels with the failure: plan and apply show only this text.
                error: match &e {
                    EngineError::UntrustedRecord { help, .. } => format!("{e}; {help}"),
                    _ => e.to_string(),
                },
                workspace: name,
                // An untrusted record may hide that the workspace is active: like the guard,
                // it stops the whole apply, not just this workspace.
                guard: matches!(
                    e,
                    EngineError::Guard { .. } | EngineError::UntrustedRecord { .. }
                ),
            }),
        }
    }
    let provenance = super::run::Provenance::from(&config.provenance);
    let (config_commit, config_dirty) = (provenance.commit, provenance.dirty);
    let mut plan = Plan {
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
        origins: Default::default(),
    };
    plan.record_origins(&super::commands::plan::origins(config));
    (plan, contexts)
}

fn role_of(config: &Config, request: &PlanRequest, name: &str) -> Role {
    request
        .roles
        .get(name)
        .copied()
        .unwrap_or_else(|| config.environment.role_of(name))
}

/// The rewritten grants of `workspace` that can be written without reading them first: those
/// naming the job's owner (otherwise the owner there now must be read and kept).
fn blind_grants(request: &PlanRequest, workspace: &str, desired: &WorkspaceDesired) -> JobGrants {
    let Some(keys) = request.grants_rewritten.get(workspace) else {
        return JobGrants::new();
    };
    keys.iter()
        .filter_map(|key| {
            let grants = Grant::configured(&desired.resources.jobs.get(key)?.permissions);
            grants
                .iter()
                .any(|g| g.level == "IS_OWNER")
                .then(|| (key.clone(), grants))
        })
        .collect()
}

fn plan_one(
    config: &Config,
    connection: &Connection,
    request: &PlanRequest,
    read: LiveRead,
    desired: WorkspaceDesired,
) -> WorkspaceContext {
    let name = &connection.spec.name;
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
        // Everything the plan says is narrowed, its overrides too.
        plan.overrides.retain(|o| allowed.contains(&o.resource));
    }
    plan.record_config_digests(&desired);
    if let Some(record) = &read.record {
        for fence in &record.pending_fences {
            plan.notes.push(format!("pending fence: workspace {} must be made passive (since {}); it is fenced as soon as it answers", fence.workspace, fence.since));
        }
    }
    WorkspaceContext {
        read,
        desired,
        plan,
        grant_writes: None,
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
        let mut values = BTreeMap::new();
        for (key, source) in &scope.secrets {
            let value = match source.for_workspace(workspace) {
                Some(s) => match read_source(s, placeholders) {
                    Ok(v) => record
                        .and_then(|r| r.fingerprint(&v))
                        .map_or(DesiredValue::Unchecked, DesiredValue::Fingerprint),
                    Err(SourceProblem::Absent(why)) => DesiredValue::Absent(why),
                    // Refused: apply says why, for that secret.
                    Err(SourceProblem::Refused(_)) => DesiredValue::Unchecked,
                },
                None => DesiredValue::Unchecked,
            };
            values.insert(key.clone(), value);
        }
        knowledge.desired.insert(scope.name().to_string(), values);
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
    // Objects that are not tandem's do not make a plan stale; serialised by reference, as the
    // live state of a large workspace is big.
    #[derive(serde::Serialize)]
    struct Managed<'a> {
        jobs: &'a BTreeMap<String, crate::model::live::LiveObject>,
        clusters: &'a BTreeMap<String, crate::model::live::LiveObject>,
        instance_pools: &'a BTreeMap<String, crate::model::live::LiveObject>,
        secret_scopes: &'a BTreeMap<String, crate::model::live::LiveScope>,
        duplicates: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
    }
    let live = &read.live;
    let managed = Managed {
        jobs: &live.jobs,
        clusters: &live.clusters,
        instance_pools: &live.instance_pools,
        secret_scopes: &live.secret_scopes,
        duplicates: &live.duplicates,
    };
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
