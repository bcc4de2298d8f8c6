//! Planning an environment: every workspace read concurrently, the guard checked, role
//! overrides applied, and one [`WorkspacePlan`] computed per workspace.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use std::sync::Arc;

use crate::client::ClientError;

use super::EngineError;
use super::connect::Connection;
use super::live::{self, LiveRead, ObjectsRead};
use super::secrets::read_value;
use super::state::StateRecord;
use crate::config::{self, Config};
use crate::model::{Kind, ResourceId, Role};
use crate::plan::{self, Plan, PlanInput, SecretKnowledge, WorkspaceFailure, WorkspacePlan};
use crate::policy::{self, WorkspaceDesired};

/// One workspace read, with its role and desired resources.
type WorkspaceRead = Result<(LiveRead, Role, crate::model::Resources), EngineError>;

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
    /// Per workspace, jobs whose grants this run rewrites whatever they are (a promotion
    /// flipping held-back grants): they are not read.
    pub grants_rewritten: BTreeMap<String, BTreeSet<String>>,
}

/// Reads of tandem's objects (everything but the secret scopes) under way in the background,
/// one per workspace: started before the configuration is loaded, they overlap its parsing.
pub struct ObjectReads {
    reads: BTreeMap<String, JoinHandle<Result<ObjectsRead, ClientError>>>,
}

impl ObjectReads {
    /// Starts reading every connected workspace of `environment` on the runtime's workers;
    /// the grants of the jobs `unread_grants` names for a workspace are not read.
    pub fn start(
        connections: &[Connection],
        environment: &str,
        unread_grants: &BTreeMap<String, BTreeSet<String>>,
    ) -> Self {
        let reads = connections
            .iter()
            .map(|c| {
                let client = Arc::clone(&c.client);
                let environment = environment.to_string();
                let unread = unread_grants.get(&c.spec.name).cloned().unwrap_or_default();
                let read = tokio::spawn(async move {
                    live::read_objects(&client, &environment, &unread).await
                });
                (c.spec.name.clone(), read)
            })
            .collect();
        ObjectReads { reads }
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
        &request.grants_rewritten,
    );
    plan_environment_from(config, connections, failures, request, reads).await
}

/// [`plan_environment`] with object reads already under way.
pub async fn plan_environment_from(
    config: &Config,
    connections: &[Connection],
    failures: Vec<WorkspaceFailure>,
    request: &PlanRequest,
    mut objects: ObjectReads,
) -> (Plan, BTreeMap<String, WorkspaceContext>) {
    // The desired state of each workspace is the costliest computation of planning: done on
    // this thread (and one more) while the runtime's workers carry the reads.
    let desired: Vec<(Role, crate::model::Resources)> = crate::parallel::map(connections, |c| {
        let role = role_of(config, request, &c.spec.name);
        (role, config::resources_for_role(config, &c.spec.name, role))
    });
    let mut reads = Vec::new();
    for (connection, (role, resources)) in connections.iter().zip(desired) {
        let scope_names: BTreeMap<String, String> = resources
            .secret_scopes
            .iter()
            .map(|(k, s)| (k.clone(), s.name().to_string()))
            .collect();
        let objects = objects.take(&connection.spec.name);
        let scopes = async move {
            live::read_scopes(&connection.client, &scope_names)
                .await
                .map_err(EngineError::from)
        };
        reads.push(async move {
            let (objects, scopes) = futures::future::try_join(objects, scopes).await?;
            Ok::<_, EngineError>((objects.with_scopes(scopes), role, resources))
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
        let planned = result.and_then(|(read, role, resources)| {
            if request.enforce_guard && !fenced.contains(name) {
                guard(name, role, read.record.as_ref())?;
            }
            Ok(plan_one(config, connection, request, read, role, resources))
        });
        (name.clone(), planned)
    });
    tracing::debug!("workspaces planned");
    let mut contexts = BTreeMap::new();
    let mut failures = failures;
    let mut workspaces = Vec::new();
    for (name, planned) in planned {
        match planned {
            Ok(context) => {
                workspaces.push(context.plan.clone());
                contexts.insert(name, context);
            }
            Err(e) => failures.push(WorkspaceFailure {
                workspace: name,
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
